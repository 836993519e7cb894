/**
 * memory.ts — the per-turn cost of memory + leo + context assembly, model compute
 * excluded: a full Session turn against an instant stand-in model, over a
 * history of 1k, 10k and 100k stored messages.
 *
 *   import { benchMemory } from "./bench/memory.ts";   (from tools/)
 *   const report = await benchMemory({ sizes: [1000, 10000, 100000] });
 *
 * Wall time includes the two durable commits per turn (synchronous=FULL), so
 * it carries the disk's fsync latency; CPU time is the runtime's own work.
 * `dir` on tmpfs (/dev/shm) shows the overhead without the disk.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { withLeoOverrides } from "../../src/config/leo.ts";
import { loadModelProfile } from "../../src/config/model-profile.ts";
import { loadRuntimeConfig, REPO_ROOT } from "../../src/config/runtime.ts";
import { Leo } from "../../src/leo/index.ts";
import { openMemory } from "../../src/memory/index.ts";
import type { GenerationSummary, TextModel, TokenEvent } from "../../src/orchestrator/model.ts";
import { Session } from "../../src/orchestrator/session.ts";

export interface BenchMemoryOptions {
  /** stored messages before measuring (default 1k, 10k, 100k) */
  sizes?: number[];
  /** measured turns per size (default 200) */
  turns?: number;
  /**
   * turns before measuring (default 20: JIT and SQLite's caches). A soak wants the bounded caches full
   * first: the token counts of 4,096 texts fill by about turn 1,000 of this bench, so ~1,500.
   */
  warmup?: number;
  /** where the databases live (default: the OS temp dir) */
  dir?: string;
  log?: (line: string) => void;
}

export interface BenchMemoryRow {
  messages: number;
  medianMs: number;
  p95Ms: number;
  /** CPU time per turn (all threads), median */
  cpuMedianMs: number;
  /** after-turn idle work (the turn's texts into the word field, bins, maintenance, theme rebuild every 20 turns), median and max */
  idleMedianMs: number;
  idleMaxMs: number;
  /** process RSS after a full GC, after the warm-up turns and after the measured ones (MiB) */
  rssStartMiB: number;
  rssEndMiB: number;
  /** the JavaScript heap in use at the same two points (MiB): what the runtime itself holds, without the allocator's slack */
  heapStartMiB: number;
  heapEndMiB: number;
  /** resonance.sqlite3 (+WAL) bytes per 1000 turns (a turn = user message + reply + its leo state) */
  bytesPer1kTurns: number;
  historySeconds: number;
}

export interface BenchMemoryReport {
  rows: BenchMemoryRow[];
  /** median at the largest size ÷ median at the smallest */
  growth: number;
  /** one durable commit on this disk (the floor under two per turn) */
  commitMs: number;
  targets: { medianAt100kMs: number; maxGrowth: number; medianOk: boolean; growthOk: boolean };
}

// A small language: Zipf-like word frequencies, so the field and FTS see common and rare words.
const SYLLABLES = ["ka", "lo", "mi", "ra", "te", "su", "no", "vi", "da", "ne", "ri", "so", "ma", "el", "an", "or"];
const WORDS = Array.from({ length: 3000 }, (_, i) => {
  let w = "";
  for (let n = i + 7; n > 0; n = Math.floor(n / SYLLABLES.length)) w += SYLLABLES[n % SYLLABLES.length];
  return w;
});

