/**
 * ollama.ts — Ollama's shapes: /api/chat (the living session, or stateless),
 * /api/generate (stateless), /api/embed and /api/embeddings, /api/tags,
 * /api/show, /api/ps, /api/version, and a helpful 404 for the
 * model-management routes. Streaming is NDJSON; the
 * last chunk has done: true, durations in nanoseconds, token counts and, for
 * session turns, an `arianna` object (see inference.ts for how streaming and
 * leo's re-sampling meet).
 *
 * The kernel is always loaded: a load request (a model and nothing to say)
 * answers done_reason "load" at once, and `keep_alive: 0` answers "unload"
 * without unloading anything, so clients that warm or release a model work.
 */
import { Hono } from "hono";
import type { StopReason } from "../engine/index.ts";
import { replyStops } from "../orchestrator/index.ts";
import type { Listener, Outcome } from "./inference.ts";
import { admitRequest, body, embedRequest, HttpError, streamed, type ServerDeps } from "./http.ts";
import { resolveName, servedNames } from "./names.ts";
import { isLoad, parseEmbed, parseGenerate, parseOllamaChat, parseShow, type LoadRequest } from "./schemas.ts";

const NDJSON = "application/x-ndjson";
const ns = (ms: number) => Math.round(ms * 1e6);
const line = (o: unknown) => JSON.stringify(o) + "\n";
/** Ollama reports why a generation ended as "stop" or "length" (an end of text and a cancel are both a stop). */
const doneReason = (r: StopReason) => (r === "length" ? "length" : "stop");

/** The Ollama release whose API these shapes follow (clients compare it to enable features). */
export const OLLAMA_API_VERSION = "0.12.0";

/** Where kernels come from instead of /api/pull, /api/create, /api/push, /api/copy and /api/delete. */
const NO_MODEL_MANAGEMENT =
  "this device serves one kernel and manages no models over the API: kernels arrive by rsync into " +
  "ARIANNA_HOME/models/current (see the README, 'Hot reload' and 'Deploying to a Pi')";

/**
 * The /api routes of Ollama's shape. One function holds the whole route table, as a Hono app is
 * written: each route is a few lines, and the table reads top to bottom like the API it serves.
 */
