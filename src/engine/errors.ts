/**
 * errors.ts — typed engine errors.
 *
 * Every failure the engine reports is an EngineError: `code` is the C core's
 * AR_E_* code (negative) or one of the engine's own codes below (<= -100),
 * `codeName` its name ("E_FORMAT", ...), `kind` a coarse discriminant, and
 * `message` the text (for C failures, ar_last_error()). Subclasses exist for
 * the kinds callers usually branch on.
 */
import { AR_ERROR_NAMES } from "./abi.ts";

/** Engine-side codes (the C core never returns these). */
export const E_NO_MODEL = -100; // no model loaded yet
export const E_CLOSED = -101; // the engine was closed
export const E_WORKER = -102; // the worker died or could not start
export const E_CANCELLED = -103; // an operation was cancelled before it ran
export const E_LIBRARY = -104; // the native library could not be found, built or opened

const ENGINE_NAMES: Record<number, string> = {
  [E_NO_MODEL]: "E_NO_MODEL",
  [E_CLOSED]: "E_CLOSED",
  [E_WORKER]: "E_WORKER",
  [E_CANCELLED]: "E_CANCELLED",
  [E_LIBRARY]: "E_LIBRARY",
};

export type ErrorKind =
  | "io" | "format" | "nomem" | "arg" | "tokenizer" | "context" | "buffer"
  | "cancelled" | "state" | "internal";

/** The shape an error takes on its way across postMessage. */
export interface ErrorPayload {
  code: number;
  message: string;
}

export function codeName(code: number): string {
  return AR_ERROR_NAMES[code] ?? ENGINE_NAMES[code] ?? `E_UNKNOWN(${code})`;
}

function kindOf(code: number): ErrorKind {
  switch (codeName(code)) {
    case "E_IO": return "io";
    case "E_FORMAT": return "format";
    case "E_NOMEM": return "nomem";
    case "E_ARG": return "arg";
    case "E_TOKENIZER": return "tokenizer";
    case "E_CONTEXT": return "context";
    case "E_BUFFER": return "buffer";
    case "E_CANCELLED": return "cancelled";
    case "E_NO_MODEL":
    case "E_CLOSED": return "state";
    default: return "internal";
  }
}

export class EngineError extends Error {
  override name = "EngineError";
  readonly code: number;
  readonly codeName: string;
  readonly kind: ErrorKind;

  constructor(code: number, message: string) {
    super(message || codeName(code));
    this.code = code;
    this.codeName = codeName(code);
    this.kind = kindOf(code);
  }

  /** The right subclass for a code. */
  static from(p: ErrorPayload): EngineError {
    switch (kindOf(p.code)) {
      case "format": return new FormatError(p.code, p.message);
      case "io": return new IoError(p.code, p.message);
      case "tokenizer": return new TokenizerError(p.code, p.message);
      case "context": return new ContextError(p.code, p.message);
      case "cancelled": return new CancelledError(p.code, p.message);
      default: return new EngineError(p.code, p.message);
    }
  }

  toPayload(): ErrorPayload {
    return { code: this.code, message: this.message };
  }
}

/** Bad magic, version, dims or file size (E_FORMAT). */
export class FormatError extends EngineError {
  override name = "FormatError";
}
/** The file cannot be opened, read or mapped (E_IO). */
export class IoError extends EngineError {
  override name = "IoError";
}
/** A bad tokenizer.bin or a tokenizer/model mismatch (E_TOKENIZER). */
export class TokenizerError extends EngineError {
  override name = "TokenizerError";
}
/** The prompt does not fit the context window (E_CONTEXT). */
export class ContextError extends EngineError {
  override name = "ContextError";
}
/** An operation was cancelled before it ran (E_CANCELLED). */
export class CancelledError extends EngineError {
  override name = "CancelledError";
}

/** Turn anything thrown into a payload for postMessage. */
export function toPayload(e: unknown): ErrorPayload {
  if (e instanceof EngineError) return e.toPayload();
  return { code: E_WORKER, message: e instanceof Error ? e.message : String(e) };
}
