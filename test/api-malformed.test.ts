/**
 * api-malformed.test.ts — a corpus of malformed requests against every
 * endpoint: each gets a 4xx with a JSON error, never a 5xx, and the server
 * keeps answering afterwards.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { openFixture, type Fixture } from "./server-fixture.ts";

let f: Fixture;
beforeAll(async () => {
  f = await openFixture("malformed", { server: { maxBodyBytes: 64 * 1024 } });
});
afterAll(() => f.close());

const NOT_JSON = ["", "{", "{not json", "nul", "\u0000\u0001", "{\"a\":1}}", "[1,2", "\"unterminated"];
const NOT_OBJECTS = ["[]", "null", "1", "\"text\"", "true", "[{}]"];
const sampling = [
  { temperature: -1 }, { temperature: "hot" }, { temperature: 1e9 }, { top_p: 2 }, { top_k: 1.5 }, { top_k: -3 },
  { seed: -1 }, { seed: 1.5 }, { num_predict: 0 }, { num_predict: "ten" }, { stop: [""] }, { stop: [1] }, { stop: {} },
  { repeat_penalty: 0 }, { stop: Array(20).fill("x") },
];

const ollamaGenerate = [
  {}, { prompt: 3 }, { prompt: null }, { prompt: ["a"] }, { prompt: "x", stream: "yes" }, { prompt: "x", model: 7 },
  { prompt: "x", options: "fast" }, { prompt: "x", options: [] }, { prompt: "x".repeat(70_000) },
  ...sampling.map((options) => ({ prompt: "x", options })),
];
const ollamaChat = [
  {}, { messages: [] }, { messages: "hi" }, { messages: [null] }, { messages: [{ role: "user" }] },
  { messages: [{ role: "robot", content: "x" }] }, { messages: [{ role: "user", content: 5 }] },
  { messages: [{ role: "assistant", content: "I spoke last" }] }, { messages: [{ role: "user", content: "   " }] },
  { messages: [{ role: "user", content: "x" }], stateless: "no" }, { messages: Array(300).fill({ role: "user", content: "x" }) },
  { messages: [{ role: "user", content: [{ type: "image_url", image_url: "x" }] }] },
  ...sampling.map((options) => ({ messages: [{ role: "user", content: "x" }], options })),
];
const openaiChat = [
  {}, { messages: [] }, { messages: [{ role: "user", content: "x" }], n: 2 }, { messages: [{ role: "user", content: "x" }], max_tokens: 0 },
  { messages: [{ role: "user", content: "x" }], temperature: 3 }, { messages: [{ role: "user", content: "x" }], stop: 5 },
  { messages: [{ role: "user", content: "x" }], stream: 1 }, { messages: [{ role: "user", content: "x" }], stream_options: "yes" },
  { messages: [{ role: "user", content: [{ type: "text", text: 5 }] }] }, { messages: [{ role: "tool", content: "x" }] },
];
const openaiCompletion = [
  {}, { prompt: 5 }, { prompt: ["a", "b"] }, { prompt: "x", max_tokens: -1 }, { prompt: "x", seed: "s" }, { prompt: "x", n: 3 },
  { prompt: "x", top_p: -0.1 }, { prompt: "x", stop: [""] },
];
const reload = [{ rollback: "yes" }, { rollback: 1 }];

const POSTS: [string, unknown[]][] = [
  ["/api/generate", ollamaGenerate], ["/api/chat", ollamaChat], ["/v1/chat/completions", openaiChat],
  ["/v1/completions", openaiCompletion], ["/api/reload", reload],
];
const GETS = [
  "/api/history?limit=0", "/api/history?limit=-1", "/api/history?limit=abc", "/api/history?limit=100000", "/api/history?before=1e3",
  "/api/episodes?before=-5", "/api/episodes?limit=1.5", "/api/metrics?limit=%00", "/api/metrics?before=99999999999999999999",
  "/api/export?since=yesterday", "/api/export?until=-1", "/api/nothing", "/v1/nothing", "/../../etc/passwd",
];

async function expectClientError(res: Response, what: string) {
  if (res.status < 400 || res.status >= 500) throw new Error(`${what}: status ${res.status} ${await res.text()}`);
  const body = await res.json();
  expect(typeof body.error).toBe("string");
}

test("malformed bodies on every POST endpoint get a JSON 4xx", async () => {
  let n = 0;
  for (const [path, corpus] of POSTS) {
    const bodies = [...(path === "/api/reload" ? NOT_JSON.slice(1) : NOT_JSON), ...NOT_OBJECTS, ...corpus.map((b) => JSON.stringify(b))];
    for (const body of bodies) {
      const res = await f.request(path, { method: "POST", body });
      await expectClientError(res, `${path} ${body.slice(0, 60)}`);
      n++;
    }
  }
  expect(n).toBeGreaterThan(120);
});

test("bad queries, unknown routes and wrong methods get a JSON 4xx", async () => {
  for (const path of GETS) await expectClientError(await f.request(path), path);
  for (const path of ["/api/chat", "/api/generate", "/v1/chat/completions", "/api/reload"]) await expectClientError(await f.request(path), `GET ${path}`);
  for (const path of ["/health", "/metrics", "/api/status", "/api/tags", "/v1/models", "/api/history"])
    await expectClientError(await f.request(path, { method: "POST", body: "{}" }), `POST ${path}`);
  await expectClientError(await f.request("/api/status", { method: "DELETE" }), "DELETE");
});

test("an oversized body is refused with 413, declared or chunked", async () => {
  const big = JSON.stringify({ prompt: "x".repeat(100_000) });
  for (const path of ["/api/generate", "/api/chat", "/v1/chat/completions", "/v1/completions", "/api/reload"]) {
    const res = await f.request(path, { method: "POST", body: big });
    expect(res.status).toBe(413);
  }
  // over a socket, without a Content-Length
  const { url } = f.listen();
  const chunks = new ReadableStream({
    start(c) {
      for (let i = 0; i < 20; i++) c.enqueue(new TextEncoder().encode("x".repeat(8192)));
      c.close();
    },
  });
  const res = await fetch(`${url}/api/generate`, { method: "POST", body: chunks });
  expect(res.status).toBe(413);
});

test("after all that, the server still answers and nothing reached the session", async () => {
  expect((await f.request("/health")).status).toBe(200);
  expect(f.session.memory.messages.count()).toBe(0);
  const metrics = await (await f.request("/metrics")).text();
  expect(metrics).not.toMatch(/status="5\d\d"/);
});

test("a prompt longer than the kernel's context is a 4xx; a long chat message still gets an answer", async () => {
  const long = "the river runs ".repeat(400);
  for (const [path, body] of [
    ["/api/generate", { prompt: long, stream: false }],
    ["/v1/completions", { prompt: long }],
    ["/api/chat", { stateless: true, stream: false, messages: [{ role: "user", content: long }] }],
  ] as const) {
    await expectClientError(await f.request(path, { method: "POST", body: JSON.stringify(body) }), path);
  }
  const streamed = await f.request("/api/generate", { method: "POST", body: JSON.stringify({ prompt: long }) });
  expect(streamed.status).toBe(200);
  expect(JSON.parse((await streamed.text()).trim().split("\n").at(-1)!).error).toBeString();
  // the living session fits what it can of a long message into the context
  const turn = await f.request("/api/chat", { method: "POST", body: JSON.stringify({ stream: false, messages: [{ role: "user", content: long }] }) });
  expect(turn.status).toBe(200);
  expect((await turn.json()).arianna.message_id).toBeGreaterThan(0);
});
