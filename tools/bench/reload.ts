/**
 * reload.ts — what a hot reload costs a client that is streaming.
 *
 * A client generates back to back (greedy, EOS masked) while the two given
 * kernels are uploaded in turn into a temporary ARIANNA_HOME/models/current
 * and reloaded. Every token's arrival time is recorded, so the longest gap
 * between two streamed tokens across a reload can be set against the longest
 * gap without one (which includes the normal pause between two generations).
 * RSS is sampled while each reload runs: the old and new kernel are both
 * resident for a moment, plus the private copy being written.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine, type EngineOptions } from "../../src/engine/index.ts";
import { createModelManager } from "../../src/reload/index.ts";

export interface ReloadBenchOptions {
  /** two model directories (model.bin + tokenizer.bin [+ manifest.json]) to alternate between */
  models: [string, string];
  engine?: EngineOptions;
  /** reloads to measure (default 4) */
  reloads?: number;
  /** tokens per generation (default 128) */
  maxTokens?: number;
  /** streaming time without reloads, for the normal gap (default 1000 ms) */
  baselineMs?: number;
}

export interface ReloadBenchResult {
  /** longest / median gap between two tokens while nothing is reloaded, ms */
  normalMaxGapMs: number;
  normalMedianGapMs: number;
  /** longest gap between two streamed tokens across each reload, ms */
  reloadGapMs: number[];
  /** ReloadEvent.swapMs of each reload (waits for the generation in flight, then loads) */
  swapMs: number[];
  rssBaselineBytes: number;
  /** highest RSS sampled during any reload */
  rssPeakBytes: number;
  tokens: number;
}

const NO_EOS = { ids: [1, 2], weights: [-1000, -1000] };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Upload like `rsync` does by default (each file under a temp name, then
 * renamed), in a child process: the main thread is where tokens arrive, so
 * the uploader must not be timed on it.
 */
async function upload(src: string, current: string): Promise<void> {
  const script = 'for f in manifest.json model.bin tokenizer.bin; do if [ -e "$1/$f" ]; then ' +
    'cp "$1/$f" "$2/.$f.bench0" && mv "$2/.$f.bench0" "$2/$f" || exit 1; else rm -f "$2/$f"; fi; done';
  const proc = Bun.spawn(["sh", "-c", script, "upload", src, current]);
  if ((await proc.exited) !== 0) throw new Error(`uploading ${src} failed`);
}

export async function benchReload(opts: ReloadBenchOptions): Promise<ReloadBenchResult> {
  const home = mkdtempSync(join(tmpdir(), "arianna-reload-bench-"));
  const current = join(home, "models", "current");
  mkdirSync(current, { recursive: true });
  await upload(opts.models[0], current);
  const engine = await Engine.open(opts.engine);
  try {
    await engine.load(current);
    const manager = await createModelManager({ engine, home, swap: (dir) => engine.swap(dir), log: () => {}, pollMs: 60_000 });
    const stamps: number[] = [];
    let streaming = true;
    const client = (async () => {
      while (streaming) {
        for await (const _ of engine.generate("Once upon a time", { temperature: 0, maxTokens: opts.maxTokens ?? 128, bias: NO_EOS }))
          stamps.push(performance.now());
      }
    })();

    await sleep(opts.baselineMs ?? 1000);
    const base = gaps(stamps, 1, stamps.length);
    const rssBaselineBytes = process.memoryUsage().rss;
    let rssPeakBytes = rssBaselineBytes;
    const reloadGapMs: number[] = [];
    const swapMs: number[] = [];
    for (let i = 0; i < (opts.reloads ?? 4); i++) {
      const from = stamps.length;
      const sampler = setInterval(() => (rssPeakBytes = Math.max(rssPeakBytes, process.memoryUsage().rss)), 2);
      await upload(opts.models[(i + 1) % 2], current);
      const event = await manager.reload({ trigger: "api" });
      clearInterval(sampler);
      if (!event.ok) throw new Error(`reload failed: ${event.reason}`);
      swapMs.push(event.swapMs ?? 0);
      // Wait for a few tokens from the new kernel so the gap after the swap is closed.
      const seen = stamps.length;
      while (stamps.length < seen + 4) await sleep(1);
      reloadGapMs.push(Math.max(...gaps(stamps, Math.max(from, 1), stamps.length)));
    }
    streaming = false;
    await client;
    await manager.close();
    base.sort((a, b) => a - b);
    return {
      normalMaxGapMs: base[base.length - 1] ?? 0,
      normalMedianGapMs: base[base.length >> 1] ?? 0,
      reloadGapMs, swapMs, rssBaselineBytes, rssPeakBytes, tokens: stamps.length,
    };
  } finally {
    await engine.close();
    rmSync(home, { recursive: true, force: true });
  }
}

function gaps(stamps: number[], from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(stamps[i] - stamps[i - 1]);
  return out;
}
