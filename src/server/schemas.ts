/**
 * schemas.ts — every HTTP request body and query is validated here, and only
 * here. A validator returns the typed request or a message that says what is
 * wrong; routes turn that message into a 400.
 */
import type { SamplingParams } from "../engine/index.ts";

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** A chat message as both API families send it (OpenAI content parts are joined). */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** A request that generates text: on the living session, or stateless on the bare kernel. */
interface GenerationRequest {
  stream: boolean;
  params: SamplingParams;
}

export interface GenerateRequest extends GenerationRequest {
  prompt: string;
}

export interface ChatRequest extends GenerationRequest {
  messages: ChatMessage[];
  /** true: a plain generation over `messages`; false: the last user message joins the living session */
  stateless: boolean;
  /** OpenAI's stream_options.include_usage (usage is sent in the final chunk either way) */
  includeUsage: boolean;
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

/** Ollama's `options` object, mapped onto the engine's sampling parameters. */
function ollamaOptions(v: unknown): SamplingParams {
  if (v === undefined || v === null) return {};
  const o = record(v, "options");
  return {
    temperature: num(o, "temperature", 0, 10),
    topP: num(o, "top_p", 0, 1),
    topK: num(o, "top_k", 0, 1_000_000, true),
    repeatPenalty: num(o, "repeat_penalty", 0.01, 10),
    seed: num(o, "seed", 0, Number.MAX_SAFE_INTEGER, true),
    maxTokens: num(o, "num_predict", 1, 1_000_000, true),
    stop: stops(o.stop, "options.stop"),
  };
}

/** OpenAI's top-level sampling fields. */
function openaiParams(o: Record<string, unknown>): SamplingParams {
  return {
    temperature: num(o, "temperature", 0, 2),
    topP: num(o, "top_p", 0, 1),
    seed: num(o, "seed", 0, Number.MAX_SAFE_INTEGER, true),
    maxTokens: num(o, "max_completion_tokens", 1, 1_000_000, true) ?? num(o, "max_tokens", 1, 1_000_000, true),
    stop: stops(o.stop, "stop"),
  };
}

const ROLES: Record<string, ChatMessage["role"]> = { system: "system", developer: "system", user: "user", assistant: "assistant" };

function messages(v: unknown): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0) throw new Invalid("messages must be a non-empty array");
  if (v.length > MAX_MESSAGES) throw new Invalid(`messages holds more than ${MAX_MESSAGES} entries`);
  return v.map((m, i) => {
    const o = record(m, `messages[${i}]`);
    const role = typeof o.role === "string" ? ROLES[o.role] : undefined;
    if (!role) throw new Invalid(`messages[${i}].role must be one of ${Object.keys(ROLES).join(", ")}`);
    return { role, content: content(o.content, `messages[${i}].content`) };
  });
}

/** A string, or OpenAI's array of content parts of which only text parts are accepted. */
function content(v: unknown, what: string): string {
  if (!Array.isArray(v)) return text(v, what);
  return text(
    v.map((part, i) => {
      const p = record(part, `${what}[${i}]`);
      if (p.type !== "text") throw new Invalid(`${what}[${i}] must be a text part`);
      return text(p.text, `${what}[${i}].text`);
    }).join(""),
    what,
  );
}

/** A living-session chat needs a user message to append. */
function checkChat(request: ChatRequest): ChatRequest {
  if (!request.stateless && request.messages.at(-1)!.role !== "user")
    throw new Invalid("the last message must come from the user (it joins the living session)");
  if (!request.stateless && request.messages.at(-1)!.content.trim() === "")
    throw new Invalid("the last user message is empty");
  return request;
}

function parse<T>(fn: () => T): Parsed<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: e.message };
    throw e;
  }
}

/** POST /api/generate */
export const parseGenerate = (body: unknown): Parsed<GenerateRequest> =>
  parse(() => {
    const o = record(body, "the body");
    model(o);
    return { prompt: text(o.prompt, "prompt"), stream: bool(o, "stream", true), params: ollamaOptions(o.options) };
  });

/** POST /api/chat */
export const parseOllamaChat = (body: unknown): Parsed<ChatRequest> =>
  parse(() => {
    const o = record(body, "the body");
    model(o);
    return checkChat({
      messages: messages(o.messages), stream: bool(o, "stream", true), params: ollamaOptions(o.options),
      stateless: bool(o, "stateless", false), includeUsage: false,
    });
  });

function streamOptions(o: Record<string, unknown>): boolean {
  if (o.stream_options === undefined || o.stream_options === null) return false;
  return bool(record(o.stream_options, "stream_options"), "include_usage", false);
}

/** POST /v1/chat/completions */
export const parseOpenAIChat = (body: unknown): Parsed<ChatRequest> =>
  parse(() => {
    const o = record(body, "the body");
    model(o);
    if (o.n !== undefined && o.n !== null && o.n !== 1) throw new Invalid("n must be 1");
    return checkChat({
      messages: messages(o.messages), stream: bool(o, "stream", false), params: openaiParams(o),
      stateless: bool(o, "stateless", false), includeUsage: streamOptions(o),
    });
  });

/** POST /v1/completions */
export const parseOpenAICompletion = (body: unknown): Parsed<GenerateRequest & { includeUsage: boolean }> =>
  parse(() => {
    const o = record(body, "the body");
    model(o);
    if (o.n !== undefined && o.n !== null && o.n !== 1) throw new Invalid("n must be 1");
    const prompt = Array.isArray(o.prompt) && o.prompt.length === 1 ? o.prompt[0] : o.prompt;
    return { prompt: text(prompt, "prompt"), stream: bool(o, "stream", false), params: openaiParams(o), includeUsage: streamOptions(o) };
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
