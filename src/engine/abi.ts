/**
 * abi.ts — the TypeScript mirror of csrc/arianna.h for bun:ffi.
 *
 * KEEP IN STEP WITH csrc/arianna.h: the two files change together, and the
 * declarations below follow the header's order (errors, info, model info keys,
 * model, session, sampler, tokenizer, decoder, embeddings, service manager).
 *
 * Only the engine Worker may dlopen the library (bun:ffi calls block the thread
 * they run on). Handles are opaque pointers (numbers); strings go in as
 * NUL-terminated Buffers and come back as pointers read through CString.
 */
import { CString, FFIType, dlopen, type Pointer } from "bun:ffi";

// ---- error codes (enum AR_OK / AR_E_*) -------------------------------------
export const AR_OK = 0;
export const AR_E_IO = -1;
export const AR_E_FORMAT = -2;
export const AR_E_NOMEM = -3;
export const AR_E_ARG = -4;
export const AR_E_TOKENIZER = -5;
export const AR_E_CONTEXT = -6;
export const AR_E_BUFFER = -7;

/** Names of the C error codes, as EngineError.codeName reports them. */
export const AR_ERROR_NAMES: Readonly<Record<number, string>> = {
  [AR_OK]: "OK",
  [AR_E_IO]: "E_IO",
  [AR_E_FORMAT]: "E_FORMAT",
  [AR_E_NOMEM]: "E_NOMEM",
  [AR_E_ARG]: "E_ARG",
  [AR_E_TOKENIZER]: "E_TOKENIZER",
  [AR_E_CONTEXT]: "E_CONTEXT",
  [AR_E_BUFFER]: "E_BUFFER",
};

// ---- ar_model_info keys (enum AR_INFO_*) -----------------------------------
export const AR_INFO_DIM = 0;
export const AR_INFO_HIDDEN_DIM = 1;
export const AR_INFO_N_LAYERS = 2;
export const AR_INFO_N_HEADS = 3;
export const AR_INFO_N_KV_HEADS = 4;
export const AR_INFO_VOCAB_SIZE = 5;
export const AR_INFO_SEQ_LEN = 6;
export const AR_INFO_FORMAT = 7;
export const AR_INFO_GROUP_SIZE = 8;
export const AR_INFO_SHARED_CLASSIFIER = 9;
export const AR_INFO_N_PARAMS = 10;
export const AR_INFO_FILE_BYTES = 11;
export const AR_INFO_N_THREADS = 12;

/** Token ids fixed by the llama2.c tokenizer format. */
export const TOKEN_UNK = 0;
export const TOKEN_BOS = 1;
export const TOKEN_EOS = 2;

/** The symbol table, in the header's order. */
export const symbols = {
  // errors and library info
  ar_last_error: { args: [], returns: FFIType.ptr },
  ar_last_error_code: { args: [], returns: FFIType.i32 },
  ar_version: { args: [], returns: FFIType.ptr },
  ar_kernel_name: { args: [], returns: FFIType.ptr },

  // model
  ar_model_open: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.ptr },
  ar_model_free: { args: [FFIType.ptr], returns: FFIType.void },
  ar_model_info: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i64_fast },

  // session
  ar_session_new: { args: [FFIType.ptr], returns: FFIType.ptr },
  ar_session_free: { args: [FFIType.ptr], returns: FFIType.void },
  ar_session_reset: { args: [FFIType.ptr], returns: FFIType.void },
  ar_session_pos: { args: [FFIType.ptr], returns: FFIType.i32 },
  ar_session_truncate: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  ar_session_prefill: { args: [FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  ar_session_prefill_kv: { args: [FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  ar_session_forward: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  ar_session_logits: { args: [FFIType.ptr], returns: FFIType.ptr },

  // sampler
  ar_sampler_new: { args: [FFIType.i32, FFIType.u64], returns: FFIType.ptr },
  ar_sampler_free: { args: [FFIType.ptr], returns: FFIType.void },
  ar_sampler_seed: { args: [FFIType.ptr, FFIType.u64], returns: FFIType.void },
  ar_sampler_config: {
    args: [FFIType.ptr, FFIType.f32, FFIType.f32, FFIType.i32, FFIType.f32, FFIType.i32],
    returns: FFIType.i32,
  },
  ar_sampler_set_bias: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  ar_sampler_observe: { args: [FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  ar_sampler_sample: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  ar_sampler_last_entropy: { args: [FFIType.ptr], returns: FFIType.f32 },
  ar_session_step: { args: [FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },

  // tokenizer
  ar_tokenizer_open: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.ptr },
  ar_tokenizer_free: { args: [FFIType.ptr], returns: FFIType.void },
  ar_tokenizer_vocab_size: { args: [FFIType.ptr], returns: FFIType.i32 },
  ar_tokenizer_encode: {
    args: [FFIType.ptr, FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.i32],
    returns: FFIType.i32,
  },
  ar_tokenizer_piece: { args: [FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },

  // streaming decoder
  ar_decoder_new: { args: [FFIType.ptr], returns: FFIType.ptr },
  ar_decoder_free: { args: [FFIType.ptr], returns: FFIType.void },
  ar_decoder_reset: { args: [FFIType.ptr], returns: FFIType.void },
  ar_decoder_push: { args: [FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  ar_decoder_flush: { args: [FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },

  // embeddings
  ar_session_embed: { args: [FFIType.ptr, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },

  // service manager
  ar_sd_notify: { args: [FFIType.ptr], returns: FFIType.i32 },
} as const;

export type AriannaLibrary = ReturnType<typeof openLibrary>;
export type AriannaSymbols = AriannaLibrary["symbols"];
export type Handle = Pointer;

/** dlopen libarianna.so with the full symbol table (Worker only). */
export function openLibrary(path: string) {
  return dlopen(path, symbols);
}

/** Read a C string the library returned (NULL reads as ""). */
export function cstring(p: Pointer | null): string {
  return p ? new CString(p).toString() : "";
}

/** A NUL-terminated UTF-8 copy of s for a `const char *` argument. */
export function cstr(s: string): Buffer {
  return Buffer.from(s + "\0", "utf8");
}
