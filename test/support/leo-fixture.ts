/**
 * leo-fixture.ts — what the leo tests share: a clock they move by hand, and
 * Leo instances on real SQLite files in temp dirs, closed and removed after
 * each test.
 */
import { afterEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { withLeoOverrides, type LeoOverrides } from "../../src/config/leo.ts";
import { Leo } from "../../src/leo/index.ts";
import { openMemory, type Memory } from "../../src/memory/index.ts";

export function leoFixture(prefix: string) {
  const time = { now: Date.UTC(2025, 0, 1) };
  const clock = () => time.now;
  const opened: { dir: string; memory: Memory }[] = [];
  afterEach(() => {
    for (const { dir, memory } of opened.splice(0)) {
      memory.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  /** A Leo on resonance.sqlite3 in `dir` (a fresh temp dir by default: pass one again to "restart"). */
  function openLeo(dir = mkdtempSync(join(tmpdir(), `ia-${prefix}-`)), overrides?: LeoOverrides) {
    const memory = openMemory(join(dir, "resonance.sqlite3"), { clock });
    opened.push({ dir, memory });
    return { dir, memory, leo: new Leo({ db: memory.db, home: dir, clock, config: overrides && withLeoOverrides(overrides) }) };
  }
  return { time, clock, openLeo };
}
