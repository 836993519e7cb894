/**
 * protocol.ts — the messages between the Engine (main thread) and its Worker.
 *
 * Requests carry an `rid`; the worker answers each with exactly one "ok" or
 * "error", except "generate", which streams "tokens" and ends with "done" or
 * "error". The worker handles requests one at a time, in arrival order.
 * Cancellation does not travel as a message: the main thread stores the
 * generation's `gid` into slot `gid % CANCEL_SLOTS` of a shared Int32Array,
 * which the worker reads between tokens (one slot per gid, so cancelling a
 * queued generation never un-cancels a running one). One more slot carries the
 * watchdog keep-alive (Engine.keepAlive): the worker answers it between tokens
 * too, so a long generation never starves systemd's watchdog.
 */
import type { ErrorPayload } from "./errors.ts";

export const CANCEL_SLOTS = 64;
/** The keep-alive slot, after the cancel slots, and its states. */
export const KEEPALIVE_SLOT = CANCEL_SLOTS;
export const CONTROL_SLOTS = CANCEL_SLOTS + 1;
export const KEEPALIVE_IDLE = 0;
export const KEEPALIVE_REQUESTED = 1;
export const KEEPALIVE_FAILED = 2;

export interface ModelPaths {
  model: string;
  tokenizer: string;
}

/**
 * What a request that sets nothing gets, wherever it comes from: a living-session
 * turn, a stateless HTTP request, a ring. Defined once, here, where the sampler is.
 */
export const SAMPLING_DEFAULTS = { temperature: 0.8, topP: 0.9, topK: 40, repeatPenalty: 1.1, repeatWindow: 64 } as const;
export type SamplingDefaults = { -readonly [K in keyof typeof SAMPLING_DEFAULTS]: number };

export interface SamplingParams {
  /** 0 = greedy. Default SAMPLING_DEFAULTS.temperature. */
  temperature?: number;
  /** nucleus sampling in (0,1); >= 1 disables. Default SAMPLING_DEFAULTS.topP. */
  topP?: number;
  /** keep the k best; 0 disables. Default SAMPLING_DEFAULTS.topK. */
  topK?: number;
  /** > 1 penalizes tokens seen in the last repeatWindow tokens; 1 is off. Default SAMPLING_DEFAULTS.repeatPenalty. */
  repeatPenalty?: number;
  /** Default SAMPLING_DEFAULTS.repeatWindow. */
  repeatWindow?: number;
  /** The same seed gives the same tokens. Default: a fresh random seed. */
  seed?: number | bigint;
  /** Default: until the context window is full. */
  maxTokens?: number;
  /** Stop before the first occurrence of any of these (not included in the text). */
  stop?: string | string[];
  /** End-of-text and the stop strings cannot end the first this-many tokens. Default 0. */
  minTokens?: number;
  /** Sparse additive logit bias for this request. */
  bias?: LogitBias;
  /** Words the reply may copy, as token sequences: each unwritten one's next token is boosted (copy.ts). */
  copy?: CopyBias;
  /** Prepend BOS when the prompt is a string. Default true. */
  bos?: boolean;
}

export interface LogitBias {
  ids: Int32Array | readonly number[];
  weights: Float32Array | readonly number[];
}

export interface CopyBias {
  sequences: readonly (readonly number[])[];
  /** logits added to a sequence's first token */
  weight: number;
  /** logits added to its next token once its prefix was just written */
  continueWeight: number;
}

export interface TokenEvent {
  id: number;
  /** valid UTF-8 text this token completed (may be "" while bytes or a possible stop string are held back) */
  text: string;
  /** the model's entropy for this token: full softmax at temperature 1, before bias and sampling, ÷ ln(vocab), in [0,1] */
  entropy: number;
}

export type StopReason = "stop" | "length" | "cancelled" | "eos";

export interface GenerationSummary {
  /** tokens in the prompt (BOS included) */
  promptTokens: number;
  /** prompt tokens whose KV cache was reused from the previous request */
  reusedTokens: number;
  /** tokens generated (EOS/BOS not counted) */
  completionTokens: number;
  /** request start to first sampled token, ms */
  ttftMs: number;
  /** prefill of the new prompt tokens (all but the last), ms */
  prefillMs: number;
  /** decode rate after the first token, tokens/s (0 with fewer than 2 steps) */
  tokensPerSecond: number;
  stopReason: StopReason;
  /** the whole generated text (stop string excluded) */
  text: string;
  /** session position when the generation ended */
  contextTokens: number;
}

export interface EngineInfo {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** 0 legacy, 1 fp32, 2 Q8_0, 3 Q4_0 */
  format: number;
  /** Q8_0 group size, 0 for fp32 formats */
  groupSize: number;
  sharedClassifier: boolean;
  nParams: number;
  fileBytes: number;
  threads: number;
  /** "scalar", "avx2", "neon", "neon-dotprod" */
  kernel: string;
  /** library version */
  version: string;
  libPath: string;
  modelPath: string;
  tokenizerPath: string;
}

/** Texts as unit-length vectors (ar_session_embed), and the tokens they took. */
export interface Embeddings {
  vectors: Float32Array[];
  tokens: number;
}

export interface LibraryInfo {
  version: string;
  kernel: string;
  libPath: string;
  variant: string;
}

// ---- main -> worker ---------------------------------------------------------

export type Request =
  | { type: "init"; rid: number; libPath?: string; threads?: number; cancel: SharedArrayBuffer }
  | { type: "load"; rid: number; paths: ModelPaths }
  | { type: "info"; rid: number }
  | { type: "tokenize"; rid: number; text: string; bos: boolean; eos: boolean }
  | { type: "detokenize"; rid: number; ids: number[] }
  | { type: "embed"; rid: number; texts: string[]; truncate: boolean }
  | { type: "generate"; rid: number; gid: number; prompt: string | number[]; params: SamplingParams }
  | { type: "reset"; rid: number }
  | { type: "notify"; rid: number; state: string }
  | { type: "keepalive"; rid: number }
  | { type: "close"; rid: number };

// ---- worker -> main ---------------------------------------------------------

export type Response =
  | { type: "ok"; rid: number; value: unknown }
  | { type: "error"; rid: number; error: ErrorPayload }
  | { type: "tokens"; rid: number; tokens: TokenEvent[] }
  | { type: "done"; rid: number; summary: GenerationSummary };
