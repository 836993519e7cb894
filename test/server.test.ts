/**
 * server.test.ts — the HTTP face through app.request on a real Engine with a
 * tiny generated kernel: Ollama and OpenAI shapes, the living session, the
 * device's own endpoints, metrics, the queue and the auth rule.
 */
import { describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { ensureToken, isLoopback, tokenMatches } from "../src/server/auth.ts";
import { InferenceGate, Busy } from "../src/server/gate.ts";
import { fixtureForTests, ndjson, sse } from "./server-fixture.ts";

const f = fixtureForTests("server");

describe("ollama shapes", () => {
  test("health and tags describe the loaded kernel", async () => {
    const health = await f.request("/health");
    expect(health.status).toBe(200);
    expect((await health.json()).status).toBe("ok");
    const tags = await (await f.request("/api/tags")).json();
    expect(tags.models.map((m: { name: string }) => m.name)).toEqual(["arianna:latest", "arianna:stateless"]);
    expect(tags.models[0].details.quantization_level).toBe("F32");
  });

  test("generate is stateless: seeded output repeats, options apply, memory is untouched", async () => {
    const before = f.session.memory.messages.count();
    const body = { prompt: "hello there", stream: false, options: { temperature: 0.7, seed: 5, num_predict: 12 } };
    const a = await (await f.post("/api/generate", body)).json();
    const b = await (await f.post("/api/generate", body)).json();
    expect(a.done).toBe(true);
    expect(a.eval_count).toBeGreaterThan(0);
    expect(a.eval_count).toBeLessThanOrEqual(12);
    expect(a.response).toBe(b.response);
    expect(a.total_duration).toBeGreaterThan(0);
    expect(f.session.memory.messages.count()).toBe(before);
  });

  test("generate streams NDJSON whose pieces add up to the text", async () => {
    const res = await f.post("/api/generate", { prompt: "the sea", options: { seed: 2, num_predict: 10 } });
    expect(res.headers.get("content-type")).toContain("application/x-ndjson");
    const lines = await ndjson(res);
    const last = lines.at(-1);
    expect(last.done).toBe(true);
    expect(last.eval_count).toBeGreaterThan(0);
    const whole = await (await f.post("/api/generate", { prompt: "the sea", stream: false, options: { seed: 2, num_predict: 10 } })).json();
    expect(lines.slice(0, -1).map((l) => l.response).join("")).toBe(whole.response);
  });

  test("chat appends the last user message to the living session and reports leo", async () => {
    const before = f.session.memory.messages.count();
    const res = await f.post("/api/chat", {
      messages: [{ role: "user", content: "an old line the device already has" }, { role: "user", content: "tell me about the river" }],
      stream: false,
    });
    expect(res.status).toBe(200);
    const r = await res.json();
    expect(r.done).toBe(true);
    expect(r.message.role).toBe("assistant");
    expect(r.message.content).toBe(r.arianna.text);
    expect(r.arianna.message_id).toBeGreaterThan(0);
    expect(typeof r.arianna.presence.pulse).toBe("number");
    expect(typeof r.arianna.trauma.score).toBe("number");
    expect(Array.isArray(r.arianna.themes)).toBe(true);
    expect(Array.isArray(r.arianna.highlights)).toBe(true);
    // only the last user message joins: one user message and one reply
    expect(f.session.memory.messages.count()).toBe(before + 2);
    const stored = f.session.memory.messages.get(r.arianna.message_id)!;
    expect(stored.text).toBe(r.arianna.text);
    expect(f.session.memory.messages.get(stored.id - 1)!.text).toBe("tell me about the river");
  });

  test("a streamed chat sends the first candidate live and the stored reply in the last chunk", async () => {
    const lines = await ndjson(await f.post("/api/chat", { messages: [{ role: "user", content: "sing to me" }] }));
    const last = lines.at(-1);
    expect(last.done).toBe(true);
    const streamed = lines.filter((l) => !l.done && !l.arianna).map((l) => l.message.content).join("");
    expect(last.arianna.text).toBe(f.session.memory.messages.get(last.arianna.message_id)!.text);
    // honest: `revised` says exactly whether the stored reply differs from what streamed
    expect(last.arianna.revised).toBe(last.arianna.text !== streamed);
    const resamples = lines.filter((l) => l.arianna?.resampling);
    expect(resamples.length).toBe(last.arianna.candidates - 1);
  });

  test("a streamed status line means the user message is stored; a full store answers 507 before any byte", async () => {
    // the headers alone: the message must already be in SQLite when they arrive
    const res = await f.post("/api/chat", { messages: [{ role: "user", content: "headers mean stored" }], options: { num_predict: 4 } });
    expect(res.status).toBe(200);
    expect(f.session.memory.messages.recent(3).some((m) => m.role === "user" && m.text === "headers mean stored")).toBe(true);
    await res.text();

    // a real SQLITE_FULL: the database may not grow by a single page
    const db = f.session.memory.db;
    const pages = (db.query("PRAGMA page_count").get() as { page_count: number }).page_count;
    db.run(`PRAGMA max_page_count = ${pages}`);
    try {
      const before = f.session.memory.messages.count();
      const text = `too much to store ${"x".repeat(20_000)}`;
      for (const [path, body] of [
        ["/api/chat", { messages: [{ role: "user", content: text }] }],
        ["/v1/chat/completions", { stream: true, messages: [{ role: "user", content: text }] }],
      ] as const) {
        const full = await f.post(path, body);
        expect(full.status).toBe(507);
        const { error } = await full.json();
        expect(path.startsWith("/v1") ? error.message : error).toMatch(/storage is full/);
      }
      expect(f.session.memory.messages.count()).toBe(before);
    } finally {
      db.run("PRAGMA max_page_count = 1073741823");
    }
    const after = await f.post("/api/chat", { stream: false, messages: [{ role: "user", content: "room again" }], options: { num_predict: 4 } });
    expect(after.status).toBe(200);
  });

  test("a stateless chat uses the kernel's template and leaves memory alone", async () => {
    const before = f.session.memory.messages.count();
    const r = await (await f.post("/api/chat", {
      stateless: true, stream: false, options: { seed: 1, num_predict: 8 },
      messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hi" }, { role: "assistant", content: "hello" }, { role: "user", content: "how are you" }],
    })).json();
    expect(r.done).toBe(true);
    expect(r.arianna).toBeUndefined();
    expect(r.eval_count).toBeLessThanOrEqual(8);
    expect(f.session.memory.messages.count()).toBe(before);
  });
});

describe("openai shapes", () => {
  test("models, completions and chat completions, with usage", async () => {
    const models = await (await f.request("/v1/models")).json();
    expect(models.data[0].id).toBe("arianna");
    const c = await (await f.post("/v1/completions", { prompt: "once", max_tokens: 6, seed: 3 })).json();
    expect(c.object).toBe("text_completion");
    expect(c.usage.completion_tokens).toBeLessThanOrEqual(6);
    expect(c.usage.total_tokens).toBe(c.usage.prompt_tokens + c.usage.completion_tokens);
    const chat = await (await f.post("/v1/chat/completions", { messages: [{ role: "user", content: [{ type: "text", text: "hello" }] }] })).json();
    expect(chat.object).toBe("chat.completion");
    expect(chat.choices[0].message.content).toBe(chat.arianna.text);
    expect(["stop", "length"]).toContain(chat.choices[0].finish_reason);
  });

  test("SSE streams end with a finish_reason chunk, usage and [DONE]", async () => {
    const res = await f.post("/v1/chat/completions", { stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "again" }] });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const { events, done } = await sse(res);
    expect(done).toBe(true);
    const finish = events.find((e) => e.choices[0]?.finish_reason);
    expect(finish.arianna.message_id).toBeGreaterThan(0);
    expect(events.at(-1).choices).toEqual([]);
    expect(events.at(-1).usage.completion_tokens).toBe(finish.usage.completion_tokens);
    const stop = await (await f.post("/v1/completions", { prompt: "a", max_tokens: 40, seed: 4, stop: ["e"] })).json();
    expect(stop.choices[0].text).not.toContain("e");
  });
});

