/**
 * clients.test.ts — the real client libraries against the real service on
 * loopback (a tiny generated kernel on the real engine): the `ollama` npm
 * client (list, show, ps, version, chat and generate streamed and not,
 * abort, load and unload) and the `openai` npm client (models list and
 * retrieve, chat streamed and not with max_tokens and stop, completions,
 * error messages); options on living-session turns; what a request cannot
 * use is reported; a front-end's housekeeping prompt never reaches memory.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { fixtureForTests } from "./server-fixture.ts";

const f = fixtureForTests("clients");
let url: string;
beforeAll(() => {
  url = f.listen().url;
});

const ollama = () => new Ollama({ host: url });
const openai = () => new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused-on-loopback", maxRetries: 0 });
const post = (path: string, body: unknown) =>
  fetch(url + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const stored = () => f.session.memory.messages.count();

describe("the ollama client", () => {
  test("list, show, ps and version describe the one kernel under its names", async () => {
    const o = ollama();
    const { models } = await o.list();
    expect(models.map((m) => m.name)).toEqual(["arianna:latest", "arianna:stateless"]);
    const show = await o.show({ model: "arianna" });
    expect((show.model_info as unknown as Record<string, number>)["llama.context_length"]).toBe(192);
    expect(show.capabilities).toContain("completion");
    expect(show.template).toContain("{{ .Prompt }}");
    expect(show.parameters).toMatch(/^temperature\s+0\.8$/m);
    expect(show.details.family).toBe("llama");
    expect((await o.show({ model: "arianna:latest" })).details.format).toBe(show.details.format);
    await expect(o.show({ model: "llama3" })).rejects.toThrow(/not found: this device serves arianna:latest/);
    const ps = await o.ps();
    expect(ps.models[0].name).toBe("arianna:latest");
    expect(new Date(ps.models[0].expires_at).getTime()).toBeGreaterThan(Date.now());
    expect((await o.version()).version).toMatch(/^\d+\.\d+\.\d+$/);
    await expect(o.pull({ model: "llama3" })).rejects.toThrow(/kernels arrive by rsync/);
    await expect(o.delete({ model: "arianna" })).rejects.toThrow(/kernels arrive by rsync/);
  });

  test("load and unload answer at once and store nothing", async () => {
    const o = ollama();
    const before = stored();
    const load = await o.chat({ model: "arianna", messages: [] });
    expect(load).toMatchObject({ done: true, done_reason: "load", message: { role: "assistant", content: "" } });
    expect((await o.generate({ model: "arianna", prompt: "" })).done_reason).toBe("load");
    expect((await o.generate({ model: "arianna", prompt: "", keep_alive: 0 })).done_reason).toBe("unload");
    expect((await o.chat({ model: "arianna", messages: [], keep_alive: "0s" })).done_reason).toBe("unload");
    expect(stored()).toBe(before);
  });

  test("chat, not streamed and streamed: done_reason is Ollama's and the stream equals the stored reply", async () => {
    const o = ollama();
    const r = await o.chat({ model: "arianna:latest", messages: [{ role: "user", content: "tell me about the river" }], options: { seed: 4 } });
    expect(["stop", "length"]).toContain(r.done_reason);
    expect(r.model).toBe("arianna:latest");
    expect(r.message.content).toBe(f.session.memory.messages.recent(1)[0].text);

    const stream = await o.chat({ model: "arianna", stream: true, messages: [{ role: "user", content: "and the sea" }], options: { seed: 5 } });
    let text = "";
    let last: any;
    for await (const part of stream) {
      text += part.message.content;
      last = part;
    }
    expect(["stop", "length"]).toContain(last.done_reason);
    expect(last.arianna.revised).toBe(text !== last.arianna.text);
    if (!last.arianna.revised) expect(text).toBe(f.session.memory.messages.recent(1)[0].text);
    expect(text).not.toMatch(/^\s|\n/);
  });

  test("generate streamed and not, and abort", async () => {
    const o = ollama();
    const g = await o.generate({ model: "arianna", prompt: "the sea", options: { seed: 2, num_predict: 6 } });
    expect(g.done_reason).toBe("length");
    expect(g.eval_count).toBe(6);
    let pieces = "";
    for await (const part of await o.generate({ model: "arianna", prompt: "the sea", stream: true, options: { seed: 2, num_predict: 6 } })) pieces += part.response ?? "";
    expect(pieces).toBe(g.response!);

    // the tiny kernel may finish before the abort lands: either way the client ends and the model is free
    const long = await o.generate({ model: "arianna", prompt: "on and on", stream: true, options: { num_predict: 100_000 } });
    let n = 0;
    await (async () => {
      for await (const _ of long) if (++n === 2) long.abort();
    })().catch((e) => expect(String(e)).toMatch(/abort/i));
    const free = performance.now();
    while (f.server.gate.busy && performance.now() - free < 5000) await Bun.sleep(5);
    expect(f.server.gate.busy).toBe(false);
  });
});

describe("embeddings", () => {
  const norm = (v: number[]) => Math.hypot(...v);

  test("the ollama client: embed (batched) and embeddings give unit vectors of the kernel's dim, the same for the same text", async () => {
    const o = ollama();
    const r = await o.embed({ model: "arianna", input: ["the river", "the sea", "the river"] });
    expect(r.embeddings).toHaveLength(3);
    expect(r.embeddings[0]).toHaveLength(32);
    for (const v of r.embeddings) expect(norm(v)).toBeCloseTo(1, 4);
    expect(r.embeddings[2]).toEqual(r.embeddings[0]);
    expect(r.embeddings[1]).not.toEqual(r.embeddings[0]);
    expect(r.prompt_eval_count).toBeGreaterThan(3);
    const one = await o.embeddings({ model: "arianna", prompt: "the river" });
    expect(one.embedding).toEqual(r.embeddings[0]);
    const short = await o.embed({ model: "arianna", input: "the river", dimensions: 8 });
    expect(short.embeddings[0]).toHaveLength(8);
    expect(norm(short.embeddings[0])).toBeCloseTo(1, 4);
  });

  test("the openai client: embeddings (base64 by default, and float) in order, with usage", async () => {
    const c = openai();
    const r = await c.embeddings.create({ model: "arianna", input: ["the river", "the sea"] });
    expect(r.data.map((d) => d.index)).toEqual([0, 1]);
    const floats = await c.embeddings.create({ model: "arianna", input: ["the river", "the sea"], encoding_format: "float" });
    for (const i of [0, 1]) {
      expect(r.data[i].embedding).toHaveLength(32);
      for (const [k, x] of r.data[i].embedding.entries()) expect(x).toBeCloseTo(floats.data[i].embedding[k], 6);
    }
    expect(r.usage.prompt_tokens).toBeGreaterThan(2);
    const empty = await c.embeddings.create({ model: "arianna", input: [] }).catch((e) => e);
    expect(empty).toBeInstanceOf(OpenAI.BadRequestError);
  });

  test("a text longer than the context keeps its start, or is refused with truncate: false", async () => {
    const long = "the river runs ".repeat(200);
    expect((await post("/api/embed", { model: "arianna", input: long })).status).toBe(200);
    const refused = await post("/api/embed", { model: "arianna", input: long, truncate: false });
    expect(refused.status).toBe(400);
    expect((await refused.json()).error).toContain("exceeds the context");
  });
});

describe("the openai client", () => {
  test("models list and retrieve; an unknown model is a 404 with OpenAI's error", async () => {
    const c = openai();
    expect((await c.models.list()).data.map((m) => m.id)).toEqual(["arianna", "arianna:stateless"]);
    expect((await c.models.retrieve("arianna:stateless")).id).toBe("arianna:stateless");
    const missing = await c.models.retrieve("gpt-4o").catch((e) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect(missing.message).toContain("does not exist");
  });

  test("errors carry message, type and param", async () => {
    const bad = await openai().chat.completions.create({ model: "arianna", messages: [{ role: "user", content: "x" }], temperature: 7 }).catch((e) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.message).toContain("temperature must be a number in [0, 2]");
    expect(bad.error).toMatchObject({ type: "invalid_request_error", param: "temperature" });
    const tools = await openai().chat.completions.create({
      model: "arianna", messages: [{ role: "user", content: "x" }],
      tools: [{ type: "function", function: { name: "f", parameters: {} } }],
    }).catch((e) => e);
    expect(tools.message).toContain("cannot call tools");
    const json = await openai().chat.completions.create({ model: "arianna", messages: [{ role: "user", content: "x" }], response_format: { type: "json_object" } }).catch((e) => e);
    expect(json.message).toContain("structured (JSON) output is not supported");
  });

  test("a living-session turn honours max_tokens and stop", async () => {
    const c = openai();
    const capped = await c.chat.completions.create({ model: "arianna", messages: [{ role: "user", content: "say a lot" }], max_tokens: 3, seed: 1 });
    expect(capped.usage!.completion_tokens).toBeLessThanOrEqual(3);
    for (const seed of [1, 2, 3]) {
      const stopped = await c.chat.completions.create({ model: "arianna", messages: [{ role: "user", content: "say a lot" }], seed, stop: ["e"] });
      expect(stopped.choices[0].message.content).not.toContain("e");
      expect(stopped.choices[0].message.content).toBe((stopped as any).arianna.text);
    }
  });

  test("chat streamed, and completions", async () => {
    const c = openai();
    const stream = await c.chat.completions.create({ model: "arianna", stream: true, messages: [{ role: "user", content: "sing" }], max_tokens: 20 });
    let text = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(["stop", "length"]).toContain(finish!);
    expect(text.length).toBeGreaterThan(0);
    const done = await c.completions.create({ model: "arianna", prompt: "once", max_tokens: 5, seed: 3 });
    expect(done.usage!.completion_tokens).toBeLessThanOrEqual(5);
  });

  test("history with tool calls, tool results and images is accepted; what was dropped is reported", async () => {
    const res = await post("/v1/chat/completions", {
      model: "arianna", max_tokens: 4, frequency_penalty: 0.5,
      messages: [
        { role: "user", content: [{ type: "text", text: "look" }, { type: "image_url", image_url: { url: "data:image/png;base64,AA==" } }] },
        { role: "assistant", content: null, tool_calls: [{ id: "1", type: "function", function: { name: "f", arguments: "{}" } }] },
        { role: "tool", tool_call_id: "1", content: "42" },
        { role: "user", content: "what do you see" },
      ],
    });
    expect(res.status).toBe(200);
    const ignored = res.headers.get("x-arianna-ignored")!;
    for (const part of ["frequency_penalty", "messages[0].content[1] (image_url part)", "messages[1].tool_calls", "messages[2] (tool result)"])
      expect(ignored).toContain(part);
    expect((await res.json()).ignored).toContain("frequency_penalty");
    // an SDK's default model id is served by the living kernel, and the answer says so
    const sdkDefault = await openai().chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
    expect(sdkDefault.model).toBe("arianna");
    expect((sdkDefault as any).ignored).toEqual(["model gpt-4o-mini (served as arianna)"]);
    const alias = await openai().chat.completions.create({ model: "arianna:stateless", messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
    expect(alias.model).toBe("arianna:stateless");
    expect((alias as any).ignored).toBeUndefined();
    const options = await post("/api/chat", { model: "arianna", stream: false, messages: [{ role: "user", content: "hi" }], options: { num_predict: 2, mirostat: 2, num_ctx: 4096 } });
    expect(options.headers.get("x-arianna-ignored")).toBe("options.mirostat, options.num_ctx");
  });

  test("a final assistant message: 400 on the living session, continued when stateless", async () => {
    const messages = [{ role: "user" as const, content: "hi" }, { role: "assistant" as const, content: "I was saying" }];
    const refused = await openai().chat.completions.create({ model: "arianna", messages }).catch((e) => e);
    expect(refused.message).toContain("the last message is the assistant's");
    const continued = await openai().chat.completions.create({ model: "arianna:stateless", messages, max_tokens: 4 });
    expect(continued.usage!.completion_tokens).toBeGreaterThan(0);
  });
});

describe("housekeeping never enters the conversation", () => {
  const TITLE = [
    "### Task:", "Generate a concise, 3-5 word title with an emoji summarizing the chat history.", "### Guidelines:",
    "- Keep it short.", "### Output:", 'JSON format: { "title": "your concise title here" }', "### Chat History:",
    "<chat_history>", "USER: tell me about the river", "ASSISTANT: the river runs", "</chat_history>",
  ].join("\n");

  test("a replayed Open WebUI title request leaves history and export unchanged", async () => {
    const history = await (await fetch(`${url}/api/history`)).text();
    const exported = await (await fetch(`${url}/api/export`)).text();
    for (const [path, body] of [
      ["/api/chat", { model: "arianna:latest", stream: false, messages: [{ role: "user", content: TITLE }], options: { num_predict: 8 } }],
      ["/v1/chat/completions", { model: "arianna", stream: true, messages: [{ role: "user", content: TITLE }], max_tokens: 8 }],
    ] as const) {
      const res = await post(path, body);
      expect(res.status).toBe(200);
      expect(res.headers.get("x-arianna-stateless")).toContain("open-webui");
      await res.text();
    }
    expect(await (await fetch(`${url}/api/history`)).text()).toBe(history);
    expect(await (await fetch(`${url}/api/export`)).text()).toBe(exported);
  });

  test("a request that names itself a front-end task (metadata.task) is stateless too", async () => {
    const before = stored();
    const res = await post("/v1/chat/completions", {
      model: "arianna", max_tokens: 4, metadata: { task: "tags_generation", chat_id: "x" }, messages: [{ role: "user", content: "any wording" }],
    });
    expect(res.headers.get("x-arianna-stateless")).toBe("front-end task tags_generation");
    expect((await res.json()).arianna).toBeUndefined();
    const odd = await post("/api/chat", { model: "arianna", stream: false, metadata: { task: "тэги\n" }, messages: [{ role: "user", content: "x" }], options: { num_predict: 2, "ключ": 1 } });
    expect(odd.status).toBe(200);
    expect(odd.headers.get("x-arianna-stateless")).toBe("front-end task ?????");
    expect(odd.headers.get("x-arianna-ignored")).toBe("options.????");
    expect(stored()).toBe(before);
  });

  test("the stateless model alias stores nothing", async () => {
    const before = stored();
    const r = await ollama().chat({ model: "arianna:stateless", messages: [{ role: "user", content: "a task prompt" }], options: { num_predict: 4 } });
    expect(r.model).toBe("arianna:stateless");
    expect((r as any).arianna).toBeUndefined();
    expect(stored()).toBe(before);
  });
});

test("GET / answers Ollama's banner to API clients and the page to browsers", async () => {
  expect(await (await fetch(`${url}/`)).text()).toBe("Ollama is running");
  expect(await (await fetch(`${url}/`, { headers: { accept: "text/html,application/xhtml+xml" } })).text()).toContain("<title>InnerArianna</title>");
});
