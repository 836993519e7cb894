/**
 * api-malformed.test.ts — a corpus of malformed requests against every
 * endpoint: each gets a 4xx with a JSON error, never a 5xx, and the server
 * keeps answering afterwards.
 */
import { expect, test } from "bun:test";
import { fixtureForTests } from "./server-fixture.ts";

const f = fixtureForTests("malformed", { server: { maxBodyBytes: 64 * 1024 } });

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
  // OpenAI's routes answer OpenAI's error object, the others a message
  expect(typeof (typeof body.error === "object" ? body.error.message : body.error)).toBe("string");
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

test("a prompt longer than the kernel's context is a 4xx; a long chat still gets an answer", async () => {
  const long = "the river runs ".repeat(400);
  for (const [path, body] of [
    ["/api/generate", { prompt: long, stream: false }],
    ["/v1/completions", { prompt: long }],
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
  // a stateless chat keeps the end of what it was sent, as Ollama does
  const stateless = await f.request("/api/chat", { method: "POST", body: JSON.stringify({ stateless: true, stream: false, messages: [{ role: "user", content: long }] }) });
  expect(stateless.status).toBe(200);
  expect((await stateless.json()).prompt_eval_count).toBeLessThanOrEqual(192);
});

// ---------------------------------------------------------------------------
// invalid UTF-8, out-of-range numbers (NaN, ±Infinity, 1e309, negatives), header abuse

const enc = (s: string) => new TextEncoder().encode(s);
const join = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) out.set(p, (i += p.length) - p.length);
  return out;
};
/** overlong NUL, a UTF-16 surrogate, 0xFF/0xFE, a truncated sequence */
const BAD_UTF8 = new Uint8Array([0xc0, 0x80, 0xed, 0xa0, 0x80, 0xff, 0xfe, 0xe2, 0x82]);
const POST_PATHS = ["/api/generate", "/api/chat", "/v1/chat/completions", "/v1/completions", "/api/reload"];

test("invalid UTF-8 as the body or inside the JSON structure gets a JSON 4xx on every POST endpoint", async () => {
  for (const path of POST_PATHS) {
    for (const body of [BAD_UTF8, join(enc("{"), BAD_UTF8, enc(":1}")), join(enc('{"prompt":"x"'), BAD_UTF8, enc("}")), join(BAD_UTF8, enc("{}"))]) {
      await expectClientError(await f.request(path, { method: "POST", body }), `${path} invalid UTF-8`);
    }
  }
});

// Issue 7, item 4: invalid UTF-8 inside a JSON string must not become U+FFFD in a stored turn:
// the body is refused with a 400.
test("invalid UTF-8 inside a message's text is refused, not stored as U+FFFD", async () => {
  const before = f.session.memory.messages.count();
  const body = join(enc('{"stream":false,"messages":[{"role":"user","content":"river '), BAD_UTF8, enc('"}]}'));
  const res = await f.request("/api/chat", { method: "POST", body });
  await res.text();
  expect(res.status).toBe(400);
  expect(f.session.memory.messages.count()).toBe(before);
});

test("NaN, ±Infinity, 1e309, negatives, hex and exponents in every paged query get a JSON 4xx", async () => {
  const BAD = ["NaN", "Infinity", "-Infinity", "-1", "-0", "1e309", "1e2", "0x10", "1.5", "%20%205", "%00", "%ff", "%", "9007199254740993", ""];
  let n = 0;
  for (const path of ["/api/history", "/api/episodes", "/api/metrics"]) {
    for (const param of ["limit", "before"]) {
      for (const v of BAD) {
        if (v === "" || (param === "limit" && v === "-0")) continue; // an empty value means the default
        await expectClientError(await f.request(`${path}?${param}=${v}`), `${path}?${param}=${v}`);
        n++;
      }
    }
  }
  for (const param of ["since", "until"]) {
    for (const v of BAD.filter((v) => v !== "" && v !== "-0")) {
      await expectClientError(await f.request(`/api/export?${param}=${v}`), `/api/export?${param}=${v}`);
      n++;
    }
  }
  expect(n).toBeGreaterThan(80);
});

