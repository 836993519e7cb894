/**
 * schemas.ts — every HTTP request body is validated here, and only here.
 * A validator returns the typed request or a message that says what is wrong.
 */
import type { SamplingParams } from "../engine/index.ts";

export type Parsed<T> = { ok: true; value: T } | { ok: false, error: string };

export interface GenerateRequest {
  model?: string;
  prompt: string;
  stream: boolean;
  params: SamplingParams;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A finite number within [min, max], or undefined when absent. */
function num(o: Record<string, unknown>, key: string, min: number, max: number, integer = false): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
    throw new Error(`${key} must be a${integer ? "n integer" : " number"} in [${min}, ${max}]`);
  return v;
}

/** Ollama's `options` object, mapped onto the engine's sampling parameters. */
function ollamaOptions(v: unknown): SamplingParams {
  if (v === undefined || v === null) return {};
  if (!isRecord(v)) throw new Error("options must be an object");
  const stop = v.stop;
  if (stop !== undefined && !(Array.isArray(stop) && stop.every((s) => typeof s === "string" && s.length > 0)))
    throw new Error("options.stop must be an array of non-empty strings");
  return {
    temperature: num(v, "temperature", 0, 10),
    topP: num(v, "top_p", 0, 1),
    topK: num(v, "top_k", 0, 1_000_000, true),
    repeatPenalty: num(v, "repeat_penalty", 0.01, 10),
    seed: num(v, "seed", 0, Number.MAX_SAFE_INTEGER, true),
    maxTokens: num(v, "num_predict", 1, 1_000_000, true),
    stop: stop as string[] | undefined,
  };
}

export function parseGenerate(body: unknown): Parsed<GenerateRequest> {
  try {
    if (!isRecord(body)) throw new Error("the body must be a JSON object");
    if (typeof body.prompt !== "string") throw new Error("prompt must be a string");
    if (body.model !== undefined && typeof body.model !== "string") throw new Error("model must be a string");
    if (body.stream !== undefined && typeof body.stream !== "boolean") throw new Error("stream must be a boolean");
    return {
      ok: true,
      value: { model: body.model, prompt: body.prompt, stream: body.stream ?? true, params: ollamaOptions(body.options) },
    };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}
