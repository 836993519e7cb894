/**
 * openai.ts — OpenAI's shapes: /v1/chat/completions (the living session, or
 * stateless with `"stateless": true` or the stateless model), /v1/completions
 * (stateless), /v1/embeddings, /v1/models and /v1/models/{id}. Streaming is SSE ending in
 * `data: [DONE]`; the chunk with the finish_reason carries usage and, for
 * session turns, the `arianna` object. Every error under /v1 has OpenAI's
 * shape, {"error": {"message", "type", "param", "code"}} (openaiErrors).
 */
import { Hono, type MiddlewareHandler } from "hono";
import type { StopReason } from "../engine/index.ts";
import type { Outcome } from "./inference.ts";
import { admitRequest, body, embedRequest, HttpError, streamed, type ServerDeps } from "./http.ts";
import { servedNames } from "./names.ts";
import { parseEmbed, parseOpenAIChat, parseOpenAICompletion } from "./schemas.ts";

const SSE = "text/event-stream";
const event = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const DONE = "data: [DONE]\n\n";
const finishReason = (r: StopReason) => (r === "length" ? "length" : "stop");
const usage = (o: Outcome) => ({ prompt_tokens: o.promptTokens, completion_tokens: o.completionTokens, total_tokens: o.promptTokens + o.completionTokens });
const failure = (message: string) => event({ error: { message, type: "server_error", param: null, code: null } });

const ERROR_TYPES: Record<number, string> = { 401: "authentication_error", 403: "permission_error", 429: "rate_limit_error" };

/**
 * OpenAI's error object for a message: `param` is the field a validation
 * message starts with (schemas.ts names the field first), `code` the
 * engine's code when there is one.
 */
export function openaiError(status: number, message: string, code?: unknown) {
  const param = /^([a-z_]+(?:\[\d+\]|\.[a-z_]+)*)(?::| must | is | holds )/.exec(message)?.[1] ?? null;
  const type = ERROR_TYPES[status] ?? (status >= 500 ? "server_error" : "invalid_request_error");
  return { error: { message, type, param, code: typeof code === "string" ? code : status === 404 ? "not_found" : null } };
}

/** Rewrites every JSON error under /v1 (validation, auth, body limit, 404, 429, engine) into OpenAI's shape. */
export const openaiErrors: MiddlewareHandler = async (c, next) => {
  await next();
  if (c.res.status < 400 || !c.res.headers.get("content-type")?.includes("application/json")) return;
  const original = c.res;
  const body = (await original.clone().json().catch(() => null)) as { error?: unknown; code?: unknown } | null;
  if (typeof body?.error !== "string") return;
  const headers = new Headers(original.headers); // Retry-After, WWW-Authenticate, X-Arianna-*
  headers.delete("content-length");
  c.res = undefined; // replace, not merge: Hono would copy the old headers back
  c.res = new Response(JSON.stringify(openaiError(original.status, body.error, body.code)), { status: original.status, headers });
};

export function openaiRoutes(routes: ServerDeps): Hono {
  const app = new Hono();
  const { modelName } = routes;
  const created = () => Math.floor(Date.now() / 1000);
  const names = servedNames(modelName);
  const head = (object: string, requested?: string) => ({
    id: `${object === "text_completion" ? "cmpl" : "chatcmpl"}-${crypto.randomUUID()}`, object, created: created(),
    model: requested !== undefined && names.openai.includes(requested) ? requested : modelName,
  });
  const extra = (o: Outcome) => (o.arianna ? { arianna: o.arianna } : {});

  const model = (id: string) => ({ id, object: "model", created: Math.floor((routes.registry?.current?.loadedAt ?? Date.now()) / 1000), owned_by: "arianna" });

  app.get("/models", (c) => c.json({ object: "list", data: routes.model.info ? names.openai.map(model) : [] }));
  app.get("/models/:id{.+}", (c) => {
    const id = c.req.param("id");
    if (!routes.model.info || !(names.openai.includes(id) || id === `${modelName}:latest`))
      throw new HttpError(404, `The model '${id}' does not exist: this device serves ${names.openai.join(" and ")}`);
    return c.json(model(id));
  });

  app.post("/chat/completions", async (c) => {
    const request = await body(c, parseOpenAIChat);
    const { controller, ticket, reported } = admitRequest(c, routes, request);
    if (!request.stream) {
      const o = await routes.inference.chat(ticket, request, controller.signal, { text: () => {} });
      return c.json({
        ...head("chat.completion", request.model),
        choices: [{ index: 0, message: { role: "assistant", content: o.text }, finish_reason: finishReason(o.stopReason), logprobs: null }],
        usage: usage(o), ...extra(o), ...reported,
      });
    }
    const h = head("chat.completion.chunk", request.model);
    const chunk = (delta: object, finish: string | null) => ({ ...h, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] });
    return streamed(c, SSE, controller, async (write, accepted) => {
      const o = await routes.inference.chat(ticket, request, controller.signal, {
        // nothing goes out before this, so the role chunk cannot acknowledge an unstored message
        accepted: () => {
          accepted();
          write(event(chunk({ role: "assistant", content: "" }, null)));
        },
        text: (t) => write(event(chunk({ content: t }, null))),
      });
      write(event({ ...chunk({}, finishReason(o.stopReason)), usage: usage(o), ...extra(o), ...reported }));
      if (request.includeUsage) write(event({ ...h, choices: [], usage: usage(o) }));
      write(DONE);
    }, failure);
  });

  app.post("/embeddings", async (c) => {
    const { request, e, reported } = await embedRequest(c, routes, parseEmbed("input"));
    // base64: the float32 values' little-endian bytes (what the openai SDKs ask for by default)
    const encode = (v: Float32Array) => (request.base64 ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") : Array.from(v));
    return c.json({
      object: "list", data: e.vectors.map((v, index) => ({ object: "embedding", index, embedding: encode(v) })),
      model: request.model ?? modelName, usage: { prompt_tokens: e.tokens, total_tokens: e.tokens }, ...reported,
    });
  });

  app.post("/completions", async (c) => {
    const request = await body(c, parseOpenAICompletion);
    const { controller, ticket, reported } = admitRequest(c, routes, request);
    if (!request.stream) {
      const o = await routes.inference.generate(ticket, request.prompt, request.params, controller.signal, { text: () => {} });
      return c.json({
        ...head("text_completion", request.model), choices: [{ index: 0, text: o.text, finish_reason: finishReason(o.stopReason), logprobs: null }],
        usage: usage(o), ...reported,
      });
    }
    const h = head("text_completion", request.model);
    const chunk = (text: string, finish: string | null) => ({ ...h, choices: [{ index: 0, text, finish_reason: finish, logprobs: null }] });
    return streamed(c, SSE, controller, async (write, accepted) => {
      const o = await routes.inference.generate(ticket, request.prompt, request.params, controller.signal, { accepted, text: (t) => write(event(chunk(t, null))) });
      write(event({ ...chunk("", finishReason(o.stopReason)), usage: usage(o), ...reported }));
      if (request.includeUsage) write(event({ ...h, choices: [], usage: usage(o) }));
      write(DONE);
    }, failure);
  });

  return app;
}