test("1e309 (Infinity after JSON.parse), -1e309, 2^64 and negatives in every numeric body field get a JSON 4xx", async () => {
  const HUGE = ["1e309", "-1e309", "18446744073709551616", "-1", "-0.5", "1e-400"];
  const ollama = ["temperature", "top_p", "top_k", "seed", "num_predict", "repeat_penalty"];
  const openai = ["max_tokens", "max_completion_tokens", "temperature", "top_p", "seed"];
  let n = 0;
  for (const v of HUGE) {
    for (const k of ollama) {
      if (v === "1e-400" && ["temperature", "top_p", "top_k"].includes(k)) continue; // 0 is valid there
      if (v === "1e-400" && k === "seed") continue; // seed 0 is valid
      await expectClientError(await f.request("/api/generate", { method: "POST", body: `{"prompt":"x","options":{"${k}":${v}}}` }), `generate ${k}=${v}`);
      await expectClientError(await f.request("/api/chat", { method: "POST", body: `{"messages":[{"role":"user","content":"x"}],"options":{"${k}":${v}}}` }), `chat ${k}=${v}`);
      n += 2;
    }
    for (const k of openai) {
      if (v === "1e-400" && ["temperature", "top_p", "seed"].includes(k)) continue;
      await expectClientError(await f.request("/v1/completions", { method: "POST", body: `{"prompt":"x","${k}":${v}}` }), `completions ${k}=${v}`);
      await expectClientError(await f.request("/v1/chat/completions", { method: "POST", body: `{"messages":[{"role":"user","content":"x"}],"${k}":${v}}` }), `chat/completions ${k}=${v}`);
      n += 2;
    }
  }
  expect(n).toBeGreaterThan(100);
});

/** Bytes on a socket, the status line back (0 when the server just closed the connection). */
function raw(url: string, bytes: string | Uint8Array, timeoutMs = 5000): Promise<{ status: number; text: string }> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    let data = "";
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1] ?? 0), text: data });
    };
    Bun.connect({
      hostname: "127.0.0.1", port: Number(port),
      socket: {
        open: (s) => {
          s.write(bytes);
          setTimeout(() => (s.end(), finish()), timeoutMs);
        },
        data: (_s, d) => {
          data += new TextDecoder().decode(d);
        },
        close: finish,
        error: finish,
        connectError: finish,
      },
    });
  });
}

test("header abuse over a socket: a 4xx or a closed connection, never a 5xx, and the server lives on", async () => {
  const { url, stop } = f.listen();
  const body = '{"prompt":"x","stream":false,"options":{"num_predict":2}}';
  const head = (extra: string, b = body) => `POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${extra}\r\n${b}`;
  const cases: [string, string][] = [
    ["Content-Length: abc", head("Content-Length: abc\r\n")],
    ["Content-Length: -5", head("Content-Length: -5\r\n")],
    ["two different Content-Lengths", head(`Content-Length: ${body.length}\r\nContent-Length: 3\r\n`)],
    ["Content-Length and chunked", head(`Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n`)],
    ["bad chunk size", head("Transfer-Encoding: chunked\r\n", "zz\r\nabc\r\n0\r\n\r\n")],
    ["Transfer-Encoding: gzip, chunked", head("Transfer-Encoding: gzip, chunked\r\n", `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`)],
    ["a 64 KiB header", head(`X-Big: ${"a".repeat(64 * 1024)}\r\nContent-Length: ${body.length}\r\n`)],
    ["2000 headers", head(Array.from({ length: 2000 }, (_, i) => `X-H${i}: v\r\n`).join("") + `Content-Length: ${body.length}\r\n`)],
    ["a header without a colon", head(`Broken header line\r\nContent-Length: ${body.length}\r\n`)],
    ["a NUL in a header value", head(`X-Nul: a\u0000b\r\nContent-Length: ${body.length}\r\n`)],
    ["CR LF injection in a header", head(`X-A: a\rX-B: b\r\nContent-Length: ${body.length}\r\n`)],
    ["space before the colon", head(`Content-Length : ${body.length}\r\n`)],
    ["HTTP/9.9", `POST /api/generate HTTP/9.9\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`],
    ["an unknown method", `BREW /api/generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
    ["a 100 KiB request target", `GET /api/history?limit=${"9".repeat(100 * 1024)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
    ["garbage", "\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003 not http at all\r\n\r\n"],
    ["a short body under a long Content-Length", head("Content-Length: 5000\r\n")],
  ];
  const seen: Record<string, number> = {};
  for (const [name, bytes] of cases) {
    const r = await raw(url, bytes, name.includes("short body") ? 1500 : 5000);
    seen[name] = r.status;
    // 505 is HTTP's own answer to an unknown version (Bun answers it before the app)
    if (r.status >= 500 && !(name === "HTTP/9.9" && r.status === 505)) throw new Error(`${name}: ${r.status} ${r.text.slice(0, 200)}`);
    if (r.status === 200) throw new Error(`${name}: accepted (200)`);
  }
  // other header abuse that is harmless by design: loopback ignores Authorization; unknown content types are read as JSON
  for (const headers of [{ authorization: "Bearer \u00ff\u00fe" }, { "content-type": "application/xml" }, { accept: "x/y" }, { "x-forwarded-for": "1.2.3.4" }]) {
    const res = await fetch(`${url}/api/tags`, { headers: headers as unknown as Record<string, string> });
    expect(res.status).toBe(200);
  }
  console.log(`header abuse: ${JSON.stringify(seen)}`);
  expect((await fetch(`${url}/health`)).status).toBe(200);
  stop();
}, 60_000);