describe("the device's own endpoints", () => {
  test("status, history pages, episodes and the per-turn series", async () => {
    const status = await (await f.request("/api/status")).json();
    expect(status.model.kernel_name).toBe("test-kernel");
    expect(status.memory.messages).toBeGreaterThanOrEqual(6);
    expect(status.last_turn.message_id).toBeGreaterThan(0);
    const page1 = await (await f.request("/api/history?limit=2")).json();
    expect(page1.messages).toHaveLength(2);
    expect(page1.messages[0].id).toBeGreaterThan(page1.messages[1].id);
    const page2 = await (await f.request(`/api/history?limit=2&before=${page1.next_before}`)).json();
    expect(page2.messages[0].id).toBeLessThan(page1.messages[1].id);
    const episodes = await (await f.request("/api/episodes")).json();
    expect(episodes.episodes[0].messages).toBeGreaterThan(0);
    const series = await (await f.request("/api/metrics?limit=100")).json();
    expect(series.turns.length).toBe(f.session.memory.metrics.recent(100).length);
    expect(series.turns[0].message_id).toBeLessThan(series.turns.at(-1).message_id);
    for (const key of ["presence_pulse", "trauma", "novelty", "arousal"]) expect(typeof series.turns[0][key]).toBe("number");
  });

  test("export is NDJSON the trainer reads: episodes, then messages, within ?since=&until=", async () => {
    const res = await f.request("/api/export");
    expect(res.headers.get("content-type")).toContain("application/x-ndjson");
    const rows = await ndjson(res);
    const messages = rows.filter((r) => r.type === "message");
    expect(messages.length).toBe(f.session.memory.messages.count());
    expect(rows.filter((r) => r.type === "episode").length).toBeGreaterThan(0);
    expect(Object.keys(messages[0]).sort()).toEqual(["episode_id", "flags", "id", "quality", "role", "saved", "text", "ts", "type"]);
    const none = await (await f.request("/api/export?until=1")).text();
    expect(none).toBe("");
  });

  test("reload, rollback and a failed reload (409), seen in status and /metrics", async () => {
    const ok = await f.post("/api/reload", {});
    expect(ok.status).toBe(200);
    expect((await ok.json()).event.trigger).toBe("api");
    const back = await (await f.post("/api/reload", { rollback: true })).json();
    expect(back.event.trigger).toBe("rollback");
    f.registry.failNext = "sha256 mismatch";
    const failed = await f.request("/api/reload", { method: "POST" });
    expect(failed.status).toBe(409);
    expect((await failed.json()).error).toBe("sha256 mismatch");
    const status = await (await f.request("/api/status")).json();
    expect(status.reloads).toBe(2);
    expect(status.reload_events.map((e: any) => e.ok)).toEqual([true, true, false]);
    const metrics = await (await f.request("/metrics")).text();
    expect(metrics).toContain("arianna_reloads_total 2");
    expect(metrics).toMatch(/arianna_completion_tokens_total [1-9]/);
    expect(metrics).toMatch(/arianna_http_requests_total\{route="\/api\/chat",status="200"\} \d+/);
    expect(metrics).toContain("arianna_queue_depth 0");
    expect(metrics).toMatch(/arianna_presence_pulse [\d.]+/);
  });

  test("the web page and its files are served without a token", async () => {
    for (const path of ["/", "/app.js", "/style.css"]) {
      const res = await f.server.app.request(path);
      expect(res.status).toBe(200);
    }
    expect(await (await f.server.app.request("/", { headers: { accept: "text/html" } })).text()).toContain("<title>InnerArianna</title>");
  });
});

