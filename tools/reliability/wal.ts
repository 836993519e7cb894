/**
 * wal.ts — what an ordinary turn costs the SD card: bytes written to the WAL
 * and the database's growth, per 1,000 turns (issue 15, item 13).
 *
 *   bun tools/reliability/wal.ts [--turns 200] [--model models/default] [--page-size 4096]
 *
 * A real session (the engine, leo, memory) in a temp ARIANNA_HOME takes
 * `turns` turns of ordinary one-line messages (replies capped at 24 tokens).
 * Before each turn the WAL is checkpointed and truncated, so its size after
 * the turn is exactly what the turn wrote to it (frames of page size + 24).
 */
import { Database } from "bun:sqlite";
import { rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadRuntimeConfig } from "../../src/config/runtime.ts";
import { Engine } from "../../src/engine/index.ts";
import { openSession } from "../../src/orchestrator/index.ts";
import { ROOT, rng, tempDir } from "./service.ts";

export interface WalSummary {
  turns: number;
  pageSize: number;
  walBytesPer1kTurns: number;
  walBytesPerTurn: { median: number; max: number };
  dbBytesPer1kTurns: number;
  seconds: number;
}

const WORDS = "the sea light night garden window morning river stone bread music letter quiet friend winter rain book road city voice".split(" ");

/** `pageSize`: start from a database made with this page size (as one made before 1 KiB pages, which keeps its own). */
export async function measureWal(opts: { turns: number; model?: string; pageSize?: number }): Promise<WalSummary> {
  const t0 = performance.now();
  const modelDir = resolve(opts.model ?? join(ROOT, "models", "default"));
  const home = tempDir("wal");
  if (opts.pageSize) {
    const old = new Database(join(home, "resonance.sqlite3"), { create: true });
    old.run(`PRAGMA page_size = ${opts.pageSize}`);
    old.run("VACUUM");
    old.close();
  }
  const engine = await Engine.open({ threads: 1 });
  await engine.load(modelDir);
  const session = await openSession({ model: engine, modelDir, config: loadRuntimeConfig({ ARIANNA_HOME: home, ARIANNA_SEED: "5" }), overthink: false });
  const db = session.memory.db;
  const pageSize = (db.query("PRAGMA page_size").get() as { page_size: number }).page_size;
  const pages = () => (db.query("PRAGMA page_count").get() as { page_count: number }).page_count;
  const rand = rng(7);
  const perTurn: number[] = [];
  try {
    // a few turns first: the first ones create leo's tables' first pages
    for (let i = 0; i < 5; i++) await session.turn(`hello ${i}`, { sampling: { maxTokens: 24 } });
    await session.idle();
    db.run("PRAGMA wal_checkpoint(TRUNCATE)");
    const before = pages();
    for (let i = 0; i < opts.turns; i++) {
      const text = Array.from({ length: 6 + Math.floor(rand() * 10) }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(" ");
      await session.turn(text, { sampling: { maxTokens: 24 } });
      await session.idle(); // the turn's idle work (bins, maintenance) is part of its cost
      perTurn.push(statSync(`${db.filename}-wal`).size); // the WAL was empty before the turn: this is what it wrote
      db.run("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    const grown = (pages() - before) * pageSize;
    perTurn.sort((a, b) => a - b);
    const total = perTurn.reduce((a, b) => a + b, 0);
    return {
      turns: opts.turns, pageSize,
      walBytesPer1kTurns: Math.round((total / opts.turns) * 1000),
      walBytesPerTurn: { median: perTurn[perTurn.length >> 1]!, max: perTurn.at(-1)! },
      dbBytesPer1kTurns: Math.round((grown / opts.turns) * 1000),
      seconds: Math.round((performance.now() - t0) / 100) / 10,
    };
  } finally {
    await session.close();
    await engine.close();
    rmSync(home, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Bun.argv.slice(2), options: { turns: { type: "string" }, model: { type: "string" }, "page-size": { type: "string" } }, strict: true,
  });
  const pageSize = values["page-size"] === undefined ? undefined : Number(values["page-size"]);
  console.log(JSON.stringify(await measureWal({ turns: Number(values.turns ?? 200), model: values.model, pageSize }), null, 2));
}
