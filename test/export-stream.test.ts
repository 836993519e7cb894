/**
 * export-stream.test.ts — GET /api/export on a large history is streamed a page
 * at a time and never holds the service (issue 15, case 12): on the real
 * service, a /health asked after a 30 k-message export started is answered
 * before the export has finished. The figures on 400 k messages (RSS, /health
 * latency) come from tools/reliability/export-load.ts.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openMemory } from "../src/memory/index.ts";
import { startService, tempDir, TINY, writeKernel, type Service } from "../tools/reliability/service.ts";

const home = tempDir("export-stream");
let svc: Service;
beforeAll(async () => {
  await writeKernel(join(home, "models", "current"), TINY);
  const memory = openMemory(join(home, "resonance.sqlite3"));
  const episode = Number(memory.db.prepare("INSERT INTO episodes (started_at) VALUES (0)").run().lastInsertRowid);
  const insert = memory.db.prepare("INSERT INTO messages (ts, role, text, episode_id, flags) VALUES (?, ?, ?, ?, 0)");
  memory.atomically(() => {
    for (let i = 0; i < 30_000; i++) insert.run(i, i % 2 ? "arianna" : "user", `an ordinary line of the conversation, number ${i}`, episode);
  });
  memory.close();
  svc = await startService(home);
}, 60_000);
afterAll(async () => {
  await svc?.kill("SIGTERM");
  rmSync(home, { recursive: true, force: true });
});

test("a /health asked during a large export is answered before the export ends", async () => {
  const order: string[] = [];
  const res = await fetch(`${svc.url}/api/export`);
  const exported = res.text().then((text) => (order.push("export"), text.trimEnd().split("\n").length));
  const health = await fetch(`${svc.url}/health`).then((r) => (order.push("health"), r.status));
  expect(health).toBe(200);
  expect(await exported).toBe(30_001);
  expect(order).toEqual(["health", "export"]);
}, 60_000);
