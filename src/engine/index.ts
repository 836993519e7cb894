/**
 * The engine's public API: an Engine on the main thread driving libarianna.so
 * in a Worker. Import from here, not from the files behind it.
 */
export { defaultThreads, Engine, Generation, modelPaths, type EngineOptions, type ModelSource } from "./engine.ts";
export {
  CancelledError, ContextError, E_CANCELLED, E_CLOSED, E_LIBRARY, E_NO_MODEL, E_WORKER, EngineError,
  FormatError, IoError, TokenizerError, codeName, type ErrorKind,
} from "./errors.ts";
export {
  AR_E_ARG, AR_E_BUFFER, AR_E_CONTEXT, AR_E_FORMAT, AR_E_IO, AR_E_NOMEM, AR_E_TOKENIZER, AR_OK,
  TOKEN_BOS, TOKEN_EOS, TOKEN_UNK,
} from "./abi.ts";
export { libraryCandidates, resolveLibrary, type LibraryChoice } from "./library.ts";
export { SAMPLING_DEFAULTS, type SamplingDefaults } from "./protocol.ts";
export type {
  CopyBias, Embeddings, EngineInfo, GenerationSummary, LibraryInfo, LogitBias, ModelPaths, SamplingParams, StopReason, TokenEvent,
} from "./protocol.ts";