export function ollamaRoutes(routes: ServerDeps): Hono {
  const app = new Hono();
  const names = servedNames(routes.modelName);
  const stamp = (model = names.ollama[0]) => ({ model, created_at: new Date().toISOString() });
  /** The served name a request asked for, echoed in the answer (any other name is served as the living one). */
  const echo = (requested?: string) => (requested ? resolveName(names, requested) : null) ?? undefined;

  /** Ollama's final fields; the text itself goes where the route puts it. */
  const done = (o: Outcome, model?: string) => ({
    ...stamp(model), done: true, done_reason: doneReason(o.stopReason), total_duration: ns(o.totalMs), load_duration: 0,
    prompt_eval_count: o.promptTokens, prompt_eval_duration: ns(o.ttftMs), eval_count: o.completionTokens,
    eval_duration: ns(o.evalMs), ...(o.arianna ? { arianna: o.arianna } : {}),
  });

  /** The kernel, described once for /api/tags, /api/ps and /api/show. */
  const describe = () => {
    const info = routes.model.info;
    if (!info) return null;
    return {
      info,
      modified_at: new Date(routes.registry?.current?.loadedAt ?? Date.now()).toISOString(),
      size: info.fileBytes,
      digest: routes.registry?.current?.sha256 ?? routes.session.modelProfile.sha256,
      details: {
        parent_model: "", format: `llama2.c v${info.format}`, family: "llama", families: ["llama"],
        parameter_size: `${(info.nParams / 1e6).toFixed(1)}M`, quantization_level: info.format === 3 ? "Q4_0" : info.format === 2 ? `Q8_0/g${info.groupSize}` : "F32",
      },
    };
  };
  const requireModel = () => {
    const d = describe();
    if (!d) throw new HttpError(503, "no model is loaded yet");
    return d;
  };

  /** Load and unload answer at once: the kernel never leaves memory. */
  const loaded = (request: LoadRequest, text: (content: string) => object) => {
    requireModel();
    return { ...stamp(echo(request.model)), ...text(""), done: true, done_reason: request.load };
  };

  app.get("/version", (c) => c.json({ version: OLLAMA_API_VERSION }));

  app.get("/tags", (c) => {
    const d = describe();
    const { info: _info, ...listed } = d ?? {};
    return c.json({ models: d ? names.ollama.map((name) => ({ name, model: name, ...listed })) : [] });
  });

  app.get("/ps", (c) => {
    const d = describe();
    if (!d) return c.json({ models: [] });
    const { info, modified_at: _m, ...listed } = d;
    // resident until the service stops: Ollama's way to say "no expiry" is a far date
    const expires_at = new Date(Date.UTC(2318, 0, 1)).toISOString();
    return c.json({
      models: names.ollama.map((name) => ({ name, model: name, ...listed, expires_at, size_vram: 0, context_length: info.seqLen })),
    });
  });

  app.post("/show", async (c) => {
    const { model } = await body(c, parseShow);
    const name = resolveName(names, model);
    if (!name) throw new HttpError(404, `model "${model}" not found: this device serves ${names.ollama.join(" and ")}`);
    const { info, details, modified_at } = requireModel();
    const profile = routes.session.modelProfile;
    const { generation, replyBudgetTokens, persona } = routes.session.config;
    const t = profile.template;
    const template = [
      t.system.replace("{text}", "{{ .System }}"), t.user.replace("{text}", "{{ .Prompt }}"),
      t.generation_prefix, " {{ .Response }}",
    ].join("");
    const parameters = [
      ["temperature", generation.temperature], ["top_p", generation.topP], ["top_k", generation.topK],
      ["repeat_penalty", generation.repeatPenalty], ["repeat_last_n", generation.repeatWindow],
      ["num_predict", Math.min(replyBudgetTokens, Math.floor(info.seqLen / 2))], ["num_ctx", info.seqLen],
      ...replyStops(t).map((s) => ["stop", JSON.stringify(s)]),
    ].map(([k, v]) => `${String(k).padEnd(15)}${v}`).join("\n");
    const system = persona ?? t.default_system ?? "";
    return c.json({
      license: "",
      modelfile: `# ${NO_MODEL_MANAGEMENT}\nFROM ${profile.name}\nTEMPLATE """${template}"""\nSYSTEM """${system}"""\n` +
        parameters.split("\n").map((p) => `PARAMETER ${p}`).join("\n") + "\n",
      parameters, template, system, details, modified_at,
      model_info: {
        "general.architecture": "llama", "general.basename": profile.name, "general.parameter_count": info.nParams,
        "llama.context_length": info.seqLen, "llama.embedding_length": info.dim, "llama.block_count": info.nLayers,
        "llama.feed_forward_length": info.hiddenDim, "llama.attention.head_count": info.nHeads,
        "llama.attention.head_count_kv": info.nKvHeads, "llama.vocab_size": info.vocabSize, "tokenizer.ggml.model": "llama",
      },
      capabilities: ["completion", "embedding"],
    });
  });

  for (const path of ["/pull", "/push", "/create", "/copy", "/delete"]) {
    app.on(["POST", "DELETE"], path, () => {
      throw new HttpError(404, NO_MODEL_MANAGEMENT);
    });
  }

  /** /api/embed: {input} (a text or a list), answers every embedding; /api/embeddings: {prompt}, answers one. */
  app.post("/embed", async (c) => {
    const { request, e, reported } = await embedRequest(c, routes, parseEmbed("input"));
    return c.json({
      model: echo(request.model) ?? names.ollama[0], embeddings: e.vectors.map((v) => Array.from(v)),
      total_duration: ns(e.totalMs), load_duration: 0, prompt_eval_count: e.tokens, ...reported,
    });
  });
  app.post("/embeddings", async (c) => {
    const { e, reported } = await embedRequest(c, routes, parseEmbed("prompt"));
    return c.json({ embedding: Array.from(e.vectors[0]), ...reported });
  });

  app.post("/generate", async (c) => {
    const request = await body(c, parseGenerate);
    if (isLoad(request)) return c.json(loaded(request, (response) => ({ response })));
    const { controller, ticket, reported } = admitRequest(c, routes, request);
    const model = echo(request.model);
    const run = (listener: Listener) => routes.inference.generate(ticket, request.prompt, request.params, controller.signal, listener);
    if (!request.stream) {
      const o = await run({ text: () => {} });
      return c.json({ ...done(o, model), response: o.text, ...reported });
    }
    return streamed(c, NDJSON, controller, async (write, accepted) => {
      const o = await run({ accepted, text: (t) => write(line({ ...stamp(model), response: t, done: false })) });
      write(line({ ...done(o, model), response: "", ...reported }));
    }, (error) => line({ error }));
  });

  app.post("/chat", async (c) => {
    const request = await body(c, parseOllamaChat);
    const message = (content: string) => ({ message: { role: "assistant", content } });
    if (isLoad(request)) return c.json(loaded(request, message));
    const { controller, ticket, reported } = admitRequest(c, routes, request);
    const model = echo(request.model);
    if (!request.stream) {
      const o = await routes.inference.chat(ticket, request, controller.signal, { text: () => {} });
      return c.json({ ...done(o, model), ...message(o.text), ...reported });
    }
    return streamed(c, NDJSON, controller, async (write, accepted) => {
      const o = await routes.inference.chat(ticket, request, controller.signal, {
        accepted,
        text: (t) => write(line({ ...stamp(model), ...message(t), done: false })),
        resample: (n) => write(line({ ...stamp(model), ...message(""), done: false, arianna: { resampling: n } })),
      });
      write(line({ ...done(o, model), ...message(""), ...reported }));
    }, (error) => line({ error }));
  });

  return app;
}
