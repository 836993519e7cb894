/**
 * http.ts — the HTTP face's cost, for tools/bench.ts:
 *
 *  - time to first token and decode tok/s over HTTP (streamed /api/generate
 *    on the real service, `bun src/main.ts`) against the Engine alone in this
 *    process, same kernel, prompt, seed and length; target: HTTP keeps >= 95%
 *    of the Engine's tok/s;
 *  - the service's resident memory (VmRSS, and its peak VmHWM) after the runs;
 *  - cold start: spawn to the first 200 from /health.
 *
 * Both sides are timed the same way, at the consumer: TTFT is request start to
 * the first token's arrival, tok/s is (tokens - 1) / (last arrival - first).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { REPO_ROOT } from "../../src/config/paths.ts";
import { homePaths } from "../../src/config/runtime.ts";
import { Engine } from "../../src/engine/index.ts";

export interface BenchHttpOptions {
  /** a model directory (model.bin + tokenizer.bin), e.g. one of tools/bench.ts's generated shapes */
  modelDir: string;
  /** tokens per generation (default 200; capped by the kernel's context) */
  tokens?: number;
  /** measured runs per side, after one warm-up (default 5) */
  runs?: number;
  prompt?: string;
  /** compute threads on both sides (ARIANNA_THREADS for the service; default: defaultThreads(), cores - 1, as deployed) */
  threads?: number;
  log?: (line: string) => void;
}

export interface Timing {
  ttftMs: number;
  tokensPerSecond: number;
}

export interface BenchHttpReport {
  engine: Timing;
  http: Timing;
  /** http tok/s ÷ engine tok/s */
  ratio: number;
  ttftOverheadMs: number;
  rssMiB: number;
  peakRssMiB: number;
  coldStartMs: number;
  tokens: number;
  target: { ratio: number; ok: boolean };
}

const TARGET_RATIO = 0.95;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One generation's timing from token arrival times (ms, relative to the request). */
function timing(arrivals: number[], tokens: number): Timing {
  const span = arrivals.at(-1)! - arrivals[0];
  return { ttftMs: arrivals[0], tokensPerSecond: span > 0 ? ((tokens - 1) / span) * 1000 : 0 };
}

function summarize(runs: Timing[]): Timing {
  return { ttftMs: median(runs.map((r) => r.ttftMs)), tokensPerSecond: median(runs.map((r) => r.tokensPerSecond)) };
}

/** One generation on the Engine in this process. */
async function engineRun(engine: Engine, prompt: string, tokens: number): Promise<Timing> {
  const t0 = performance.now();
  const arrivals: number[] = [];
  const generation = engine.generate(prompt, { seed: 7, temperature: 0.8, maxTokens: tokens });
  for await (const _ of generation) arrivals.push(performance.now() - t0);
  return timing(arrivals, (await generation.result).completionTokens);
}

async function freePort(): Promise<number> {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

/** Streamed /api/generate; arrivals are per NDJSON chunk (the server sends one per token with text). */
async function httpRun(url: string, prompt: string, tokens: number): Promise<Timing> {
  const t0 = performance.now();
  const res = await fetch(`${url}/api/generate`, {
    method: "POST",
    body: JSON.stringify({ prompt, options: { seed: 7, temperature: 0.8, num_predict: tokens } }),
  });
  const arrivals: number[] = [];
  let buffered = "";
  let evalCount = 0;
  const decoder = new TextDecoder();
  for await (const bytes of res.body!) {
    const now = performance.now() - t0;
    buffered += decoder.decode(bytes, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const chunk = JSON.parse(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      if (chunk.done) evalCount = chunk.eval_count;
      else arrivals.push(now);
    }
  }
  return timing(arrivals, evalCount);
}

function rss(pid: number): { rssMiB: number; peakRssMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
  return { rssMiB: kib("VmRSS") / 1024, peakRssMiB: kib("VmHWM") / 1024 };
}

export async function benchHttp(options: BenchHttpOptions): Promise<BenchHttpReport> {
  const log = options.log ?? (() => {});
  const prompt = options.prompt ?? "Once upon a time";
  const runs = options.runs ?? 5;
  const tokens = options.tokens ?? 200;

  // the service as deployed: its own ARIANNA_HOME with the kernel as models/current
  const home = mkdtempSync(join(tmpdir(), "ia-bench-http-"));
  cpSync(options.modelDir, homePaths(home).currentModel, { recursive: true });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = Bun.spawn(["bun", join(REPO_ROOT, "src", "main.ts")], {
    env: {
      ...process.env, ARIANNA_HOME: home, ARIANNA_HOST: "127.0.0.1", ARIANNA_PORT: String(port), NOTIFY_SOCKET: "",
      ...(options.threads ? { ARIANNA_THREADS: String(options.threads) } : {}),
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  const engine = await Engine.open({ threads: options.threads });
  try {
    let coldStartMs = NaN;
    while (performance.now() - started < 60_000) {
      const ok = await fetch(`${url}/health`).then((r) => r.status === 200, () => false);
      if (ok) {
        coldStartMs = performance.now() - started;
        break;
      }
      if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`);
      await Bun.sleep(10);
    }
    if (Number.isNaN(coldStartMs)) throw new Error("the service did not answer /health within 60 s");
    await engine.load(options.modelDir);
    // alternate the two sides run by run, so load from elsewhere on the machine hits both alike
    log(`http: cold start ${coldStartMs.toFixed(0)} ms; ${runs} runs of ${tokens} tokens, Engine and HTTP in turn`);
    const direct: Timing[] = [];
    const overHttp: Timing[] = [];
    for (let i = 0; i <= runs; i++) {
      const d = await engineRun(engine, prompt, tokens);
      const h = await httpRun(url, prompt, tokens);
      if (i > 0) direct.push(d), overHttp.push(h); // run 0 warms both up
    }
    const [e, http] = [summarize(direct), summarize(overHttp)];
    const ratio = e.tokensPerSecond > 0 ? http.tokensPerSecond / e.tokensPerSecond : 0;
    return {
      engine: e, http, ratio, ttftOverheadMs: http.ttftMs - e.ttftMs, ...rss(child.pid), coldStartMs, tokens,
      target: { ratio: TARGET_RATIO, ok: ratio >= TARGET_RATIO },
    };
  } finally {
    await engine.close();
    child.kill("SIGTERM");
    await child.exited;
    rmSync(home, { recursive: true, force: true });
  }
}
