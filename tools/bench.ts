/**
 * bench.ts — `bun run bench`: how fast the core decodes here, and how close
 * that is to what the memory system allows.
 *
 *   bun run bench [--quick] [--shape 15m|110m[,..]] [--threads 1,2] [--repeat N]
 *                 [--only SECTION,..] [--json PATH]
 *
 * Decode is memory-bound: every token reads every weight once, so
 *   tok/s <= read bandwidth / model bytes.
 * The bench measures both sides: decode tok/s of arianna-run and of the Engine
 * (bun:ffi, in its Worker) on random-weight models of two real shapes
 * (stories15M and stories110M; random weights decode at exactly the speed of
 * trained ones), in fp32 (v1) and Q8_0 (v2), and the machine's read bandwidth
 * (tools/bandwidth.c); "effective bandwidth" is model bytes x tok/s, shown as
 * a share of the measured read bandwidth at the same thread count.
 *
 * With LLAMA2C_RUN=/path/to/llama2.c/run it also times llama2.c's `run` on a
 * legacy (v0) copy of the fp32 models, checks that arianna-run prints the same
 * text on that same file, and reports the speedup.
 *
 * With LLAMA_CPP_BENCH=/path/to/llama-bench (llama-convert-llama2c-to-ggml and
 * llama-quantize beside it) it converts the same weights to GGUF (F32, Q8_0,
 * Q4_0) and times llama.cpp against arianna, interleaved run by run, and
 * prints the ratios of the medians (README: how to build the peer).
 *
 * The report is a list of sections (SECTIONS below); each prints a table and
 * adds its JSON to build/bench/results.json. New sections (memory, leo
 * overhead, HTTP, ...) are new entries in that list.
 *
 * Models are generated once into build/bench/ (tools/gen-model.ts) and reused.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { arch, cpus, release, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeModelDir, type ModelFormat, type ModelOptions } from "./gen-model.ts";
import { REPO_ROOT as ROOT } from "../src/config/paths.ts";
import type { Engine, GenerationSummary } from "../src/engine/index.ts";

const BUILD = join(ROOT, "build");
const BENCH = join(BUILD, "bench");
const HOST = join(BUILD, "host");
const RUNNER = join(HOST, "arianna-run");
const LIB = join(HOST, "libarianna.so");
const PROMPT = "Once upon a time";

// ---------------------------------------------------------------------------
// Options

interface Shape {
  id: "15m" | "110m";
  label: string;
  dims: Omit<ModelOptions, "format" | "groupSize" | "seed">;
  steps: number; // -n for arianna-run (prompt included, like llama2.c)
}

const SHAPES: Shape[] = [
  {
    id: "15m",
    label: "stories15M",
    dims: { dim: 288, hiddenDim: 768, nLayers: 6, nHeads: 6, nKvHeads: 6, vocabSize: 32000, seqLen: 256 },
    steps: 256,
  },
  {
    id: "110m",
    label: "stories110M",
    dims: { dim: 768, hiddenDim: 2048, nLayers: 12, nHeads: 12, nKvHeads: 12, vocabSize: 32000, seqLen: 1024 },
    steps: 128,
  },
];

interface Opts {
  quick: boolean;
  shapes: Shape[];
  threads: number[];
  repeat: number;
  only: Set<string> | null;
  json: string;
}

function parseOpts(argv: string[]): Opts {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      shape: { type: "string", multiple: true },
      threads: { type: "string" },
      repeat: { type: "string" },
      only: { type: "string" },
      json: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      "usage: bun run bench [--quick] [--shape 15m|110m] [--threads 1,2] [--repeat N] [--only SECTIONS] [--json PATH]\n" +
        `  sections: ${SECTIONS.map((s) => s.id).join(", ")}`,
    );
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const wanted = (values.shape ?? []).flatMap((s) => s.split(",")).map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const w of wanted) if (!SHAPES.some((s) => s.id === w)) throw new Error(`--shape: unknown shape ${w} (15m, 110m)`);
  let shapes = wanted.length ? SHAPES.filter((s) => wanted.includes(s.id)) : quick ? SHAPES.slice(0, 1) : SHAPES;
  if (quick) shapes = shapes.map((s) => ({ ...s, steps: Math.min(s.steps, 64) }));
  const ncpu = cpus().length;
  const threads = values.threads
    ? values.threads.split(",").map((t) => {
        const n = Number(t);
        if (!Number.isInteger(n) || n < 1) throw new Error(`--threads: bad count ${t}`);
        return n;
      })
    : [...new Set([1, Math.min(2, ncpu), ...(ncpu > 2 && !quick ? [ncpu] : [])])];
  const repeat = values.repeat ? Number(values.repeat) : quick ? 1 : 3;
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error("--repeat must be a positive integer");
  const only = values.only ? new Set(values.only.split(",").map((s) => s.trim())) : null;
  return { quick, shapes, threads, repeat, only, json: values.json ?? join(BENCH, "results.json") };
}

// ---------------------------------------------------------------------------
// Helpers

function sh(cmd: string[], opts: { env?: Record<string, string | undefined>; cwd?: string } = {}) {
  const r = Bun.spawnSync(cmd, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function must(cmd: string[], what: string): string {
  const r = sh(cmd);
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${(r.stdout + r.stderr).trim()}`);
  return r.stdout;
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

const mb = (bytes: number) => bytes / 1e6;
const fmt = (x: number | null | undefined, digits = 1) =>
  x === null || x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(digits);

/** Print a table (header row, then rows; numbers right-aligned). A null header prints key/value rows. */
function printTable(title: string, header: string[] | null, rows: (string | number)[][], notes: string[] = []): void {
  const cells = [...(header ? [header] : []), ...rows.map((r) => r.map(String))];
  const ncol = Math.max(...cells.map((r) => r.length));
  const w = Array.from({ length: ncol }, (_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const numeric = (c: string) => /^[-+]?[\d.]+(%\*?|x)?$|^-$/.test(c);
  const line = (r: string[]) =>
    r.map((c, i) => (header && i > 0 && numeric(c) ? c.padStart(w[i]) : c.padEnd(w[i]))).join("  ").trimEnd();
  console.log(`\n## ${title}\n`);
  if (header) {
    console.log(line(header));
    console.log(w.map((n) => "-".repeat(n)).join("  "));
  }
  for (const r of header ? cells.slice(1) : cells) console.log(header ? line(r) : `  ${line(r)}`);
  for (const n of notes) console.log(`  ${n}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
}

// ---------------------------------------------------------------------------
// Builds and models

function buildHost(): void {
  log("make -s -C csrc host");
  must(["make", "-s", "-C", "csrc", "host"], "building the host library and runner");
}

function buildBandwidth(): string {
  const out = join(BENCH, "bandwidth");
  const src = join(ROOT, "tools", "bandwidth.c");
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return out;
  const a = arch();
  const archFlags = a === "x64" ? ["-march=native"] : a === "arm64" ? ["-mcpu=native"] : [];
  const cc = process.env.CC || "cc";
  log(`${cc} -O3 ${archFlags.join(" ")} -pthread tools/bandwidth.c`);
  must([cc, "-O3", ...archFlags, "-pthread", "-o", out, src], "building tools/bandwidth.c");
  return out;
}

interface ModelFile {
  shape: Shape;
  format: ModelFormat;
  name: string; // e.g. "15m-fp32"
  dir: string;
  model: string;
  tokenizer: string;
  bytes: number;
}

const FORMAT_NAME: Record<ModelFormat, string> = { 0: "fp32-v0", 1: "fp32", 2: "q8_0", 3: "q4_0" };

/** The model of a shape and format under build/bench/, generated on first use. */
function ensureModel(shape: Shape, format: ModelFormat): ModelFile {
  const name = `${shape.id}-${FORMAT_NAME[format]}`;
  const dir = join(BENCH, name);
  const opts: ModelOptions = { ...shape.dims, format, groupSize: 32, seed: 1 };
  const stamp = join(dir, "gen.json");
  const want = JSON.stringify(opts);
  const model = join(dir, "model.bin");
  const tokenizer = join(dir, "tokenizer.bin");
  const fresh =
    existsSync(stamp) && existsSync(model) && existsSync(tokenizer) && readFileSync(stamp, "utf8") === want;
  if (!fresh) {
    log(`generating ${name} (${shape.label} shape, ${FORMAT_NAME[format]}) ...`);
    const t0 = performance.now();
    writeModelDir(dir, opts);
    writeFileSync(stamp, want);
    log(`  ${fmt(mb(statSync(model).size))} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return { shape, format, name, dir, model, tokenizer, bytes: statSync(model).size };
}

// ---------------------------------------------------------------------------
// Sections

interface Machine {
  cpu: string;
  arch: string;
  cores: number;
  kernel: string;
  memGB: number;
  pageSize: number;
  library: { version: string; kernel: string; path: string } | null;
}

interface Bandwidth {
  bufferBytes: number;
  runs: number;
  llcBytes: number;
  gbps: Record<number, number>; // threads -> GB/s
}

interface Ctx {
  opts: Opts;
  machine?: Machine;
  bandwidth?: Bandwidth;
  models: ModelFile[];
  /** arianna-run best tok/s per model name and thread count (for later sections) */
  runnerTps: Map<string, number>;
}

interface SectionResult {
  json: unknown;
}

interface Section {
  id: string;
  title: string;
  run(ctx: Ctx): Promise<SectionResult | null>;
}

// ---- machine ------------------------------------------------------------------

const ARM_PARTS: Record<string, string> = {
  "0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
  "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
  "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78",
  "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710", "0xd49": "Neoverse-N2",
};

function cpuModel(): string {
  let info = "";
  try {
    info = readFileSync("/proc/cpuinfo", "utf8");
  } catch {}
  const field = (k: string) => new RegExp(`^${k}\\s*:\\s*(.+)$`, "mi").exec(info)?.[1]?.trim();
  let board = "";
  try {
    board = readFileSync("/proc/device-tree/model", "utf8").replace(/\0/g, "").trim();
  } catch {}
  const name = field("model name");
  if (name) return board ? `${name} (${board})` : name;
  const part = field("CPU part")?.toLowerCase();
  const core = part ? ARM_PARTS[part] ?? `ARM part ${part}` : cpus()[0]?.model || "unknown";
  return board ? `${board}, ${core}` : core;
}

function libraryInfo(): Machine["library"] {
  try {
    const { dlopen } = require("bun:ffi") as typeof import("bun:ffi");
    const lib = dlopen(LIB, {
      ar_version: { args: [], returns: "cstring" },
      ar_kernel_name: { args: [], returns: "cstring" },
    });
    const out = { version: String(lib.symbols.ar_version()), kernel: String(lib.symbols.ar_kernel_name()), path: LIB };
    lib.close();
    return out;
  } catch (e) {
    log(`cannot query ${LIB}: ${(e as Error).message}`);
    return null;
  }
}

const machineSection: Section = {
  id: "machine",
  title: "Machine",
  async run(ctx) {
    const pageSize = Number(sh(["getconf", "PAGESIZE"]).stdout.trim()) || 0;
    const m: Machine = {
      cpu: cpuModel(),
      arch: arch(),
      cores: cpus().length,
      kernel: `Linux ${release()}`,
      memGB: totalmem() / 2 ** 30,
      pageSize,
      library: libraryInfo(),
    };
    ctx.machine = m;
    printTable("Machine", null, [
      ["CPU", m.cpu],
      ["cores", String(m.cores)],
      ["arch", m.arch],
      ["kernel", m.kernel],
      ["memory", `${m.memGB.toFixed(1)} GiB`],
      ["page size", `${m.pageSize} B`],
      ["libarianna", m.library ? `${m.library.version}, kernels: ${m.library.kernel}` : "-"],
    ]);
    return { json: m };
  },
};

// ---- bandwidth --------------------------------------------------------------------

const bandwidthSection: Section = {
  id: "bandwidth",
  title: "Read bandwidth",
  async run(ctx) {
    const bin = buildBandwidth();
    const args = [bin, "--json", "--threads", ctx.opts.threads.join(","), "--runs", ctx.opts.quick ? "3" : "5"];
    if (ctx.opts.quick) args.push("--mib", "256");
    log(`measuring read bandwidth (${ctx.opts.threads.join(", ")} threads) ...`);
    const r = sh(args);
    if (r.code !== 0) throw new Error(`bandwidth probe failed: ${r.stderr}`);
    const j = JSON.parse(r.stdout) as {
      buffer_bytes: number; llc_bytes: number; runs: number; kernel: string;
      results: { threads: number; gbps: number }[];
    };
    const bw: Bandwidth = { bufferBytes: j.buffer_bytes, runs: j.runs, llcBytes: j.llc_bytes, gbps: {} };
    for (const x of j.results) bw.gbps[x.threads] = x.gbps;
    ctx.bandwidth = bw;
    printTable(
      "Read bandwidth (tools/bandwidth.c)",
      ["threads", "GB/s"],
      j.results.map((x) => [String(x.threads), fmt(x.gbps, 2)]),
      [`${j.kernel} sum over ${fmt(mb(j.buffer_bytes), 0)} MB (LLC ${fmt(j.llc_bytes / 2 ** 20, 1)} MiB), best of ${j.runs}; 1 GB = 1e9 B`],
    );
    return { json: j };
  },
};

/** The bandwidth measured at t threads (or the nearest count below it). */
function bwAt(ctx: Ctx, t: number): number | null {
  if (!ctx.bandwidth) return null;
  const ks = Object.keys(ctx.bandwidth.gbps).map(Number).filter((k) => k <= t).sort((a, b) => b - a);
  return ks.length ? ctx.bandwidth.gbps[ks[0]] : null;
}

interface Measure {
  model: string;
  shape: string;
  format: string;
  mb: number;
  threads: number;
  tokens: number;
  tps: number[]; // every run
  best: number;
  median: number;
  effGBps: number;
  pctOfBw: number | null;
  /** the whole model fits in the last-level cache: decode is not DRAM-bound */
  inCache: boolean;
}

function measureRow(ctx: Ctx, m: ModelFile, threads: number, tokens: number, tps: number[]): Measure {
  const best = Math.max(...tps);
  const eff = (m.bytes * best) / 1e9;
  const bw = bwAt(ctx, threads);
  return {
    model: m.name, shape: m.shape.label, format: FORMAT_NAME[m.format], mb: mb(m.bytes), threads, tokens, tps,
    best, median: median(tps), effGBps: eff, pctOfBw: bw ? (100 * eff) / bw : null,
    inCache: !!ctx.bandwidth?.llcBytes && m.bytes <= ctx.bandwidth.llcBytes,
  };
}

function pct(r: Measure): string {
  return r.pctOfBw === null ? "-" : `${fmt(r.pctOfBw, 0)}%${r.inCache ? "*" : ""}`;
}
const IN_CACHE_NOTE = "* the model fits in the last-level cache here, so it can beat DRAM bandwidth";

function measureTable(title: string, rows: Measure[], notes: string[]): void {
  printTable(
    title,
    ["model", "format", "MB", "threads", "tokens", "tok/s", "median", "eff GB/s", "% of read BW"],
    rows.map((r) => [
      r.shape, r.format, fmt(r.mb, 1), String(r.threads), String(r.tokens), fmt(r.best, 1), fmt(r.median, 1),
      fmt(r.effGBps, 2), pct(r),
    ]),
    rows.some((r) => r.inCache) ? [...notes, IN_CACHE_NOTE] : notes,
  );
}

// ---- arianna-run ---------------------------------------------------------------------

/** The rate a llama2.c-style runner reports on stderr ("achieved tok/s: N"), NaN when it says none. */
const achievedTps = (stderr: string) => Number(/achieved tok\/s:\s*([\d.]+)/.exec(stderr)?.[1] ?? NaN);

function runRunner(bin: string, m: ModelFile, steps: number, threads: number, extra: string[] = []) {
  const r = sh([bin, m.model, "-z", m.tokenizer, "-t", "0", "-n", String(steps), "-i", PROMPT, "--threads",
    String(threads), ...extra]);
  if (r.code !== 0) throw new Error(`${bin} ${m.name} failed (exit ${r.code}):\n${r.stderr.trim()}`);
  return { tps: achievedTps(r.stderr), stdout: r.stdout };
}

const runnerSection: Section = {
  id: "runner",
  title: "Decode: arianna-run",
  async run(ctx) {
    const rows: Measure[] = [];
    for (const m of ctx.models) {
      for (const t of ctx.opts.threads) {
        log(`arianna-run ${m.name} --threads ${t} -n ${m.shape.steps} (x${ctx.opts.repeat}) ...`);
        const tps: number[] = [];
        let tokens = 0;
        for (let i = 0; i < ctx.opts.repeat; i++) {
          const r = runRunner(RUNNER, m, m.shape.steps, t, ["--ids"]);
          tps.push(r.tps);
          tokens = r.stdout.split("\n").filter((l) => /^\d+$/.test(l.trim())).length;
        }
        const row = measureRow(ctx, m, t, tokens, tps);
        ctx.runnerTps.set(`${m.name}@${t}`, row.best);
        rows.push(row);
      }
    }
    measureTable("Decode: arianna-run (greedy, prompt \"Once upon a time\")", rows, [
      `tok/s: best of ${ctx.opts.repeat}, as arianna-run reports it (after the first token, like llama2.c)`,
      "eff GB/s = model bytes x tok/s; % of read BW at the same thread count",
    ]);
    return { json: rows };
  },
};

// ---- Engine (bun:ffi in a Worker) --------------------------------------------------------

/** `fn` with an Engine of `threads` compute threads on the host build, closed afterwards. */
async function withEngine<T>(threads: number, fn: (engine: Engine) => Promise<T>): Promise<T> {
  const { Engine } = await import("../src/engine/index.ts");
  const engine = await Engine.open({ libPath: LIB, threads });
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

/** A fixed prompt of `n` token ids, BOS first (the same ids for every model of the 32000-piece shapes). */
const idPrompt = (n: number) => [1, ...Array.from({ length: n - 1 }, (_, i) => 3 + ((i * 7919) % 29000))];

/** Prefill `ids` on a fresh context (nothing reused) and take one token: the summary holds its timings. */
async function prefillOnce(engine: Engine, ids: number[]): Promise<GenerationSummary> {
  await engine.reset();
  const gen = engine.generate(ids, { temperature: 0, maxTokens: 1 });
  for await (const _ of gen);
  return gen.result;
}

const engineSection: Section = {
  id: "engine",
  title: "Decode: Engine (bun:ffi)",
  async run(ctx) {
    const rows: (Measure & { reportedTps: number; overheadPct: number | null })[] = [];
    for (const t of ctx.opts.threads) {
      await withEngine(t, async (engine) => {
        for (const m of ctx.models) {
          await engine.load({ model: m.model, tokenizer: m.tokenizer });
          const promptLen = (await engine.tokenize(PROMPT)).length;
          const maxTokens = Math.max(2, m.shape.steps - promptLen);
          log(`Engine ${m.name} threads ${t} maxTokens ${maxTokens} (x${ctx.opts.repeat}) ...`);
          const tps: number[] = [];
          const reported: number[] = [];
          let tokens = 0;
          for (let i = 0; i < ctx.opts.repeat; i++) {
            await engine.reset();
            const gen = engine.generate(PROMPT, { temperature: 0, maxTokens });
            let n = 0;
            let first = 0;
            let last = 0;
            for await (const _ of gen) {
              last = performance.now();
              if (n === 0) first = last;
              n++;
            }
            const s = await gen.result;
            tokens = s.completionTokens;
            // Same convention as the runner: the rate after the first token.
            tps.push(n > 1 && last > first ? ((n - 1) * 1000) / (last - first) : NaN);
            reported.push(s.tokensPerSecond);
          }
          const row = measureRow(ctx, m, t, tokens, tps);
          const runnerBest = ctx.runnerTps.get(`${m.name}@${t}`);
          rows.push({
            ...row,
            reportedTps: Math.max(...reported),
            overheadPct: runnerBest ? (100 * (runnerBest - row.best)) / runnerBest : null,
          });
        }
      });
    }
    printTable(
      "Decode: Engine through bun:ffi (Worker), greedy",
      ["model", "format", "threads", "tokens", "tok/s", "engine-reported", "eff GB/s", "% of read BW", "vs runner"],
      rows.map((r) => [
        r.shape, r.format, String(r.threads), String(r.tokens), fmt(r.best, 1), fmt(r.reportedTps, 1),
        fmt(r.effGBps, 2), pct(r),
        r.overheadPct === null ? "-" : `${r.overheadPct >= 0 ? "-" : "+"}${fmt(Math.abs(r.overheadPct), 1)}%`,
      ]),
      [
        "tok/s: tokens as they arrive on the main thread (after the first), best of the runs",
        "engine-reported: GenerationSummary.tokensPerSecond; vs runner: difference to arianna-run at the same threads",
        ...(rows.some((r) => r.inCache) ? [IN_CACHE_NOTE] : []),
      ],
    );
    return { json: rows };
  },
};

// ---- prefill (batched) ---------------------------------------------------------------------

const PREFILL_TOKENS = 240;

const prefillSection: Section = {
  id: "prefill",
  title: "Prefill: Engine (batched)",
  async run(ctx) {
    const rows: { shape: string; format: string; threads: number; tokens: number; ms: number; tps: number }[] = [];
    // long enough to show the block prefill
    const prompt = idPrompt(PREFILL_TOKENS);
    for (const t of ctx.opts.threads) {
      await withEngine(t, async (engine) => {
        for (const m of ctx.models) {
          await engine.load({ model: m.model, tokenizer: m.tokenizer });
          log(`Engine prefill ${m.name} threads ${t}: ${PREFILL_TOKENS} tokens (x${ctx.opts.repeat}) ...`);
          let best = Infinity;
          for (let i = 0; i < ctx.opts.repeat; i++) best = Math.min(best, (await prefillOnce(engine, prompt)).prefillMs);
          rows.push({ shape: m.shape.label, format: FORMAT_NAME[m.format], threads: t, tokens: PREFILL_TOKENS,
                      ms: best, tps: (PREFILL_TOKENS * 1000) / best });
        }
      });
    }
    printTable(
      `Prefill: ${PREFILL_TOKENS}-token prompt through the Engine`,
      ["model", "format", "threads", "tokens", "ms", "tok/s", "vs decode"],
      rows.map((r) => {
        const decode = ctx.runnerTps.get(`${ctx.models.find((m) => m.shape.label === r.shape &&
          FORMAT_NAME[m.format] === r.format)?.name}@${r.threads}`);
        return [r.shape, r.format, String(r.threads), String(r.tokens), fmt(r.ms, 1), fmt(r.tps, 0),
                decode ? `${fmt(r.tps / decode, 1)}x` : "-"];
      }),
      ["prefill runs the prompt in blocks of 64 tokens through register-tiled gemm kernels",
       "vs decode: prefill tok/s over arianna-run's decode tok/s at the same threads"],
    );
    return { json: rows };
  },
};

// ---- memory + leo + context (model compute excluded) ---------------------------------------

const memorySection: Section = {
  id: "memory",
  title: "Per-turn overhead: memory + leo + context",
  async run(ctx) {
    const { benchMemory } = await import("./bench/memory.ts");
    const sizes = ctx.opts.quick ? [1_000, 10_000] : [1_000, 10_000, 100_000];
    const report = await benchMemory({ sizes, turns: ctx.opts.quick ? 50 : 200, log });
    printTable(
      "Per-turn overhead: memory + leo + context assembly (model compute excluded)",
      ["stored messages", "median ms", "p95 ms", "cpu ms", "idle work ms (median/max)", "MB per 1k turns", "RSS MiB (warm -> end)", "JS heap MiB"],
      report.rows.map((r) => [
        String(r.messages), fmt(r.medianMs, 2), fmt(r.p95Ms, 2), fmt(r.cpuMedianMs, 2),
        `${fmt(r.idleMedianMs, 2)} / ${fmt(r.idleMaxMs, 1)}`, fmt(r.bytesPer1kTurns / 1e6, 2),
        `${fmt(r.rssStartMiB, 1)} -> ${fmt(r.rssEndMiB, 1)}`, `${fmt(r.heapStartMiB, 1)} -> ${fmt(r.heapEndMiB, 1)}`,
      ]),
      [
        `growth ${fmt(report.growth, 2)}x from the smallest to the largest history`,
        `one durable commit (synchronous=FULL) on this disk: ${fmt(report.commitMs, 2)} ms; a turn makes two`,
        "targets: median <= 5 ms at 100k messages, growth <= 2x",
      ],
    );
    return { json: report };
  },
};

// ---- HTTP (the service) vs the Engine alone ---------------------------------------------

const httpSection: Section = {
  id: "http",
  title: "HTTP: the service vs the Engine",
  async run(ctx) {
    const { benchHttp } = await import("./bench/http.ts");
    const m = ensureModel(SHAPES[0], 2);
    const threads = ctx.opts.threads[0];
    const r = await benchHttp({ modelDir: m.dir, threads, runs: ctx.opts.quick ? 3 : 9, log });
    printTable(
      `HTTP: ${m.shape.label} Q8_0 through the service vs the Engine alone (${threads} thread)`,
      ["path", "ttft ms", "tok/s"],
      [["Engine", fmt(r.engine.ttftMs, 1), fmt(r.engine.tokensPerSecond, 1)],
       ["HTTP /api/generate", fmt(r.http.ttftMs, 1), fmt(r.http.tokensPerSecond, 1)]],
      [
        `HTTP keeps ${fmt(100 * r.ratio, 1)}% of the Engine's tok/s (target >= ${fmt(100 * r.target.ratio, 0)}%), ` +
          `TTFT +${fmt(r.ttftOverheadMs, 1)} ms`,
        `service RSS ${fmt(r.rssMiB, 1)} MiB (peak ${fmt(r.peakRssMiB, 1)}), cold start to the first 200 from ` +
          `/health ${fmt(r.coldStartMs, 0)} ms`,
      ],
    );
    return { json: r };
  },
};

// ---- hot reload ------------------------------------------------------------------------------

const reloadSection: Section = {
  id: "reload",
  title: "Hot reload while streaming",
  async run(ctx) {
    const { benchReload } = await import("./bench/reload.ts");
    const a = ensureModel(SHAPES[0], 2);
    const b = ensureModel(SHAPES[0], 1);
    const r = await benchReload({ models: [a.dir, b.dir], reloads: ctx.opts.quick ? 2 : 4 });
    const max = (xs: number[]) => Math.max(...xs);
    printTable(
      "Hot reload while a client streams (stories15M shape, Q8_0 <-> fp32, rsync-style upload)",
      ["", "ms"],
      [
        ["longest token gap, no reload", fmt(r.normalMaxGapMs, 1)],
        ["median token gap, no reload", fmt(r.normalMedianGapMs, 2)],
        ["longest token gap across a reload", fmt(max(r.reloadGapMs), 1)],
        ["swap (load + switch), longest", fmt(max(r.swapMs), 1)],
      ],
      [`RSS ${fmt(r.rssBaselineBytes / 2 ** 20, 1)} MiB before, ${fmt(r.rssPeakBytes / 2 ** 20, 1)} MiB at the peak of a swap; ` +
        `${r.tokens} tokens streamed`],
    );
    return { json: r };
  },
};

// ---- llama2.c (optional) ------------------------------------------------------------------

/** "yes", "yes (ascii)" (equal once non-ASCII and control bytes are dropped) or "NO". */
function compareText(ref: string, ours: string): string {
  if (ref.trimEnd() === ours.trimEnd()) return "yes";
  const ascii = (t: string) => t.replace(/[^\x20-\x7e\s]/g, "").trimEnd();
  return ascii(ref) === ascii(ours) ? "yes (ascii)" : "NO";
}

/**
 * A section that compares with a peer program named by the environment variable `variable`: skipped,
 * saying how to run it, while the variable is unset; an error when it names no file.
 */
function peerSection(
  id: string,
  title: string,
  variable: string,
  hint: string,
  run: (ctx: Ctx, bin: string) => Promise<SectionResult>,
): Section {
  return {
    id,
    title,
    async run(ctx) {
      const bin = process.env[variable];
      if (!bin) {
        console.log(`\n## ${title}\n\n  (skipped: set ${variable}=${hint})`);
        return null;
      }
      if (!existsSync(bin)) throw new Error(`${variable}=${bin}: no such file`);
      return run(ctx, bin);
    },
  };
}

const llama2cSection = peerSection(
  "llama2c",
  "llama2.c run (reference)",
  "LLAMA2C_RUN",
  "/path/to/llama2.c/run to compare",
  async (ctx, bin) => {
    const rows: Record<string, unknown>[] = [];
    for (const shape of ctx.opts.shapes) {
      // llama2.c's run reads only the legacy format: a v0 copy of the same weights.
      const v0 = ensureModel(shape, 0);
      const q8 = ctx.models.find((m) => m.shape.id === shape.id && m.format === 2);
      for (const t of [1]) {
        log(`llama2.c run ${v0.name} (x${ctx.opts.repeat}) ...`);
        const ref: number[] = [];
        const ours: number[] = [];
        let refText = "";
        let ourText = "";
        for (let i = 0; i < ctx.opts.repeat; i++) {
          const r = sh([bin, v0.model, "-z", v0.tokenizer, "-t", "0", "-n", String(shape.steps), "-i", PROMPT], {
            env: { OMP_NUM_THREADS: String(t) },
          });
          if (r.code !== 0) throw new Error(`llama2.c run failed: ${r.stderr}`);
          ref.push(achievedTps(r.stderr));
          refText = r.stdout;
          const o = runRunner(RUNNER, v0, shape.steps, t);
          ours.push(o.tps);
          ourText = o.stdout;
        }
        const q8tps = q8 ? ctx.runnerTps.get(`${q8.name}@${t}`) ?? null : null;
        rows.push({
          shape: shape.label, threads: t, llama2c: Math.max(...ref), arianna: Math.max(...ours),
          speedup: Math.max(...ours) / Math.max(...ref), ariannaQ8: q8tps,
          speedupQ8: q8tps ? q8tps / Math.max(...ref) : null, sameText: compareText(refText, ourText),
          tokens: shape.steps,
        });
      }
    }
    printTable(
      "llama2.c run vs arianna-run (same v0 fp32 file, 1 thread, greedy)",
      ["model", "threads", "llama2.c tok/s", "arianna tok/s", "speedup", "arianna q8_0", "speedup q8", "same text"],
      rows.map((r) => [
        String(r.shape), String(r.threads), fmt(r.llama2c as number), fmt(r.arianna as number),
        `${fmt(r.speedup as number, 2)}x`, fmt(r.ariannaQ8 as number | null),
        r.speedupQ8 ? `${fmt(r.speedupQ8 as number, 2)}x` : "-", String(r.sameText),
      ]),
      [
        `LLAMA2C_RUN=${bin} (OMP_NUM_THREADS=1)`,
        "same text: \"yes (ascii)\" when only raw-byte tokens differ (llama2.c drops non-printable bytes,",
        "arianna-run prints complete UTF-8 and U+FFFD for invalid bytes)",
      ],
    );
    return { json: { bin, rows } };
  },
);

// ---- llama.cpp, side by side -----------------------------------------------------------------

const PEER_PREFILL = 128; // llama-bench -p
const PEER_DECODE = 64; // llama-bench -n

/** The GGUF copy of a shape's weights in a llama.cpp type, converted once from the v0 file. */
function peerModel(dir: string, shape: Shape, type: "F32" | "Q8_0" | "Q4_0"): string {
  const v0 = ensureModel(shape, 0);
  const f32 = join(v0.dir, "model-f32.gguf");
  if (!existsSync(f32)) {
    log(`llama.cpp: converting ${v0.name} to GGUF ...`);
    must([join(dir, "llama-convert-llama2c-to-ggml"), "--copy-vocab-from-model", v0.tokenizer, "--llama2c-model",
      v0.model, "--llama2c-output-model", f32], "llama-convert-llama2c-to-ggml");
  }
  if (type === "F32") return f32;
  const out = join(v0.dir, `model-${type.toLowerCase()}.gguf`);
  if (!existsSync(out)) must([join(dir, "llama-quantize"), f32, out, type], "llama-quantize");
  return out;
}

/** One llama-bench run: [prefill tok/s, decode tok/s]. */
function llamaBench(bin: string, gguf: string, threads: number): [number, number] {
  const r = sh([bin, "-m", gguf, "-t", String(threads), "-p", String(PEER_PREFILL), "-n", String(PEER_DECODE),
    "-r", "1", "-o", "json"]);
  if (r.code !== 0) throw new Error(`llama-bench failed (exit ${r.code}):\n${r.stderr.trim()}`);
  const rows = JSON.parse(r.stdout) as { n_prompt: number; n_gen: number; avg_ts: number }[];
  const pp = rows.find((x) => x.n_prompt > 0 && x.n_gen === 0)?.avg_ts ?? NaN;
  const tg = rows.find((x) => x.n_gen > 0 && x.n_prompt === 0)?.avg_ts ?? NaN;
  return [pp, tg];
}

/**
 * One arianna run, the same work: [prefill tok/s of PEER_PREFILL ids, decode tok/s]. Like each
 * llama-bench run, whose timed prompt follows an untimed one of the same size in the same process,
 * the timed prefill follows an untimed one: otherwise ours would start with caches that llama-bench,
 * run just before it, has filled with its own weights. The Engine prefills all of a prompt but its
 * last token, so a prompt of PEER_PREFILL + 1 ids is PEER_PREFILL tokens prefilled, the last one's
 * logits computed: llama-bench's work exactly.
 */
async function ariannaBench(engine: Engine, m: ModelFile, threads: number): Promise<[number, number]> {
  const ids = idPrompt(PEER_PREFILL + 1);
  await prefillOnce(engine, ids);
  const pp = (PEER_PREFILL * 1000) / (await prefillOnce(engine, ids)).prefillMs;
  const tg = runRunner(RUNNER, m, PEER_DECODE + PROMPT.split(" ").length + 1, threads).tps;
  return [pp, tg];
}

const llamaCppSection = peerSection(
  "llamacpp",
  "llama.cpp side by side",
  "LLAMA_CPP_BENCH",
  "/path/to/llama-bench to compare; README: the peer",
  async (ctx, bin) => {
    const dir = resolve(bin, "..");
    const rows: Record<string, unknown>[] = [];
    const types = [[1, "F32"], [2, "Q8_0"], [3, "Q4_0"]] as const;
    for (const shape of ctx.opts.shapes) {
      for (const [format, type] of types) {
        const ours = ensureModel(shape, format);
        const gguf = peerModel(dir, shape, type);
        for (const t of ctx.opts.threads) {
          await withEngine(t, async (engine) => {
            await engine.load({ model: ours.model, tokenizer: ours.tokenizer });
            await ariannaBench(engine, ours, t); // warm-up, as llama-bench does one before its runs
            log(`llama.cpp vs arianna ${ours.name} threads ${t} (x${ctx.opts.repeat}, interleaved) ...`);
            const a: [number, number][] = [];
            const l: [number, number][] = [];
            for (let i = 0; i < ctx.opts.repeat; i++) {
              l.push(llamaBench(bin, gguf, t));
              a.push(await ariannaBench(engine, ours, t));
            }
            const med = (xs: [number, number][], k: 0 | 1) => median(xs.map((x) => x[k]));
            rows.push({
              shape: shape.label, format: type, threads: t,
              ariannaDecode: med(a, 1), llamaDecode: med(l, 1), ariannaPrefill: med(a, 0), llamaPrefill: med(l, 0),
              runs: { arianna: a, llama: l },
            });
          });
        }
      }
    }
    const x = (a: number, b: number) => `${fmt(a / b, 2)}x`;
    printTable(
      "llama.cpp (llama-bench) vs arianna, same weights, interleaved",
      ["model", "format", "threads", "arianna decode", "llama.cpp decode", "ratio", `arianna prefill (${PEER_PREFILL})`,
        "llama.cpp prefill", "ratio"],
      rows.map((r) => {
        const n = (k: string) => r[k] as number;
        return [String(r.shape), String(r.format), String(r.threads), fmt(n("ariannaDecode"), 1), fmt(n("llamaDecode"), 1),
          x(n("ariannaDecode"), n("llamaDecode")), fmt(n("ariannaPrefill"), 0), fmt(n("llamaPrefill"), 0),
          x(n("ariannaPrefill"), n("llamaPrefill"))];
      }),
      [
        `LLAMA_CPP_BENCH=${bin}; llama-bench -p ${PEER_PREFILL} -n ${PEER_DECODE} -r 1 per run, medians of ${ctx.opts.repeat} runs`,
        "arianna: prefill of the same count of token ids through the Engine, decode by arianna-run; ratio = arianna / llama.cpp",
        "the GGUF files are converted from the same v0 weights (llama-convert-llama2c-to-ggml, llama-quantize)",
      ],
    );
    return { json: { bin, rows } };
  },
);

// ---- time to first token of a turn, on the bundled kernel and the one it replaced --------------

const TTFT_CONTEXT = [100, 300, 500];
/** models/default ships; models/previous is the kernel it replaced, kept in the repository to be measured beside it */
const TTFT_KERNELS = ["default", "previous"];

const ttftSection: Section = {
  id: "ttft",
  title: "Time to first token: the bundled kernel",
  async run(ctx) {
    // Real text for the context (a living-session turn prefills recalled talk): the corpus, tokenized.
    const text = readFileSync(join(ROOT, "trainer", "corpus", "method.txt"), "utf8");
    const rows: { kernel: string; params: number; threads: number; context: number; ms: number[] }[] = [];
    for (const kernel of TTFT_KERNELS) {
      const dir = join(ROOT, "models", kernel);
      const model = join(dir, "model.bin");
      if (!existsSync(model)) {
        if (kernel === "default") throw new Error(`${model}: missing`);
        continue;
      }
      const params = (JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { dims: { n_params: number } }).dims.n_params;
      for (const t of ctx.opts.threads) {
        await withEngine(t, async (engine) => {
          await engine.load({ model, tokenizer: join(dir, "tokenizer.bin") });
          const ids = await engine.tokenize(text);
          for (const n of TTFT_CONTEXT) {
            const ms: number[] = [];
            for (let i = 0; i < ctx.opts.repeat; i++) ms.push((await prefillOnce(engine, [1, ...ids.slice(0, n - 1)])).ttftMs);
            rows.push({ kernel, params, threads: t, context: n, ms });
          }
        });
      }
    }
    printTable(
      "Time to first token of a turn on the bundled kernel (default) and the one it replaced (previous), Engine, fresh context",
      ["kernel", "params", "threads", "context tokens", "median ms", "best ms"],
      rows.map((r) => [r.kernel, `${fmt(r.params / 1e6, 2)} M`, String(r.threads), String(r.context), fmt(median(r.ms), 1), fmt(Math.min(...r.ms), 1)]),
      ["the whole context is prefilled (the worst case: nothing reused from the previous turn), then one token"],
    );
    return { json: rows };
  },
};

/** The report, in order. Add new sections here. */
const SECTIONS: Section[] = [
  machineSection, bandwidthSection, runnerSection, engineSection, prefillSection, memorySection, httpSection,
  reloadSection, llama2cSection, llamaCppSection, ttftSection,
];

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOpts(process.argv.slice(2));
  mkdirSync(BENCH, { recursive: true });
  buildHost();
  const models: ModelFile[] = [];
  for (const s of opts.shapes) for (const f of [1, 2] as const) models.push(ensureModel(s, f));
  const ctx: Ctx = { opts, models, runnerTps: new Map() };
  const out: Record<string, unknown> = {};
  const t0 = performance.now();
  for (const s of SECTIONS) {
    if (opts.only && !opts.only.has(s.id) && s.id !== "machine") continue;
    try {
      const r = await s.run(ctx);
      if (r) out[s.id] = r.json;
    } catch (e) {
      console.log(`\n## ${s.title}\n\n  FAILED: ${(e as Error).message}`);
      out[s.id] = { error: (e as Error).message };
      process.exitCode = 1;
    }
  }
  const result = {
    date: new Date().toISOString(),
    options: { quick: opts.quick, shapes: opts.shapes.map((s) => s.id), threads: opts.threads, repeat: opts.repeat,
      prompt: PROMPT },
    seconds: (performance.now() - t0) / 1000,
    sections: out,
  };
  mkdirSync(resolve(opts.json, ".."), { recursive: true });
  writeFileSync(opts.json, JSON.stringify(result, null, 2) + "\n");
  console.log(`\nwrote ${opts.json}`);
}

if (import.meta.main) {
  main().catch((e) => {
    console.error(`bench: ${(e as Error).message}`);
    process.exit(1);
  });
}
