/**
 * server.test.ts — the HTTP face on a real Engine: through app.request and
 * through a real Bun server on loopback.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../src/engine/index.ts";
import { createApp } from "../src/server/app.ts";
import { writeModelDir } from "../tools/gen-model.ts";

let root: string;
let engine: Engine;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "arianna-server-"));
  writeModelDir(join(root, "m"), {
    dim: 64, hiddenDim: 192, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 512, seqLen: 128, format: 2, groupSize: 32,
  });
  engine = await Engine.open({ threads: 1 });
  app = createApp(engine);
});

afterAll(async () => {
  await engine.close();
  rmSync(root, { recursive: true, force: true });
});

const post = (body: unknown) =>
  app.request("/api/generate", { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body) });

describe("http", () => {
  test("health is 503 until a model is loaded, then 200", async () => {
    expect((await app.request("/health")).status).toBe(503);
    await engine.load(join(root, "m"));
    const res = await app.request("/health");
    expect(res.status).toBe(200);
    expect((await res.json()).status).toBe("ok");
  });

  test("tags lists the loaded model", async () => {
    const tags = await (await app.request("/api/tags")).json();
    expect(tags.models).toHaveLength(1);
    expect(tags.models[0].details.quantization_level).toBe("Q8_0/g32");
  });

  test("generate, not streamed: seeded output repeats, counts are reported", async () => {
    const body = { prompt: "hello there", stream: false, options: { temperature: 0, num_predict: 12 } };
    const a = await (await post(body)).json();
    const b = await (await post(body)).json();
    expect(a.done).toBe(true);
    expect(a.eval_count).toBeGreaterThan(0);
    expect(a.eval_count).toBeLessThanOrEqual(12);
    expect(a.response).toBe(b.response);
  });

  test("generate, streamed as NDJSON, ends with a done chunk", async () => {
    const res = await post({ prompt: "the sea", options: { temperature: 0, num_predict: 10 } });
    expect(res.headers.get("content-type")).toContain("application/x-ndjson");
    const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.at(-1).done).toBe(true);
    expect(lines.slice(0, -1).every((l) => l.done === false && typeof l.response === "string")).toBe(true);
  });

  test("bad requests get a clear 4xx, never a 5xx", async () => {
    const bad: unknown[] = [
      "{not json", "[]", "null", { prompt: 3 }, {}, { prompt: "x", stream: "yes" },
      { prompt: "x", options: { temperature: -1 } }, { prompt: "x", options: { top_k: 1.5 } },
      { prompt: "x", options: { num_predict: 0 } }, { prompt: "x", options: "fast" },
      { prompt: "x", options: { stop: [""] } }, { prompt: "x", model: 7 },
    ];
    for (const body of bad) {
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(typeof (await res.json()).error).toBe("string");
    }
    const big = await app.request("/api/generate", {
      method: "POST", body: "x", headers: { "content-length": String(2 << 20) },
    });
    expect(big.status).toBe(413);
  });

  test("a real server on loopback streams tokens", async () => {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/api/generate`, {
        method: "POST", body: JSON.stringify({ prompt: "once", options: { temperature: 0, num_predict: 8 } }),
      });
      expect(res.status).toBe(200);
      const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
      expect(lines.at(-1).done).toBe(true);
      expect(lines.at(-1).eval_count).toBeGreaterThan(0);
    } finally {
      server.stop(true);
    }
  });
});
