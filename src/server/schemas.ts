/**
 * schemas.ts — every HTTP request body and query is validated here, and only
 * here. A validator returns the typed request or a message that says what is
 * wrong; routes turn that message into a 400.
 */
import type { SamplingParams } from "../engine/index.ts";
import { housekeepingKind } from "./housekeeping.ts";
import { isStatelessName, STATELESS_TAG } from "./names.ts";

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** A chat message as text (OpenAI's text parts joined; what the kernel cannot read dropped). */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** A request that generates text: on the living session, or stateless on the bare kernel. */
interface GenerationRequest {
  stream: boolean;
  params: SamplingParams;
  /** the model name sent, if any (names.ts) */
  model?: string;
  /**
   * what the request holds that the device cannot use (an option, an image, a
   * tool call): dropped, and reported back (X-Arianna-Ignored and the answer's
   * `ignored` field), never silently
   */
  ignored: string[];
}

export interface GenerateRequest extends GenerationRequest {
  prompt: string;
}

export interface ChatRequest extends GenerationRequest {
  messages: ChatMessage[];
  /**
   * why the chat is a plain generation over `messages` ("requested", "model
   * alias", or the kind of a front-end's housekeeping prompt); null: the last
   * user message joins the living session
   */
  stateless: string | null;
  /** OpenAI's stream_options.include_usage (usage is sent in the final chunk either way) */
  includeUsage: boolean;
}

/** Ollama's load request: a model and nothing to say; `keep_alive: 0` asks for an unload. */
export interface LoadRequest {
  load: "load" | "unload";
  model: string;
}

export interface EmbedRequest {
  model?: string;
  /** the texts, in order */
  input: string[];
  /** true (default): a text longer than the context keeps its start; false: it is an error */
  truncate: boolean;
  /** keep the first n dimensions (renormalised), as OpenAI's and Ollama's `dimensions` */
  dimensions?: number;
  /** OpenAI's encoding_format */
  base64: boolean;
  ignored: string[];
}

export interface ReloadRequest {
  rollback: boolean;
}

export interface PageQuery {
  limit: number;
  /** only items with an id below this (the page before) */
  before?: number;
}

export interface ExportQuery {
  since?: number;
  until?: number;
}

/** Longest text accepted in one prompt or message (the kernel's context is far smaller anyway). */
const MAX_TEXT_CHARS = 64_000;
const MAX_MESSAGES = 256;
const MAX_STOPS = 8;

class Invalid extends Error {}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (!isRecord(v)) throw new Invalid(`${what} must be a JSON object`);
  return v;
}

function text(v: unknown, what: string): string {
  if (typeof v !== "string") throw new Invalid(`${what} must be a string`);
  if (v.length > MAX_TEXT_CHARS) throw new Invalid(`${what} is longer than ${MAX_TEXT_CHARS} characters`);
  return v;
}

function bool(o: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "boolean") throw new Invalid(`${key} must be a boolean`);
  return v;
}

/** A finite number within [min, max], or undefined when absent. */
/**
 * top_p in (0, 1]. 0 would reach the engine, which refuses it (the C sampler,
 * like llama2.c, reads 0 as "no nucleus"): asking for the single most likely
 * token is temperature 0.
 */
function topP(o: Record<string, unknown>): number | undefined {
  const v = num(o, "top_p", 0, 1);
  if (v === 0) throw new Invalid("top_p must be greater than 0 (1 turns it off; for the most likely token only, set temperature to 0)");
  return v;
}

function num(o: Record<string, unknown>, key: string, min: number, max: number, integer = false): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
    throw new Invalid(`${key} must be a${integer ? "n integer" : " number"} in [${min}, ${max}]`);
  return v;
}

/** Stop strings: one string or a short list of non-empty ones. */
function stops(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length > MAX_STOPS || !list.every((s) => typeof s === "string" && s.length > 0 && s.length <= 256))
    throw new Invalid(`${what} must be a non-empty string or an array of at most ${MAX_STOPS} of them`);
  return list as string[];
}

