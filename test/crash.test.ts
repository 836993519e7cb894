/**
 * crash.test.ts — the quick crash-safety suite (tools/reliability/crash.ts):
 * ~30 streamed turns on the real service (`bun src/main.ts`), about half of
 * them ended by SIGKILL (at the response status, mid-generation, right after
 * the commit, inside a reload's swap window), then a full disk on a small
 * tmpfs (or loop-mounted ext4). The full run: `bun tools/reliability/crash.ts`.
 *
 * The full-disk part needs root (mount). Without a mount it is skipped, except
 * under CI, where it must run.
 */
import { describe, expect, test } from "bun:test";
import { runCrash, runFirstStartFull, runFullDisk } from "../tools/reliability/crash.ts";

const CI = !!process.env.CI && process.env.CI !== "false";
const log = (s: string) => console.error(`  [crash] ${s}`);

describe("crash safety", () => {
  test("SIGKILL at random points: nothing acknowledged is lost, integrity ok, the session continues", async () => {
    const s = await runCrash({ turns: 30, seed: 7, log });
    console.error(`  [crash] ${JSON.stringify({ ...s, failures: s.failures.length })}`);
    expect(s.failures).toEqual([]);
    expect(s.turns).toBe(30);
    expect(s.lost).toBe(0);
    expect(s.integrityFailures).toBe(0);
    expect(s.failedTurns).toBe(0);
    // the seed puts every kind of kill into the quick run
    for (const k of ["headers", "generation", "commit", "reload"] as const) expect(s.kills[k]).toBeGreaterThan(0);
    expect(s.acknowledged).toBeGreaterThan(30);
  }, 90_000);

  test("a full disk gives a clear error, corrupts nothing, and turns work once space is freed", async () => {
    const d = await runFullDisk({ log });
    console.error(`  [crash] full disk: ${JSON.stringify(d)}`);
    if (d.mount === "none") {
      if (CI) throw new Error(`full disk: no small file system could be mounted: ${d.unavailable}`);
      console.error(`  [crash] full disk SKIPPED (not CI): ${d.unavailable}`);
      return;
    }
    expect(d.failures).toEqual([]);
    expect(d.serviceAliveWhileFull).toBe(true);
    // every turn on the full disk got an error with a message, none a silent success
    for (const t of d.fullTurns) {
      expect(t.transportError).toBeNull();
      expect(typeof t.error).toBe("string");
      expect(t.error!.length).toBeGreaterThan(0);
    }
    expect(d.restartWhileFull).toEqual({ started: true, history: 200, export: 200, exportHasAcked: true, turn: 507 });
    expect(d.orphansUnflagged).toBe(0);
    expect(d.integrityAfter).toBe("ok");
    expect(d.turnsAfterFreeing).toBe(3);
    expect(d.ackedLost).toBe(0);
  }, 60_000);

  test("a first start on a full disk serves a notice, then starts by itself once space is freed", async () => {
    const f = await runFirstStartFull({ log });
    console.error(`  [crash] first start on a full disk: ${JSON.stringify(f)}`);
    if (f.mount === "none") {
      if (CI) throw new Error(`first start full: no small file system could be mounted: ${f.unavailable}`);
      console.error(`  [crash] first start on a full disk SKIPPED (not CI): ${f.unavailable}`);
      return;
    }
    expect(f.failures).toEqual([]);
    expect({ listened: f.listened, health: f.health, turn: f.turn }).toEqual({ listened: true, health: 503, turn: 507 });
    expect(f.error).toContain("free space there and InnerArianna starts by itself");
    expect({ healthAfter: f.healthAfter, turnAfter: f.turnAfter, samePort: f.samePort }).toEqual({ healthAfter: 200, turnAfter: 200, samePort: true });
  }, 60_000);
});
