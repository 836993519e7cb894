/**
 * app.ts — the HTTP face of the device (Hono): composes the auth rule, the
 * body limit, the route families and the web page, and turns every failure
 * into a JSON answer (bad input is always a 4xx).
 *
 *   /                      the web page (static, no auth: it asks for the token itself)
 *   /health                200 with a model, 503 without
 *   /metrics               Prometheus text
 *   /api/chat|generate|tags|show|ps|version  Ollama shapes    (ollama.ts)
 *   /v1/chat/completions|completions|models  OpenAI shapes    (openai.ts)
 *   /api/status|history|episodes|metrics|export|reload        (device.ts)
 */
import { Hono, type Context } from "hono";
import { getConnInfo } from "hono/bun";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { EngineError } from "../engine/index.ts";
import { ReplyNotStored, type Session } from "../orchestrator/index.ts";
import type { ModelRegistry } from "../reload/types.ts";
import { requireToken } from "./auth.ts";
import { corsFor } from "./cors.ts";
import { deviceRoutes } from "./device.ts";
import { InferenceGate } from "./gate.ts";
import { HttpError, type ServerDeps } from "./http.ts";
import { Inference, type ServedModel } from "./inference.ts";
import { ServerMetrics } from "./metrics.ts";
import { ollamaRoutes } from "./ollama.ts";
import { openaiErrors, openaiRoutes } from "./openai.ts";
import { webRoutes } from "./web.ts";

export interface ServerOptions {
  model: ServedModel;
  session: Session;
  /** the bearer token non-loopback clients must present (auth.ts ensureToken) */
  token: string;
  registry?: ModelRegistry;
  modelName?: string;
  /** requests allowed to wait behind the running inference (default 4) */
  maxQueue?: number;
  maxBodyBytes?: number;
  /** browser origins allowed to read the API besides loopback ones (default: the session config's ARIANNA_ORIGINS) */
  origins?: readonly string[];
  /** one line per request (method, path, status, ms) when its `accessEnabled` is on; see src/service/log.ts */
  accessLog?: { readonly accessEnabled: boolean; access(line: string): void };
  /** the client's IP; default: Bun's socket address (unknown under app.request, so a token is needed there) */
  clientAddress?: (c: Context) => string | undefined;
}

export interface Server {
  app: Hono;
  /** the inference queue (its depth is also in /metrics) */
  gate: InferenceGate;
}

const DEFAULT_MAX_BODY = 1 << 20;

function bunAddress(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined; // not behind Bun.serve (app.request)
  }
}

/** The route a request matched, for metrics labels (never the raw path: unbounded label values). */
function routeLabel(c: Context): string {
  const path = c.req.routePath;
  return path && path !== "/*" ? path : "unmatched";
}

export function createServer(options: ServerOptions): Server {
  const metrics = new ServerMetrics();
  const gate = new InferenceGate(options.maxQueue ?? 4);
  const routes: ServerDeps = {
    model: options.model,
    session: options.session,
    registry: options.registry,
    inference: new Inference(options.model, options.session, metrics),
    gate,
    modelName: options.modelName ?? "arianna",
  };
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const app = new Hono();

  app.onError((err, c) => {
    if (err instanceof HttpError) {
      if (err.retryAfter !== undefined) c.header("Retry-After", String(err.retryAfter));
      return c.json({ error: err.message }, err.status);
    }
    if (err instanceof HTTPException) return c.json({ error: err.message || "bad request" }, err.status);
    if (err instanceof EngineError) {
      const status = err.codeName === "E_CONTEXT" || err.codeName === "E_ARG" ? 400 : 503;
      return c.json({ error: err.message, code: err.codeName }, status);
    }
    // the client left while queued: nobody reads this answer
    if (c.req.raw.signal.aborted) return c.json({ error: "request cancelled" }, 400);
    // the user message is stored and its reply is not: say so, since a retry would store it twice
    if (err instanceof ReplyNotStored) {
      const status = isStorageFull(err.cause) ? 507 : isBusy(err.cause) ? 503 : 500;
      if (status === 503) c.header("Retry-After", String(BUSY_RETRY_S));
      if (status === 500) console.error(`<3>reply not stored on ${c.req.method} ${c.req.path}: ${err.cause instanceof Error ? err.cause.stack : err.cause}`);
      return c.json({ error: err.message, user_message_id: err.userMessageId }, status);
    }
    // another writer held the lock past the busy timeout (5 s): nothing was stored
    if (isBusy(err)) {
      c.header("Retry-After", String(BUSY_RETRY_S));
      return c.json({ error: "the memory is busy (another writer holds its lock): nothing was stored; try again shortly" }, 503);
    }
    // SQLite refused to write: the message was not stored and nothing is half-written
    if (isStorageFull(err))
      return c.json({ error: "the device's storage is full: nothing was stored; free some space and try again" }, 507);
    console.error(`<3>unexpected error on ${c.req.method} ${c.req.path}: ${err instanceof Error ? err.stack : err}`);
    return c.json({ error: "internal error" }, 500);
  });
  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));

  app.use("*", async (c, next) => {
    const started = performance.now();
    await next();
    metrics.request(routeLabel(c), c.res.status);
    // a streamed answer is logged when its status line goes out, not when it ends; the path
    // as sent (still percent-encoded: no line breaks) and without the query
    if (options.accessLog?.accessEnabled)
      options.accessLog.access(`${c.req.method} ${new URL(c.req.url).pathname} ${c.res.status} ${(performance.now() - started).toFixed(1)}ms`);
  });
  app.use("*", corsFor(options.origins ?? options.session.config.origins));
  app.route("/", webRoutes());

  app.use("/v1/*", openaiErrors);
  app.use("*", requireToken(options.token, options.clientAddress ?? bunAddress));
  app.use("*", bodyLimit({
    maxSize: maxBody,
    onError: (c) => c.json({ error: `the body is larger than ${maxBody} bytes` }, 413),
  }));

  app.get("/health", (c) => {
    const info = options.model.info;
    if (!info) return c.json({ status: "no model loaded" }, 503);
    return c.json({ status: "ok", model: routes.modelName, kernel: info.kernel, sha256: options.session.modelProfile.sha256 });
  });
  app.get("/metrics", (c) => {
    c.header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return c.body(metrics.render({
      queueDepth: gate.queued, inferenceRunning: gate.busy, reloads: options.registry?.reloads ?? 0, modelLoaded: options.model.info !== null,
    }));
  });
  app.route("/api", ollamaRoutes(routes));
  app.route("/api", deviceRoutes(routes));
  app.route("/v1", openaiRoutes(routes));

  return { app, gate };
}

/** How long a client should wait when the database is locked by another writer. */
const BUSY_RETRY_S = 5;

/** SQLITE_BUSY: another connection (a trainer's backup, an operator's sqlite3) held the write lock past the busy timeout. */
function isBusy(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === "SQLITE_BUSY" || /database is locked/.test(e?.message ?? "");
}

/** SQLITE_FULL (or the disk itself out of space) from the memory's commit. */
function isStorageFull(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === "SQLITE_FULL" || /disk is full|ENOSPC/.test(e?.message ?? "");
}