function model(o: Record<string, unknown>): void {
  if (o.model !== undefined && typeof o.model !== "string") throw new Invalid("model must be a string");
}

/** The values a client sends to mean "not set": reporting them as ignored would be noise. */
const isUnset = (v: unknown) =>
  v === undefined || v === null || v === false || v === 0 || v === "" ||
  (Array.isArray(v) && v.length === 0) || (isRecord(v) && Object.keys(v).length === 0);

/** Every key of `o` outside `used` that holds a value goes on `ignored` (as `prefix + key`). */
function reportUnused(o: Record<string, unknown>, used: ReadonlySet<string>, ignored: string[], prefix = ""): void {
  for (const [key, v] of Object.entries(o)) if (!used.has(key) && !isUnset(v)) ignored.push(prefix + key);
}

const OLLAMA_OPTIONS = new Set(["temperature", "top_p", "top_k", "repeat_penalty", "repeat_last_n", "seed", "num_predict", "stop"]);
/** The sampler's longest repetition window (MAX_WINDOW in csrc/arianna.c): what `repeat_last_n: -1` means. */
const LONGEST_REPEAT_WINDOW = 4096;

/** Ollama's `options` object, mapped onto the engine's sampling parameters. */
function ollamaOptions(v: unknown, ignored: string[]): SamplingParams {
  if (v === undefined || v === null) return {};
  const o = record(v, "options");
  reportUnused(o, OLLAMA_OPTIONS, ignored, "options.");
  const window = num(o, "repeat_last_n", -1, LONGEST_REPEAT_WINDOW, true);
  return {
    temperature: num(o, "temperature", 0, 10),
    topP: topP(o),
    topK: num(o, "top_k", 0, 1_000_000, true),
    repeatPenalty: num(o, "repeat_penalty", 0.01, 10),
    repeatWindow: window === -1 ? LONGEST_REPEAT_WINDOW : window,
    seed: num(o, "seed", 0, Number.MAX_SAFE_INTEGER, true),
    maxTokens: num(o, "num_predict", 1, 1_000_000, true),
    stop: stops(o.stop, "options.stop"),
  };
}

const OPENAI_SAMPLING = ["temperature", "top_p", "seed", "max_tokens", "max_completion_tokens", "stop"];

/** OpenAI's top-level sampling fields. */
function openaiParams(o: Record<string, unknown>): SamplingParams {
  return {
    temperature: num(o, "temperature", 0, 2),
    topP: topP(o),
    seed: num(o, "seed", 0, Number.MAX_SAFE_INTEGER, true),
    maxTokens: num(o, "max_completion_tokens", 1, 1_000_000, true) ?? num(o, "max_tokens", 1, 1_000_000, true),
    stop: stops(o.stop, "stop"),
  };
}

/**
 * Structured output and tool calls are refused with a clear 400: a kernel of a
 * few million parameters cannot be held to a JSON grammar or call a tool, and
 * an answer that only looks like it complied would be worse than none.
 */
function refuseStructured(o: Record<string, unknown>): void {
  if (!isUnset(o.format)) throw new Invalid("format: structured (JSON) output is not supported by this kernel; ask without it");
  if (isRecord(o.response_format) && o.response_format.type !== "text")
    throw new Invalid("response_format: structured (JSON) output is not supported by this kernel; ask without it");
  if (Array.isArray(o.tools) && o.tools.length > 0 && o.tool_choice !== "none")
    throw new Invalid('tools: this kernel cannot call tools; ask without them (or with tool_choice "none")');
}

const ROLES: Record<string, ChatMessage["role"]> = { system: "system", developer: "system", user: "user", assistant: "assistant" };
/** Roles whose messages carry tool results: kept out of the text, reported. */
const TOOL_ROLES = new Set(["tool", "function", "ipython"]);
/** Message fields the kernel cannot use (images, tool calls, audio, hidden reasoning). */
const UNUSABLE_FIELDS = ["images", "tool_calls", "function_call", "audio", "thinking"];

