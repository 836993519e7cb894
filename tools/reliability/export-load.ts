/**
 * export-load.ts — what GET /api/export costs the running service on a large
 * history (issue 15, case 12): RSS, and how long /health takes meanwhile.
 *
 *   bun tools/reliability/export-load.ts [--messages 400000] [--parallel 1,4] [--root DIR]
 *
 * Builds a database of `messages` messages (a user line and a reply each
 * turn, 40 turns an episode) through the runtime's own memory module, starts
 * `bun src/main.ts` on it (from --root: another checkout measures another
 * version), then for each parallelism runs that many exports at once while
 * /health is asked every 20 ms; reports the peak VmRSS of the service and the
 * slowest /health answer, with the baseline before any export.
 */
import { readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { openMemory } from "../../src/memory/index.ts";
import { ROOT, startService, tempDir, TINY, writeKernel } from "./service.ts";

export interface ExportLoadResult {
  messages: number;
  baseline: { rssKiB: number; healthMaxMs: number };
  runs: { parallel: number; rssPeakKiB: number; healthMaxMs: number; healthMedianMs: number; exportMs: number; bytes: number }[];
}

const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);

export async function exportLoad(opts: { messages: number; parallel: number[]; root?: string }): Promise<ExportLoadResult> {
  const home = tempDir("export-load");
  await writeKernel(join(home, "models", "current"), TINY);
  const memory = openMemory(join(home, "resonance.sqlite3"));
  const episode = memory.db.prepare("INSERT INTO episodes (started_at) VALUES (?)");
  const message = memory.db.prepare("INSERT INTO messages (ts, role, text, episode_id, flags) VALUES (?, ?, ?, ?, 0)");
  const line = "a line of an ordinary conversation about the sea, the garden and the night, long enough to be real";
  memory.atomically(() => {
    let ep = 0;
    for (let i = 0; i < opts.messages; i++) {
      if (i % 80 === 0) ep = Number(episode.run(i).lastInsertRowid);
      message.run(1_700_000_000_000 + i * 1000, i % 2 ? "arianna" : "user", `${line} ${i}`, ep);
    }
  });
  memory.db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  memory.close();
  const svc = await startService(home, { root: opts.root, timeoutMs: 120_000 });
  const pid = svc.proc.pid;
  const health = async () => {
    const t = performance.now();
    await fetch(`${svc.url}/health`);
    return performance.now() - t;
  };
  try {
    const base: number[] = [];
    for (let i = 0; i < 20; i++) base.push(await health());
    const result: ExportLoadResult = { messages: opts.messages, baseline: { rssKiB: rssKiB(pid), healthMaxMs: Math.max(...base) }, runs: [] };
    for (const parallel of opts.parallel) {
      let peak = rssKiB(pid);
      let done = false;
      const lat: number[] = [];
      const prober = (async () => {
        while (!done) {
          lat.push(await health());
          peak = Math.max(peak, rssKiB(pid));
          await Bun.sleep(20);
        }
      })();
      const t0 = performance.now();
      const sizes = await Promise.all(Array.from({ length: parallel }, async () => (await (await fetch(`${svc.url}/api/export`)).arrayBuffer()).byteLength));
      const exportMs = performance.now() - t0;
      done = true;
      await prober;
      lat.sort((a, b) => a - b);
      result.runs.push({
        parallel, rssPeakKiB: peak, healthMaxMs: Math.round(lat.at(-1)!), healthMedianMs: Math.round(lat[lat.length >> 1]! * 10) / 10,
        exportMs: Math.round(exportMs), bytes: sizes[0]!,
      });
    }
    return result;
  } finally {
    await svc.kill("SIGTERM");
    rmSync(home, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Bun.argv.slice(2), options: { messages: { type: "string" }, parallel: { type: "string" }, root: { type: "string" } }, strict: true,
  });
  const r = await exportLoad({
    messages: Number(values.messages ?? 400_000),
    parallel: (values.parallel ?? "1,4").split(",").map(Number),
    root: values.root ? resolve(values.root) : ROOT,
  });
  console.log(JSON.stringify(r, null, 2));
}
