/**
 * py-clients.test.ts — the official Python clients (openai, ollama; pinned in
 * tools/py-clients/requirements.txt, installed by tools/py-clients/setup.sh)
 * against the real service on loopback, through tools/py-clients/check.py.
 * Skipped, with a note, where that environment is not installed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { openFixture, type Fixture } from "./server-fixture.ts";

const DIR = join(import.meta.dir, "..", "tools", "py-clients");
const PYTHON = join(DIR, ".venv", "bin", "python");
const available = existsSync(PYTHON);
if (!available) console.warn(`py-clients: no ${PYTHON} (bash tools/py-clients/setup.sh); skipping`);

let f: Fixture;
let url: string;
beforeAll(async () => {
  if (!available) return;
  f = await openFixture("py-clients");
  url = f.listen().url;
});
afterAll(() => f?.close());

test.skipIf(!available)("the Python openai and ollama clients work against the service", async () => {
  const run = Bun.spawn([PYTHON, join(DIR, "check.py"), url], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(run.stdout).text(), new Response(run.stderr).text(), run.exited]);
  if (code !== 0) throw new Error(`check.py exited ${code}: ${stderr.slice(-2000)}`);
  const r = JSON.parse(stdout);
  expect(r.ollama_list).toEqual(["arianna:latest", "arianna:stateless"]);
  expect(r.ollama_show_context).toBe(192);
  expect(r.ollama_show_capabilities).toEqual(["completion", "embedding"]);
  expect(r.ollama_ps).toContain("arianna:latest");
  expect([r.ollama_load, r.ollama_unload]).toEqual(["load", "unload"]);
  expect(r.ollama_chat.eval_count).toBeLessThanOrEqual(6);
  expect(["stop", "length"]).toContain(r.ollama_chat.done_reason);
  expect(r.ollama_chat_streamed.length).toBeGreaterThan(0);
  expect(r.ollama_generate).toEqual({ eval_count: 5, done_reason: "length" });
  expect(r.ollama_embed).toEqual([32, 32]);
  expect(r.ollama_show_missing.status).toBe(404);
  expect(r.openai_models).toEqual(["arianna", "arianna:stateless"]);
  expect(r.openai_retrieve).toBe("arianna");
  expect(r.openai_chat.completion_tokens).toBeLessThanOrEqual(4);
  expect(r.openai_chat_streamed.length).toBeGreaterThan(0);
  expect(r.openai_completion_tokens).toBeLessThanOrEqual(3);
  expect(r.openai_embeddings).toEqual([32, 32]);
  // the SDK shows the server's message, not just "Error code: 400"
  expect(r.openai_error.message).toContain("temperature must be a number in [0, 2]");
  expect(r.openai_error.param).toBe("temperature");
  // what the Python clients said went into the living session like any other turn
  expect(f.session.memory.messages.recent(20).some((m) => m.text === "hello from python")).toBe(true);
}, 60_000);