describe("load", () => {
  test("the gate runs one at a time, queues a few, refuses the rest with Retry-After", async () => {
    const gate = new InferenceGate(1);
    const a = gate.enter();
    await a.ready;
    const b = gate.enter();
    expect(() => gate.enter()).toThrow(Busy);
    a.release();
    await b.ready;
    b.release();
    // a queued request whose client leaves gives its place up
    const c = gate.enter();
    await c.ready;
    const leaving = new AbortController();
    const d = gate.enter(leaving.signal);
    leaving.abort();
    await expect(d.ready).rejects.toBeDefined();
    expect(gate.queued).toBe(0);
    c.release();
    expect(gate.busy).toBe(false);
  });

  test("over HTTP: beyond the queue a request gets 429 with Retry-After", async () => {
    const { gate } = f.server;
    const holders = [gate.enter(), ...Array.from({ length: 4 }, () => gate.enter())];
    try {
      const res = await f.post("/api/generate", { prompt: "x", stream: false });
      expect(res.status).toBe(429);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      expect((await f.request("/metrics").then((r) => r.text()))).toContain("arianna_queue_depth 4");
    } finally {
      for (const h of holders) h.release();
    }
  });
});

describe("auth", () => {
  test("loopback rule", () => {
    for (const a of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]) expect(isLoopback(a)).toBe(true);
    for (const a of [undefined, "", "10.0.0.2", "192.168.1.5", "::ffff:10.0.0.1", "fe80::1", "128.0.0.1", "127.0.0.1.evil"]) expect(isLoopback(a)).toBe(false);
  });

  test("token compare and the token file (0600, made once)", () => {
    expect(tokenMatches(f.token, f.token)).toBe(true);
    expect(tokenMatches(f.token.slice(1) + "x", f.token)).toBe(false);
    expect(tokenMatches("short", f.token)).toBe(false);
    const home = join(f.root, "home");
    expect(statSync(join(home, "api-token")).mode & 0o777).toBe(0o600);
    expect(ensureToken(home)).toBe(f.token);
  });

  test("an unknown or non-loopback client without the token gets 401; with it, 200", async () => {
    const bare = await f.server.app.request("/api/status");
    expect(bare.status).toBe(401);
    expect(bare.headers.get("www-authenticate")).toContain("Bearer");
    const wrong = await f.server.app.request("/health", { headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
    expect((await f.request("/api/status")).status).toBe(200);
  });
});