/**
 * The messages as text. Tool results, tool calls, images and other non-text
 * parts are dropped and each is named on `ignored`; an assistant message left
 * with no text (one that only called a tool) is dropped too.
 */
function messages(v: unknown, ignored: string[]): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0) throw new Invalid("messages must be a non-empty array");
  if (v.length > MAX_MESSAGES) throw new Invalid(`messages holds more than ${MAX_MESSAGES} entries`);
  const out: ChatMessage[] = [];
  v.forEach((m, i) => {
    const where = `messages[${i}]`;
    const o = record(m, where);
    if (typeof o.role === "string" && TOOL_ROLES.has(o.role)) {
      ignored.push(`${where} (${o.role} result)`);
      return;
    }
    const role = typeof o.role === "string" ? ROLES[o.role] : undefined;
    if (!role) throw new Invalid(`${where}.role must be one of ${[...Object.keys(ROLES), ...TOOL_ROLES].join(", ")}`);
    for (const key of UNUSABLE_FIELDS) if (!isUnset(o[key])) ignored.push(`${where}.${key}`);
    // an assistant message that only called a tool has no content (OpenAI sends null)
    const raw = role === "assistant" && (o.content === null || o.content === undefined) ? "" : o.content;
    const text = content(raw, `${where}.content`, ignored);
    if (role === "assistant" && text === "") return;
    out.push({ role, content: text });
  });
  return out;
}

/** A string, or OpenAI's array of content parts: text parts are joined, the others dropped and reported. */
function content(v: unknown, what: string, ignored: string[]): string {
  if (!Array.isArray(v)) return text(v, what);
  return text(
    v.map((part, i) => {
      const p = record(part, `${what}[${i}]`);
      if (p.type === "text" || p.type === "input_text") return text(p.text, `${what}[${i}].text`);
      ignored.push(`${what}[${i}] (${typeof p.type === "string" ? p.type.slice(0, 32) : "untyped"} part)`);
      return "";
    }).join(""),
    what,
  );
}

/** Why a chat is stateless (null: a living-session turn, which needs a user message with text last). */
function chatMode(o: Record<string, unknown>, list: ChatMessage[]): string | null {
  const last = list.at(-1);
  const task = isRecord(o.metadata) && typeof o.metadata.task === "string" ? o.metadata.task.slice(0, 64) : null;
  const stateless = bool(o, "stateless", false)
    ? "requested"
    : isStatelessName(o.model as string | undefined)
      ? "model alias"
      : task !== null
        ? `front-end task ${task}` // Open WebUI names its own requests in metadata.task when it forwards it
        : last?.role === "user"
          ? housekeepingKind(last.content)
          : null;
  if (stateless) {
    if (!last) throw new Invalid("messages hold no text the kernel can read");
    return stateless;
  }
  if (last?.role === "assistant")
    throw new Invalid(
      "the last message is the assistant's, and the living session answers a user message: send the user's message last, " +
        `or continue the assistant's text statelessly (the model "…:${STATELESS_TAG}", or "stateless": true)`,
    );
  if (last?.role !== "user") throw new Invalid("the last message must come from the user (it joins the living session)");
  if (last.content.trim() === "") throw new Invalid("the last user message is empty");
  return null;
}

function parse<T>(fn: () => T): Parsed<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: e.message };
    throw e;
  }
}

/** Ollama's keep_alive (seconds, or a duration such as "5m"): whether it asks for an unload (zero). */
function keepAliveZero(o: Record<string, unknown>): boolean {
  const v = o.keep_alive;
  if (v === undefined || v === null) return false;
  if (typeof v === "number" && Number.isFinite(v)) return v === 0;
  if (typeof v === "string" && /^-?\d+(\.\d+)?(ns|us|µs|ms|s|m|h)?$/.test(v.trim())) return Number.parseFloat(v) === 0;
  throw new Invalid('keep_alive must be a number of seconds or a duration such as "5m"');
}

