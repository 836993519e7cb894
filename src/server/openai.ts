/**
 * openai.ts — OpenAI's shapes: /v1/chat/completions (the living session, or
 * stateless with `"stateless": true`), /v1/completions (stateless) and
 * /v1/models. Streaming is SSE ending in `data: [DONE]`; the chunk with the
 * finish_reason carries usage and, for session turns, the `arianna` object.
 */
import { Hono } from "hono";
import type { StopReason } from "../engine/index.ts";
import type { Outcome } from "./inference.ts";
import { admit, body, clientSignal, streamed, type Routes } from "./http.ts";
import { parseOpenAIChat, parseOpenAICompletion } from "./schemas.ts";

const SSE = "text/event-stream";
const event = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const DONE = "data: [DONE]\n\n";
const finishReason = (r: StopReason) => (r === "length" ? "length" : "stop");
const usage = (o: Outcome) => ({ prompt_tokens: o.promptTokens, completion_tokens: o.completionTokens, total_tokens: o.promptTokens + o.completionTokens });
const failure = (message: string) => event({ error: { message, type: "server_error" } });

export function openaiRoutes(routes: Routes): Hono {
  const app = new Hono();
  const { modelName } = routes;
  const created = () => Math.floor(Date.now() / 1000);
  const head = (object: string) => ({ id: `${object === "text_completion" ? "cmpl" : "chatcmpl"}-${crypto.randomUUID()}`, object, created: created(), model: modelName });
  const extra = (o: Outcome) => (o.arianna ? { arianna: o.arianna } : {});

  app.get("/models", (c) =>
    c.json({ object: "list", data: routes.model.info ? [{ id: modelName, object: "model", created: created(), owned_by: "arianna" }] : [] }),
  );

  app.post("/chat/completions", async (c) => {
    const request = await body(c, parseOpenAIChat);
    const controller = clientSignal(c);
    const ticket = admit(routes, controller.signal);
    if (!request.stream) {
      const o = await routes.inference.chat(ticket, request, controller.signal, { text: () => {} });
      return c.json({
        ...head("chat.completion"),
        choices: [{ index: 0, message: { role: "assistant", content: o.text }, finish_reason: finishReason(o.stopReason), logprobs: null }],
        usage: usage(o), ...extra(o),
      });
    }
    const h = head("chat.completion.chunk");
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
      write(event({ ...chunk({}, finishReason(o.stopReason)), usage: usage(o), ...extra(o) }));
      if (request.includeUsage) write(event({ ...h, choices: [], usage: usage(o) }));
      write(DONE);
    }, failure);
  });

  app.post("/completions", async (c) => {
    const request = await body(c, parseOpenAICompletion);
    const controller = clientSignal(c);
    const ticket = admit(routes, controller.signal);
    if (!request.stream) {
      const o = await routes.inference.generate(ticket, request.prompt, request.params, controller.signal, { text: () => {} });
      return c.json({ ...head("text_completion"), choices: [{ index: 0, text: o.text, finish_reason: finishReason(o.stopReason), logprobs: null }], usage: usage(o) });
    }
    const h = head("text_completion");
    const chunk = (text: string, finish: string | null) => ({ ...h, choices: [{ index: 0, text, finish_reason: finish, logprobs: null }] });
    return streamed(c, SSE, controller, async (write, accepted) => {
      const o = await routes.inference.generate(ticket, request.prompt, request.params, controller.signal, { accepted, text: (t) => write(event(chunk(t, null))) });
      write(event({ ...chunk("", finishReason(o.stopReason)), usage: usage(o) }));
      if (request.includeUsage) write(event({ ...h, choices: [], usage: usage(o) }));
      write(DONE);
    }, failure);
  });

  return app;
}
