/**
 * ollama.ts — Ollama's shapes: /api/chat (the living session, or stateless),
 * /api/generate (stateless) and /api/tags. Streaming is NDJSON; the last
 * chunk has done: true, durations in nanoseconds, token counts and, for
 * session turns, an `arianna` object (see inference.ts for how streaming and
 * leo's re-sampling meet).
 */
import { Hono } from "hono";
import type { Listener, Outcome } from "./inference.ts";
import { admit, body, clientSignal, streamed, type Routes } from "./http.ts";
import { parseGenerate, parseOllamaChat } from "./schemas.ts";

const NDJSON = "application/x-ndjson";
const ns = (ms: number) => Math.round(ms * 1e6);
const line = (o: unknown) => JSON.stringify(o) + "\n";

export function ollamaRoutes(routes: Routes): Hono {
  const app = new Hono();
  const { modelName } = routes;
  const stamp = () => ({ model: modelName, created_at: new Date().toISOString() });

  /** Ollama's final fields; the text itself goes where the route puts it. */
  const done = (o: Outcome) => ({
    ...stamp(), done: true, done_reason: o.stopReason, total_duration: ns(o.totalMs), load_duration: 0,
    prompt_eval_count: o.promptTokens, prompt_eval_duration: ns(o.ttftMs), eval_count: o.completionTokens,
    eval_duration: ns(o.evalMs), ...(o.arianna ? { arianna: o.arianna } : {}),
  });

  app.get("/tags", (c) => {
    const info = routes.model.info;
    const models = info
      ? [{
          name: modelName, model: modelName, modified_at: new Date(routes.registry?.current?.loadedAt ?? Date.now()).toISOString(),
          size: info.fileBytes, digest: routes.registry?.current?.sha256 ?? routes.session.modelProfile.sha256,
          details: {
            format: `llama2.c v${info.format}`, family: "llama", parameter_size: `${(info.nParams / 1e6).toFixed(1)}M`,
            quantization_level: info.format === 2 ? `Q8_0/g${info.groupSize}` : "F32",
          },
        }]
      : [];
    return c.json({ models });
  });

  app.post("/generate", async (c) => {
    const request = await body(c, parseGenerate);
    const controller = clientSignal(c);
    const ticket = admit(routes, controller.signal);
    const run = (listener: Listener) => routes.inference.generate(ticket, request.prompt, request.params, controller.signal, listener);
    if (!request.stream) {
      const o = await run({ text: () => {} });
      return c.json({ ...done(o), response: o.text });
    }
    return streamed(c, NDJSON, controller, async (write, accepted) => {
      const o = await run({ accepted, text: (t) => write(line({ ...stamp(), response: t, done: false })) });
      write(line({ ...done(o), response: "" }));
    }, (error) => line({ error }));
  });

  app.post("/chat", async (c) => {
    const request = await body(c, parseOllamaChat);
    const controller = clientSignal(c);
    const ticket = admit(routes, controller.signal);
    const message = (content: string) => ({ role: "assistant", content });
    if (!request.stream) {
      const o = await routes.inference.chat(ticket, request, controller.signal, { text: () => {} });
      return c.json({ ...done(o), message: message(o.text) });
    }
    return streamed(c, NDJSON, controller, async (write, accepted) => {
      const o = await routes.inference.chat(ticket, request, controller.signal, {
        accepted,
        text: (t) => write(line({ ...stamp(), message: message(t), done: false })),
        resample: (n) => write(line({ ...stamp(), message: message(""), done: false, arianna: { resampling: n } })),
      });
      write(line({ ...done(o), message: message("") }));
    }, (error) => line({ error }));
  });

  return app;
}