/** xorshift32: a fixed, fast stream of numbers for reproducible texts. */
function randomStream(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

function sentence(rand: () => number, length: number): string {
  const words = Array.from({ length }, () => WORDS[Math.floor(WORDS.length * rand() ** 3)]);
  return `${words.join(" ")}.`;
}

/** An instant model: a canned reply per call, token counts of about one per 4 characters. */
function standInModel(rand: () => number): TextModel {
  const info = { vocabSize: 32000, seqLen: 512 };
  const tokenize = async (text: string, opts: { bos?: boolean } = {}) => {
    const ids = Array.from({ length: Math.ceil(text.length / 4) }, (_, i) => 3 + ((text.charCodeAt(i * 4) * 31 + i) % 31997));
    return opts.bos === false ? ids : [1, ...ids];
  };
  return {
    info,
    tokenize,
    generate(prompt) {
      const text = ` ${sentence(rand, 12)} ${sentence(rand, 10)}`;
      const pieces = text.match(/.{1,4}/gs) ?? [];
      const summary: GenerationSummary = {
        promptTokens: typeof prompt === "string" ? Math.ceil(prompt.length / 4) : prompt.length,
        reusedTokens: 0,
        completionTokens: pieces.length,
        ttftMs: 0,
        prefillMs: 0,
        tokensPerSecond: 0,
        stopReason: "length",
        text,
        contextTokens: 0,
      };
      return {
        result: Promise.resolve(summary),
        async *[Symbol.asyncIterator]() {
          for (const [i, piece] of pieces.entries()) yield { id: 3 + i, text: piece, entropy: 0.5 } satisfies TokenEvent;
        },
      };
    },
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const fileBytes = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

/** RSS and JS heap once garbage is collected: what the process keeps, not what it has yet to free. */
const settledMemoryMiB = () => {
  Bun.gc(true);
  const { rss, heapUsed } = process.memoryUsage();
  return { rss: rss / 2 ** 20, heap: heapUsed / 2 ** 20 };
};

async function benchSize(messages: number, turns: number, warmup: number, dir: string): Promise<BenchMemoryRow> {
  const home = mkdtempSync(join(dir, "ia-bench-"));
  try {
    const rand = randomStream(messages);
    const config = loadRuntimeConfig({ ARIANNA_HOME: home }, { seed: 1 });
    const database = join(home, "resonance.sqlite3");
    let now = Date.UTC(2025, 0, 1);
    const clock = () => now;
    const memory = openMemory(database, { clock, episodeIdleGapMs: config.episodeIdleGapMs });

    // the history: written and observed the way turns write it, in one transaction
    const started = performance.now();
    const leo = new Leo({ db: memory.db, home, clock, config: withLeoOverrides() });
    memory.atomically(() => {
      for (let i = 0; i < messages; i++) {
        now += 90_000;
        const text = sentence(rand, 8 + Math.floor(rand() * 16));
        leo.observe(memory.messages.append(i % 2 ? "arianna" : "user", text));
        leo.settle();
      }
    });
    memory.db.run("PRAGMA wal_checkpoint(TRUNCATE)");
    const historySeconds = (performance.now() - started) / 1000;
    const bytesPer1kTurns = (fileBytes(database) / (messages / 2)) * 1000;

    const model = standInModel(rand);
    const profile = { ...loadModelProfile(join(REPO_ROOT, "models", "default")), sha256: "bench" };
    const session = new Session({ memory, leo: new Leo({ db: memory.db, home, clock }), model, profile, config, clock, overthink: false });
    await session.useModel(profile);

    const wall: number[] = [];
    const cpu: number[] = [];
    const idle: number[] = [];
    let start = { rss: 0, heap: 0 };
    for (let i = 0; i < turns + warmup; i++) {
      if (i === warmup) start = settledMemoryMiB();
      now += 60_000;
      const prompt = sentence(rand, 6 + Math.floor(rand() * 10));
      const cpuBefore = process.cpuUsage();
      const t0 = performance.now();
      await session.turn(prompt);
      const t1 = performance.now();
      const used = process.cpuUsage(cpuBefore);
      await session.idle();
      if (i < warmup) continue;
      wall.push(t1 - t0);
      cpu.push((used.user + used.system) / 1000);
      idle.push(performance.now() - t1);
    }
    const end = settledMemoryMiB();
    await session.close();
    return {
      messages,
      medianMs: median(wall),
      p95Ms: percentile(wall, 0.95),
      cpuMedianMs: median(cpu),
      idleMedianMs: median(idle),
      idleMaxMs: Math.max(...idle),
      rssStartMiB: start.rss,
      rssEndMiB: end.rss,
      heapStartMiB: start.heap,
      heapEndMiB: end.heap,
      bytesPer1kTurns,
      historySeconds,
    };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** One durable commit in `dir`: the disk's floor under every turn's two commits. */
function commitLatency(dir: string): number {
  const home = mkdtempSync(join(dir, "ia-bench-"));
  try {
    const memory = openMemory(join(home, "resonance.sqlite3"));
    const times: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      memory.atomically(() => memory.db.run("INSERT INTO leo_state VALUES ('bench', ?, 0) ON CONFLICT DO UPDATE SET value = excluded.value", [i]));
      times.push(performance.now() - t0);
    }
    memory.close();
    return median(times);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

export async function benchMemory(options: BenchMemoryOptions = {}): Promise<BenchMemoryReport> {
  const sizes = options.sizes ?? [1_000, 10_000, 100_000];
  const dir = options.dir ?? tmpdir();
  const log = options.log ?? (() => {});
  const commitMs = commitLatency(dir);
  log(`memory bench in ${dir}: one durable commit = ${commitMs.toFixed(2)} ms`);
  const rows: BenchMemoryRow[] = [];
  for (const size of sizes) {
    const row = await benchSize(size, options.turns ?? 200, options.warmup ?? 20, dir);
    rows.push(row);
    log(
      `${String(size).padStart(7)} messages: median ${row.medianMs.toFixed(2)} ms (p95 ${row.p95Ms.toFixed(2)}, ` +
        `cpu ${row.cpuMedianMs.toFixed(2)}), idle ${row.idleMedianMs.toFixed(2)}/${row.idleMaxMs.toFixed(1)} ms, ` +
        `${(row.bytesPer1kTurns / 1e6).toFixed(2)} MB per 1k turns, RSS ${row.rssStartMiB.toFixed(1)} -> ${row.rssEndMiB.toFixed(1)} MiB, ` +
        `JS heap ${row.heapStartMiB.toFixed(1)} -> ${row.heapEndMiB.toFixed(1)} MiB ` +
        `over ${options.turns ?? 200} turns (history built in ${row.historySeconds.toFixed(1)} s)`,
    );
  }
  const growth = rows.at(-1)!.medianMs / rows[0].medianMs;
  const medianAt100kMs = 5;
  const maxGrowth = 2;
  return {
    rows,
    growth,
    commitMs,
    targets: { medianAt100kMs, maxGrowth, medianOk: rows.at(-1)!.medianMs <= medianAt100kMs, growthOk: growth <= maxGrowth },
  };
}

/** `bun tools/bench/memory.ts [DIR] [--sizes 1000,10000] [--turns N] [--warmup N]` (a soak: --sizes 10000 --warmup 1500 --turns 1000) */
if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Bun.argv.slice(2),
    options: { sizes: { type: "string" }, turns: { type: "string" }, warmup: { type: "string" } },
    allowPositionals: true,
  });
  const sizes = values.sizes?.split(",").map(Number);
  const count = (v?: string) => (v === undefined ? undefined : Number(v));
  const report = await benchMemory({ dir: positionals[0], sizes, turns: count(values.turns), warmup: count(values.warmup), log: console.log });
  console.log(JSON.stringify({ growth: report.growth, targets: report.targets }));
}
