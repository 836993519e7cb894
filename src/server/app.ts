/**
 * app.ts — the HTTP face of the device (Hono). For now: /health, Ollama's
 * /api/tags and a stateless /api/generate straight on the Engine. The living
 * session, the OpenAI shapes, auth and the web page come with the server issue.
 */
import { Hono } from "hono";
import { stream } from "hono/streaming";
import type { Engine, GenerationSummary } from "../engine/index.ts";
import { EngineError } from "../engine/index.ts";
import { parseGenerate } from "./schemas.ts";

/** Bodies above this size are refused before they are read. */
const MAX_BODY_BYTES = 1 << 20;

export function createApp(engine: Engine, modelName = "arianna"): Hono {
  const app = new Hono();

  app.onError((err, c) => {
    if (err instanceof EngineError) {
      const status = err.codeName === "E_CONTEXT" || err.codeName === "E_ARG" ? 400 : 503;
      return c.json({ error: err.message, code: err.codeName }, status);
    }
    console.error(`<3>unexpected error: ${err.stack ?? err}`);
    return c.json({ error: "internal error" }, 500);
  });

  app.get("/health", (c) => {
    const info = engine.info;
    if (!info) return c.json({ status: "no model loaded" }, 503);
    return c.json({ status: "ok", model: modelName, kernel: info.kernel });
  });

  app.get("/api/tags", (c) => {
    const info = engine.info;
    const models = info
      ? [{
          name: modelName, model: modelName, size: info.fileBytes,
          details: { format: `llama2.c v${info.format}`, parameter_size: `${(info.nParams / 1e6).toFixed(1)}M`,
                     quantization_level: info.format === 2 ? `Q8_0/g${info.groupSize}` : "F32" },
        }]
      : [];
    return c.json({ models });
  });

  app.post("/api/generate", async (c) => {
    const length = Number(c.req.header("content-length") ?? 0);
    if (length > MAX_BODY_BYTES) return c.json({ error: `body larger than ${MAX_BODY_BYTES} bytes` }, 413);
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: "the body is not valid JSON" }, 400);
    }
    const parsed = parseGenerate(body);
    if (!parsed.ok) return c.json({ error: parsed.error }, 400);
    const { prompt, stream: streaming, params } = parsed.value;
    const started = performance.now();
    // The client's disconnect aborts the request signal, which cancels the generation between tokens.
    const gen = engine.generate(prompt, params, c.req.raw.signal);
    const done = (s: GenerationSummary) => ({
      model: modelName, created_at: new Date().toISOString(), response: "", done: true, done_reason: s.stopReason,
      total_duration: Math.round((performance.now() - started) * 1e6), prompt_eval_count: s.promptTokens,
      prompt_eval_duration: Math.round(s.prefillMs * 1e6), eval_count: s.completionTokens,
      eval_duration: s.tokensPerSecond > 0 ? Math.round((s.completionTokens / s.tokensPerSecond) * 1e9) : 0,
    });
    if (!streaming) {
      let text = "";
      for await (const t of gen) text += t.text;
      const summary = await gen.result;
      return c.json({ ...done(summary), response: text });
    }
    c.header("Content-Type", "application/x-ndjson");
    return stream(c, async (out) => {
      out.onAbort(() => gen.cancel());
      for await (const t of gen) {
        if (t.text) await out.write(JSON.stringify({ model: modelName, response: t.text, done: false }) + "\n");
      }
      await out.write(JSON.stringify(done(await gen.result)) + "\n");
    });
  });

  return app;
}