/** Ollama's load request (a model and no prompt or messages), or null when there is something to say. */
function loadRequest(o: Record<string, unknown>, say: unknown): LoadRequest | null {
  const silent = say === undefined || say === null || say === "" || (Array.isArray(say) && say.length === 0);
  if (!silent || typeof o.model !== "string" || o.model === "") return null;
  return { load: keepAliveZero(o) ? "unload" : "load", model: o.model };
}

export const isLoad = <T extends object>(r: T | LoadRequest): r is LoadRequest => "load" in r;

const OLLAMA_GENERATE = new Set(["model", "prompt", "stream", "options", "keep_alive", "raw", "stateless"]);
const OLLAMA_CHAT = new Set(["model", "messages", "stream", "options", "keep_alive", "stateless", "tool_choice", "metadata"]);

/**
 * An Ollama /api/generate or /api/chat body: the model, keep_alive and no structured output are
 * checked first; nothing to say (`say`: the prompt or the messages) makes it a load request.
 * Otherwise `rest` reads what is left, adding to the fields ignored so far.
 */
function parseOllama<T>(
  body: unknown,
  say: "prompt" | "messages",
  known: ReadonlySet<string>,
  rest: (o: Record<string, unknown>, ignored: string[]) => T,
): Parsed<T | LoadRequest> {
  return parse(() => {
    const o = record(body, "the body");
    model(o);
    const load = loadRequest(o, o[say]);
    if (load) return load;
    keepAliveZero(o);
    refuseStructured(o);
    const ignored: string[] = [];
    reportUnused(o, known, ignored);
    return rest(o, ignored);
  });
}

/** POST /api/generate */
export const parseGenerate = (body: unknown): Parsed<GenerateRequest | LoadRequest> =>
  parseOllama(body, "prompt", OLLAMA_GENERATE, (o, ignored): GenerateRequest => {
    const params = ollamaOptions(o.options, ignored);
    return { prompt: text(o.prompt, "prompt"), stream: bool(o, "stream", true), params, model: o.model as string | undefined, ignored };
  });

/** POST /api/chat */
export const parseOllamaChat = (body: unknown): Parsed<ChatRequest | LoadRequest> =>
  parseOllama(body, "messages", OLLAMA_CHAT, (o, ignored): ChatRequest => {
    const list = messages(o.messages, ignored);
    const params = ollamaOptions(o.options, ignored);
    return {
      messages: list, stream: bool(o, "stream", true), params, model: o.model as string | undefined, ignored,
      stateless: chatMode(o, list), includeUsage: false,
    };
  });

function streamOptions(o: Record<string, unknown>): boolean {
  if (o.stream_options === undefined || o.stream_options === null) return false;
  return bool(record(o.stream_options, "stream_options"), "include_usage", false);
}

function singleChoice(o: Record<string, unknown>): void {
  if (o.n !== undefined && o.n !== null && o.n !== 1) throw new Invalid("n must be 1");
}

/** OpenAI fields that change nothing here and need no report (metadata, the model name, n = 1, plain text format). */
const OPENAI_INERT = ["model", "stream", "stream_options", "n", "user", "metadata", "store", "service_tier", "stateless", "tool_choice", "response_format"];
const OPENAI_CHAT = new Set([...OPENAI_INERT, ...OPENAI_SAMPLING, "messages"]);
const OPENAI_COMPLETION = new Set([...OPENAI_INERT, ...OPENAI_SAMPLING, "prompt"]);

/** An OpenAI body: the model and n = 1 checked first, then `rest` reads what is left, adding to the fields ignored so far. */
function parseOpenAI<T>(body: unknown, known: ReadonlySet<string>, rest: (o: Record<string, unknown>, ignored: string[]) => T): Parsed<T> {
  return parse(() => {
    const o = record(body, "the body");
    model(o);
    singleChoice(o);
    const ignored: string[] = [];
    reportUnused(o, known, ignored);
    return rest(o, ignored);
  });
}

