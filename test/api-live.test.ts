/**
 * api-live.test.ts — a real Bun server on loopback: the official `openai`
 * client (streaming and not), NDJSON over the socket, and a client that
 * disconnects mid-generation (its generation stops at once and frees the
 * model). A slow stand-in model (real kernel info and tokenizer, one token
 * every 10 ms) makes the disconnect observable.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { Ollama } from "ollama";
import OpenAI from "openai";
import type { Engine, GenerationSummary, SamplingParams, TokenEvent } from "../src/engine/index.ts";
import type { ServedModel } from "../src/server/inference.ts";
import { fixtureForTests } from "./server-fixture.ts";
import { waitFor } from "./support/wait.ts";

/** The stand-in's i-th token: every fourth ends a sentence (a session turn streams whole sentences). */
const piece = (i: number) => (i % 4 === 3 ? "la. " : "la ");
const sung = (n: number) => Array.from({ length: n }, (_, i) => piece(i)).join("");

/** What the stand-in saw of each generation. */
const runs: { tokens: number; max: number; aborted: boolean; finished: boolean }[] = [];
let hidden = false;

function slowModel(engine: Engine): ServedModel & { tokenize: Engine["tokenize"] } {
  return {
    get info() {
      return hidden ? null : engine.info;
    },
    tokenize: (text, opts) => engine.tokenize(text, opts),
    embed: (texts, opts) => engine.embed(texts, opts),
    generate(_prompt, params: SamplingParams, signal?: AbortSignal) {
      const max = params.maxTokens ?? 500;
      const run = { tokens: 0, max, aborted: false, finished: false };
      runs.push(run);
      let settle!: (s: GenerationSummary) => void;
      const result = new Promise<GenerationSummary>((r) => (settle = r));
      async function* tokens(): AsyncGenerator<TokenEvent> {
        while (run.tokens < max && !signal?.aborted) {
          await Bun.sleep(10);
          run.tokens++;
          yield { id: 100, text: piece(run.tokens - 1), entropy: 0.5 };
        }
        run.aborted = !!signal?.aborted;
        run.finished = true;
        const text = sung(run.tokens);
        settle({
          promptTokens: 3, reusedTokens: 0, completionTokens: run.tokens, ttftMs: 10, prefillMs: 1, tokensPerSecond: 100,
          stopReason: run.aborted ? "cancelled" : "length", text, contextTokens: 3 + run.tokens,
        });
      }
      const iterator = tokens();
      return { result, [Symbol.asyncIterator]: () => iterator };
    },
  };
}

const f = fixtureForTests("api-live", { wrap: slowModel });
let url: string;
beforeAll(() => {
  url = f.listen().url;
});

const client = () => new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused-on-loopback", maxRetries: 0 });

describe("a live server on loopback", () => {
  test("health is 503 while no model is loaded", async () => {
    hidden = true;
    try {
      expect((await fetch(`${url}/health`)).status).toBe(503);
    } finally {
      hidden = false;
    }
    expect((await fetch(`${url}/health`)).status).toBe(200);
  });

  test("the openai client: completions and chat, not streamed", async () => {
    const openai = client();
    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toEqual(["arianna", "arianna:stateless"]);
    const c = await openai.completions.create({ model: "arianna", prompt: "la", max_tokens: 5, seed: 1 });
    expect(c.choices[0].text).toBe(sung(5));
    expect(c.usage?.completion_tokens).toBe(5);
    const chat = await openai.chat.completions.create({ model: "arianna", messages: [{ role: "user", content: "hello" }] });
    expect(chat.choices[0].message.content?.length).toBeGreaterThan(0);
    expect(chat.usage?.total_tokens).toBeGreaterThan(0);
  });

  test("the openai client: chat streamed, with usage", async () => {
    const stream = await client().chat.completions.create({
      model: "arianna", stream: true, stream_options: { include_usage: true },
      messages: [{ role: "user", content: "sing" }],
    });
    let text = "";
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(finish).toBe("length");
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  test("a client that disconnects mid-stream stops its generation at once", async () => {
    for (const [path, body] of [
      ["/api/generate", { prompt: "la", options: { num_predict: 400 } }],
      ["/api/chat", { messages: [{ role: "user", content: "go on and on" }] }],
      ["/v1/chat/completions", { stream: true, messages: [{ role: "user", content: "and on" }] }],
    ] as const) {
      const abort = new AbortController();
      const res = await fetch(url + path, { method: "POST", body: JSON.stringify(body), signal: abort.signal });
      const reader = res.body!.getReader();
      await reader.read(); // the first token arrived: the generation is running
      const run = runs.at(-1)!;
      abort.abort();
      await waitFor(() => run.finished, "the generation's end after the hang-up");
      expect(run.aborted).toBe(true);
      expect(run.tokens).toBeLessThan(run.max); // it stopped on the hang-up, not at its budget
      await waitFor(() => !f.server.gate.busy, "the gate's release");
    }
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/arianna_generations_total\{kind="session",outcome="cancelled"\} [1-9]/);
  });

  test("the ollama client's abort stops the generation at once", async () => {
    const o = new Ollama({ host: url });
    const stream = await o.generate({ model: "arianna", prompt: "la", stream: true, options: { num_predict: 400 } });
    const run = runs.at(-1)!;
    const ended = (async () => {
      for await (const _ of stream) o.abort(); // the first chunk: the generation is running
    })().then(() => "finished", (e: Error) => e.name);
    expect(await ended).toBe("AbortError");
    await waitFor(() => run.finished, "the aborted generation to end");
    expect(run.aborted).toBe(true);
    expect(run.tokens).toBeLessThan(60);
  });

  test("a non-streamed request whose client leaves is cancelled too", async () => {
    const abort = new AbortController();
    const pending = fetch(`${url}/api/generate`, {
      method: "POST", body: JSON.stringify({ prompt: "la", stream: false, options: { num_predict: 400 } }), signal: abort.signal,
    }).catch(() => "aborted");
    const run = await waitFor(() => runs.find((r) => !r.finished && r.tokens > 0), "a running generation with a token");
    abort.abort();
    expect(await pending).toBe("aborted");
    await waitFor(() => run.finished, "the generation's end after the hang-up");
    expect(run.aborted).toBe(true);
    expect(run.tokens).toBeLessThan(run.max); // it stopped on the hang-up, not at its budget
  });

  test("requests beyond the queue get 429 while one generates", async () => {
    const long = fetch(`${url}/api/generate`, { method: "POST", body: JSON.stringify({ prompt: "la", stream: false, options: { num_predict: 300 } }) }); // 3 s: the others surely queue behind it
    await waitFor(() => f.server.gate.busy, "the long generation's start");
    const queued = Array.from({ length: 4 }, () =>
      fetch(`${url}/api/generate`, { method: "POST", body: JSON.stringify({ prompt: "la", stream: false, options: { num_predict: 1 } }) }));
    await waitFor(() => f.server.gate.queued >= 4, "four queued requests");
    const refused = await fetch(`${url}/api/generate`, { method: "POST", body: JSON.stringify({ prompt: "la", stream: false }) });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBeTruthy();
    expect((await long).status).toBe(200);
    for (const r of await Promise.all(queued)) expect(r.status).toBe(200);
  });
});
