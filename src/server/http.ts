/**
 * http.ts — what every route shares: the dependencies, reading a JSON body,
 * the answer to a full queue, and a streamed response whose client
 * disconnect cancels the work at once.
 */
import type { Context } from "hono";
import { stream } from "hono/streaming";
import type { StreamingApi } from "hono/utils/stream";
import type { ModelRegistry } from "../reload/types.ts";
import type { Session } from "../orchestrator/index.ts";
import { Busy, type InferenceGate, type Ticket } from "./gate.ts";
import type { Inference, ServedModel } from "./inference.ts";
import { resolveName, servedNames } from "./names.ts";
import type { EmbedRequest, Parsed } from "./schemas.ts";

/** What the route handlers are built from: the model, the living session, the gate and the rest of the device. */
export interface ServerDeps {
  model: ServedModel;
  session: Session;
  inference: Inference;
  gate: InferenceGate;
  registry?: ModelRegistry;
  /** the name the APIs list the model under */
  modelName: string;
}

/** A 4xx the route chose; the app's error handler turns it into JSON. */
export class HttpError extends Error {
  constructor(readonly status: 400 | 404 | 429 | 503, message: string, readonly retryAfter?: number) {
    super(message);
  }
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The body as JSON, validated by `parse` (from schemas.ts); an empty body reads as undefined. */
export async function body<T>(c: Context, parse: (body: unknown) => Parsed<T>): Promise<T> {
  let raw: string;
  try {
    raw = STRICT_UTF8.decode(await c.req.arrayBuffer());
  } catch {
    throw new HttpError(400, "the body is not valid UTF-8");
  }
  let value: unknown;
  if (raw.trim() !== "") {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new HttpError(400, "the body is not valid JSON");
    }
  }
  // "\ud800" is valid JSON but not text: stored, it would silently become U+FFFD
  if (!wellFormed(value)) throw new HttpError(400, "the body holds a lone surrogate (\\ud800-\\udfff without its pair): not valid Unicode");
  const parsed = parse(value);
  if (!parsed.ok) throw new HttpError(400, parsed.error);
  return parsed.value;
}

/** Every string in a parsed JSON value (keys too) is well-formed UTF-16. */
function wellFormed(value: unknown): boolean {
  if (typeof value === "string") return value.isWellFormed();
  if (Array.isArray(value)) return value.every(wellFormed);
  if (value && typeof value === "object") return Object.entries(value).every(([k, v]) => k.isWellFormed() && wellFormed(v));
  return true;
}

/** A query validated by `parse`. */
export function query<T>(c: Context, parse: (query: Record<string, string>) => Parsed<T>): T {
  const parsed = parse(c.req.query());
  if (!parsed.ok) throw new HttpError(400, parsed.error);
  return parsed.value;
}

/**
 * What the answer says about how the request was taken: the parts it dropped
 * (`X-Arianna-Ignored`, comma-separated; a model name the device does not
 * serve, answered by the living kernel, counts) and, for a chat, why it ran
 * stateless (`X-Arianna-Stateless`). Returns the body fields that say the
 * same, for clients that never see headers.
 */
function announce(
  c: Context, routes: ServerDeps, request: { model?: string; ignored: string[]; stateless?: string | null },
): { ignored?: string[] } {
  // what goes in a header may come from the client (JSON keys, metadata): printable ASCII only, bounded
  const printable = (text: string) => text.slice(0, 80).replace(/[^\x20-\x7e]/g, "?");
  if (request.stateless) c.header("X-Arianna-Stateless", printable(request.stateless));
  const names = servedNames(routes.modelName);
  const unknown = request.model !== undefined && resolveName(names, request.model) === null;
  const ignored = unknown ? [`model ${request.model} (served as ${names.base})`, ...request.ignored] : request.ignored;
  if (ignored.length === 0) return {};
  const shown = ignored.slice(0, MAX_REPORTED).map(printable);
  if (ignored.length > MAX_REPORTED) shown.push(`and ${ignored.length - MAX_REPORTED} more`);
  c.header("X-Arianna-Ignored", shown.join(", "));
  return { ignored: shown };
}

const MAX_REPORTED = 16;

/** A signal that aborts when the client goes away. */
function clientSignal(c: Context): AbortController {
  const controller = new AbortController();
  const request = c.req.raw.signal;
  if (request.aborted) controller.abort();
  else request.addEventListener("abort", () => controller.abort(), { once: true });
  return controller;
}

/** A place in the inference queue, or a 429 with Retry-After. */
function admit(routes: ServerDeps, signal: AbortSignal): Ticket {
  try {
    return routes.gate.enter(signal);
  } catch (e) {
    if (e instanceof Busy) throw new HttpError(429, e.message, e.retryAfterSeconds);
    throw e;
  }
}

/**
 * How every inference route takes a parsed request: tied to the client's
 * connection (a client that leaves cancels it), given its place in the queue
 * (or a 429), and what it dropped announced (the fields to add to the answer).
 */
export function admitRequest(c: Context, routes: ServerDeps, request: Parameters<typeof announce>[2]) {
  const controller = clientSignal(c);
  const ticket = admit(routes, controller.signal);
  const reported = announce(c, routes, request);
  return { controller, ticket, reported };
}

/**
 * An embedding request, from its body to its vectors (/api/embed, /api/embeddings,
 * /v1/embeddings): parsed, admitted by the gate, tied to the client's connection,
 * and what it dropped announced.
 */
export async function embedRequest(c: Context, routes: ServerDeps, parse: (body: unknown) => Parsed<EmbedRequest>) {
  const request = await body(c, parse);
  const { ticket, reported } = admitRequest(c, routes, request);
  const e = await routes.inference.embed(ticket, request.input, request.truncate, request.dimensions);
  return { request, e, reported };
}

/**
 * A streamed response. `produce` starts at once and writes through `write`;
 * it calls `accepted` when the request is taken (a session turn's user
 * message is durable, a stateless generation has left the queue). Nothing,
 * not even the status line, goes out before that: a 200 always means the
 * request was taken, and a failure before it gets an ordinary error status
 * (507 on a full disk). Chunks written earlier are held and sent first. When
 * the client disconnects, `controller` aborts (cancelling the generation
 * between tokens). A failure after the stream started is reported in-band by
 * `failure`, since the status line has already gone.
 */
export async function streamed(
  c: Context,
  contentType: string,
  controller: AbortController,
  produce: (write: (chunk: string) => void, accepted: () => void) => Promise<void>,
  failure: (message: string) => string,
): Promise<Response> {
  let out: StreamingApi | null = null;
  const held: string[] = [];
  const write = (chunk: string) => {
    if (out) out.write(chunk).catch(() => controller.abort());
    else held.push(chunk);
  };
  const taken = Promise.withResolvers<void>();
  const work = produce(write, taken.resolve);
  await Promise.race([taken.promise, work]); // a rejection here is an error status

  c.header("Content-Type", contentType);
  c.header("Cache-Control", "no-cache");
  c.header("X-Accel-Buffering", "no");
  return stream(c, async (s) => {
    s.onAbort(() => controller.abort());
    out = s;
    for (const chunk of held.splice(0)) write(chunk);
    try {
      await work;
    } catch (e) {
      if (!controller.signal.aborted) write(failure(errorMessage(e)));
    }
  });
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