/** POST /v1/chat/completions */
export const parseOpenAIChat = (body: unknown): Parsed<ChatRequest> =>
  parseOpenAI(body, OPENAI_CHAT, (o, ignored) => {
    refuseStructured(o);
    const list = messages(o.messages, ignored);
    return {
      messages: list, stream: bool(o, "stream", false), params: openaiParams(o), model: o.model as string | undefined, ignored,
      stateless: chatMode(o, list), includeUsage: streamOptions(o),
    };
  });

/** POST /v1/completions */
export const parseOpenAICompletion = (body: unknown): Parsed<GenerateRequest & { includeUsage: boolean }> =>
  parseOpenAI(body, OPENAI_COMPLETION, (o, ignored) => {
    const prompt = Array.isArray(o.prompt) && o.prompt.length === 1 ? o.prompt[0] : o.prompt;
    return {
      prompt: text(prompt, "prompt"), stream: bool(o, "stream", false), params: openaiParams(o), model: o.model as string | undefined,
      ignored, includeUsage: streamOptions(o),
    };
  });

const MAX_EMBED_INPUTS = 256;
const EMBED_FIELDS = new Set(["model", "input", "prompt", "truncate", "keep_alive", "dimensions", "encoding_format", "user", "options"]);

/**
 * POST /api/embed and /v1/embeddings ({input}: a text or a list of them),
 * /api/embeddings ({prompt}: one text).
 */
export const parseEmbed = (field: "input" | "prompt") => (body: unknown): Parsed<EmbedRequest> =>
  parse(() => {
    const o = record(body, "the body");
    model(o);
    keepAliveZero(o);
    const ignored: string[] = [];
    reportUnused(o, EMBED_FIELDS, ignored);
    if (o.options !== undefined && o.options !== null) reportUnused(record(o.options, "options"), new Set(), ignored, "options.");
    const format = o.encoding_format ?? "float";
    if (format !== "float" && format !== "base64") throw new Invalid('encoding_format must be "float" or "base64"');
    const raw = o[field];
    const list = field === "prompt" || typeof raw === "string" ? [raw] : raw;
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_EMBED_INPUTS)
      throw new Invalid(`${field} must be a string${field === "input" ? ` or an array of 1 to ${MAX_EMBED_INPUTS} strings` : ""}`);
    return {
      model: o.model as string | undefined, input: list.map((t, i) => text(t, list.length > 1 ? `${field}[${i}]` : field)),
      truncate: bool(o, "truncate", true), dimensions: num(o, "dimensions", 1, 1_000_000, true), base64: format === "base64", ignored,
    };
  });

/** POST /api/show {model} (older clients send {name}) */
export const parseShow = (body: unknown): Parsed<{ model: string }> =>
  parse(() => {
    const o = record(body, "the body");
    const name = o.model ?? o.name;
    if (typeof name !== "string" || name === "") throw new Invalid("model must be a non-empty string");
    return { model: name };
  });

/** POST /api/reload (an empty body means a plain reload) */
export const parseReload = (body: unknown): Parsed<ReloadRequest> =>
  parse(() => {
    if (body === undefined) return { rollback: false };
    return { rollback: bool(record(body, "the body"), "rollback", false) };
  });

/** A query parameter as a non-negative integer. */
function queryInt(query: Record<string, string>, key: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = query[key];
  if (v === undefined || v === "") return undefined;
  if (!/^\d{1,16}$/.test(v) || Number(v) > max) throw new Invalid(`${key} must be an integer in [0, ${max}]`);
  return Number(v);
}

/** ?limit=&before= for the paged lists. */
export const parsePage = (query: Record<string, string>, defaultLimit = 50, maxLimit = 500): Parsed<PageQuery> =>
  parse(() => {
    const limit = queryInt(query, "limit", maxLimit) ?? defaultLimit;
    if (limit < 1) throw new Invalid("limit must be at least 1");
    return { limit, before: queryInt(query, "before") };
  });

/** ?since=&until= in unix ms (what the trainer's export_dialogues.py sends). */
export const parseExport = (query: Record<string, string>): Parsed<ExportQuery> =>
  parse(() => ({ since: queryInt(query, "since"), until: queryInt(query, "until") }));
