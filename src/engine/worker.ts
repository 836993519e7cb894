/**
 * worker.ts — the engine Worker: the only thread that touches libarianna.so.
 *
 * It holds one model + tokenizer + session (KV cache) + sampler + decoder and
 * serves the requests of protocol.ts one at a time. A generation is a plain
 * synchronous loop of one short FFI call per token (ar_session_step); tokens
 * are posted as they come, and the main thread cancels through a shared Int32
 * flag that the loop reads between tokens (docs/architecture.md §8).
 */
/// <reference lib="webworker" />
import { ptr, type Pointer } from "bun:ffi";
import {
  AR_E_ARG, AR_E_BUFFER, AR_E_CONTEXT, AR_E_IO, AR_E_TOKENIZER,
  AR_INFO_DIM, AR_INFO_FILE_BYTES, AR_INFO_FORMAT, AR_INFO_GROUP_SIZE, AR_INFO_HIDDEN_DIM,
  AR_INFO_N_HEADS, AR_INFO_N_KV_HEADS, AR_INFO_N_LAYERS, AR_INFO_N_PARAMS, AR_INFO_N_THREADS,
  AR_INFO_SEQ_LEN, AR_INFO_SHARED_CLASSIFIER, AR_INFO_VOCAB_SIZE,
  TOKEN_BOS, TOKEN_EOS, cstr, cstring, openLibrary, type AriannaLibrary, type AriannaSymbols,
} from "./abi.ts";
import { E_LIBRARY, E_NO_MODEL, EngineError, toPayload } from "./errors.ts";
import { CopyState } from "./copy.ts";
import { resolveLibrary } from "./library.ts";
import {
  CANCEL_SLOTS, KEEPALIVE_FAILED, KEEPALIVE_IDLE, KEEPALIVE_REQUESTED, KEEPALIVE_SLOT, SAMPLING_DEFAULTS,
} from "./protocol.ts";
import type {
  Embeddings, EngineInfo, GenerationSummary, LibraryInfo, ModelPaths, Request, Response, SamplingParams,
  StopReason, TokenEvent,
} from "./protocol.ts";

declare const self: Worker;

interface Loaded {
  model: Pointer;
  tokenizer: Pointer;
  session: Pointer;
  sampler: Pointer;
  decoder: Pointer;
  vocab: number;
  seqLen: number;
  info: EngineInfo;
  /** the tokens whose K/V are in the session, in order (cache.length == ar_session_pos) */
  cache: number[];
  /** 1 for byte pieces <0x80>..<0xFF>: after one the decoder may hold bytes back */
  highByte: Uint8Array;
  /** a second session for embeddings (made on first use), so they never evict the generation's cache */
  embedder: Pointer | null;
}

let library: AriannaLibrary | null = null;
let L: AriannaSymbols;
let libInfo: LibraryInfo | null = null;
let threads = 0;
/** Longest a generated token waits in the worker before it is posted, ms. */
const FLUSH_MS = 2;

let controlFlags: Int32Array<ArrayBufferLike> = new Int32Array(CANCEL_SLOTS);
let cur: Loaded | null = null;

let outBuf = new Uint8Array(4096);
const utf8 = new TextDecoder("utf-8");

function post(msg: Response): void {
  self.postMessage(msg);
}

/** The library's last failure as an EngineError (fallback code if none recorded). */
function lastError(fallback: number, context?: string): EngineError {
  const code = L.ar_last_error_code() || fallback;
  const msg = cstring(L.ar_last_error() as Pointer | null);
  return new EngineError(code, context ? `${context}: ${msg || "failed"}` : msg);
}

/** Send the watchdog ping the main thread asked for, if it asked (see Engine.keepAlive). */
function serveKeepAlive(): void {
  if (Atomics.load(controlFlags, KEEPALIVE_SLOT) !== KEEPALIVE_REQUESTED) return;
  const rc = L.ar_sd_notify(cstr("WATCHDOG=1"));
  Atomics.store(controlFlags, KEEPALIVE_SLOT, rc < 0 ? KEEPALIVE_FAILED : KEEPALIVE_IDLE);
}

function need(): Loaded {
  if (!cur) throw new EngineError(E_NO_MODEL, "no model loaded");
  return cur;
}

// ---- init / load ------------------------------------------------------------

function init(libPath: string | undefined, nThreads: number | undefined, cancel: SharedArrayBuffer): LibraryInfo {
  if (library) return libInfo!;
  controlFlags = new Int32Array(cancel);
  threads = nThreads ?? 0;
  const choice = libPath ? { path: libPath, variant: "explicit" } : resolveLibrary();
  try {
    library = openLibrary(choice.path);
  } catch (e) {
    const message = (e as Error).message;
    // a library built before this checkout's engine bindings (the Pi builds are not rebuilt by themselves)
    const hint = /symbol/i.test(message) ? " (a build older than this checkout: `bun run build`, or `bun run build:cross` for the Pi builds)" : "";
    throw new EngineError(E_LIBRARY, `cannot open ${choice.path}: ${message}${hint}`);
  }
  L = library.symbols;
  libInfo = {
    version: cstring(L.ar_version() as Pointer | null),
    kernel: cstring(L.ar_kernel_name() as Pointer | null),
    libPath: choice.path,
    variant: choice.variant,
  };
  return libInfo;
}

function modelInfo(m: Pointer, key: number): number {
  return Number(L.ar_model_info(m, key));
}

/** Open everything for a model; frees what it made if any step fails. */
function open(paths: ModelPaths): Loaded {
  if (!library) throw new EngineError(E_LIBRARY, "library not initialized");
  const made: [(p: Pointer) => void, Pointer][] = [];
  const keep = (p: Pointer | bigint | null, free: (p: Pointer) => void, fallback: number, what: string): Pointer => {
    if (!p) throw lastError(fallback, what);
    const h = p as Pointer;
    made.push([free, h]);
    return h;
  };
  try {
    const model = keep(L.ar_model_open(cstr(paths.model), threads), L.ar_model_free, AR_E_IO, paths.model);
    const vocab = modelInfo(model, AR_INFO_VOCAB_SIZE);
    const tokenizer = keep(
      L.ar_tokenizer_open(cstr(paths.tokenizer), vocab), L.ar_tokenizer_free, AR_E_TOKENIZER, paths.tokenizer,
    );
    const session = keep(L.ar_session_new(model), L.ar_session_free, AR_E_ARG, "session");
    const sampler = keep(L.ar_sampler_new(vocab, 0n), L.ar_sampler_free, AR_E_ARG, "sampler");
    const decoder = keep(L.ar_decoder_new(tokenizer), L.ar_decoder_free, AR_E_ARG, "decoder");
    const info: EngineInfo = {
      dim: modelInfo(model, AR_INFO_DIM),
      hiddenDim: modelInfo(model, AR_INFO_HIDDEN_DIM),
      nLayers: modelInfo(model, AR_INFO_N_LAYERS),
      nHeads: modelInfo(model, AR_INFO_N_HEADS),
      nKvHeads: modelInfo(model, AR_INFO_N_KV_HEADS),
      vocabSize: vocab,
      seqLen: modelInfo(model, AR_INFO_SEQ_LEN),
      format: modelInfo(model, AR_INFO_FORMAT),
      groupSize: modelInfo(model, AR_INFO_GROUP_SIZE),
      sharedClassifier: modelInfo(model, AR_INFO_SHARED_CLASSIFIER) === 1,
      nParams: modelInfo(model, AR_INFO_N_PARAMS),
      fileBytes: modelInfo(model, AR_INFO_FILE_BYTES),
      threads: modelInfo(model, AR_INFO_N_THREADS),
      kernel: libInfo!.kernel,
      version: libInfo!.version,
      libPath: libInfo!.libPath,
      modelPath: paths.model,
      tokenizerPath: paths.tokenizer,
    };
    const highByte = highBytePieces(tokenizer, vocab);
    return { model, tokenizer, session, sampler, decoder, vocab, seqLen: info.seqLen, info, cache: [], highByte, embedder: null };
  } catch (e) {
    for (const [free, p] of made.reverse()) free(p);
    throw e;
  }
}

function highBytePieces(tokenizer: Pointer, vocab: number): Uint8Array {
  const out = new Uint8Array(vocab);
  const buf = new Uint8Array(16);
  const p = ptr(buf);
  for (let id = 0; id < vocab; id++) {
    // "<0xXX>" with X >= 8: 6 bytes, '<' '0' 'x' hex hex '>'
    if (L.ar_tokenizer_piece(tokenizer, id, p, 16) !== 6) continue;
    if (buf[0] !== 60 || buf[1] !== 48 || buf[2] !== 120 || buf[5] !== 62) continue;
    const hi = parseInt(String.fromCharCode(buf[3]), 16);
    if (hi >= 8 && Number.isFinite(parseInt(String.fromCharCode(buf[4]), 16))) out[id] = 1;
  }
  return out;
}

function release(c: Loaded): void {
  if (c.embedder) L.ar_session_free(c.embedder);
  L.ar_decoder_free(c.decoder);
  L.ar_sampler_free(c.sampler);
  L.ar_session_free(c.session);
  L.ar_tokenizer_free(c.tokenizer);
  L.ar_model_free(c.model);
}

/** Load fully first; only then let go of the old model (which keeps serving on failure). */
function load(paths: ModelPaths): EngineInfo {
  const next = open(paths);
  const old = cur;
  cur = next;
  if (old) release(old);
  return next.info;
}

// ---- tokenizer --------------------------------------------------------------

function encode(c: Loaded, text: string, bos: boolean, eos: boolean): number[] {
  const bytes = Buffer.from(text + "\0", "utf8");
  const len = bytes.length - 1;
  // every token covers >= 1 byte; + BOS, EOS and the dummy prefix space
  let out = new Int32Array(len + 4);
  let n = L.ar_tokenizer_encode(c.tokenizer, ptr(bytes), len, bos ? 1 : 0, eos ? 1 : 0, ptr(out), out.length);
  if (n < 0) throw lastError(n, "encode");
  return Array.from(out.subarray(0, n));
}

/** Run a decoder call that writes into outBuf, growing it if the text does not fit. */
function decodeInto(call: (out: Pointer, cap: number) => number): string {
  for (;;) {
    const n = call(ptr(outBuf), outBuf.length);
    if (n === AR_E_BUFFER && outBuf.length < 1 << 20) {
      outBuf = new Uint8Array(outBuf.length * 4); // the decoder consumed nothing: retry
      continue;
    }
    if (n < 0) throw lastError(n, "decode");
    return n ? utf8.decode(outBuf.subarray(0, n)) : "";
  }
}

function decodePush(c: Loaded, prev: number, id: number): string {
  return decodeInto((out, cap) => L.ar_decoder_push(c.decoder, prev, id, out, cap));
}

function decodeFlush(c: Loaded): string {
  return decodeInto((out, cap) => L.ar_decoder_flush(c.decoder, out, cap));
}

/** Ids to text; BOS/EOS are not rendered (a piece after BOS loses its dummy-prefix space). */
function detokenize(c: Loaded, ids: number[]): string {
  checkIds(c, ids);
  L.ar_decoder_reset(c.decoder);
  let s = "";
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] === TOKEN_BOS || ids[i] === TOKEN_EOS) continue;
    s += decodePush(c, i > 0 ? ids[i - 1] : -1, ids[i]);
  }
  s += decodeFlush(c);
  L.ar_decoder_reset(c.decoder);
  return s;
}

function checkIds(c: Loaded, ids: number[]): void {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= c.vocab) {
      throw new EngineError(AR_E_ARG, `token id ${id} is outside the vocabulary [0, ${c.vocab})`);
    }
  }
}

// ---- generation -------------------------------------------------------------

function randomSeed(): bigint {
  const w = crypto.getRandomValues(new Uint32Array(2));
  return (BigInt(w[0]) << 32n) | BigInt(w[1]);
}

function num(v: number | undefined, def: number, name: string, ok: (x: number) => boolean): number {
  if (v === undefined) return def;
  if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) throw new EngineError(AR_E_ARG, `bad ${name}: ${v}`);
  return v;
}

/** End-of-text (and BOS) held this far below every other token while a generation must go on. */
const NO_END_BIAS = -1e9;

/**
 * The request's bias plus the copy boosts now (added), with BOS/EOS pushed out of reach while
 * `noEnd` (the caller's own BOS/EOS weights give way).
 */
function setBias(c: Loaded, p: SamplingParams, noEnd: boolean, copy?: CopyState): void {
  const ids = p.bias ? Int32Array.from(p.bias.ids as ArrayLike<number>) : new Int32Array(0);
  const weights = p.bias ? Float32Array.from(p.bias.weights as ArrayLike<number>) : new Float32Array(0);
  if (ids.length !== weights.length) throw new EngineError(AR_E_ARG, "bias: ids and weights differ in length");
  const all = new Map<number, number>();
  ids.forEach((id, i) => all.set(id, (all.get(id) ?? 0) + weights[i]));
  for (const [id, w] of copy?.entries() ?? []) all.set(id, (all.get(id) ?? 0) + w);
  if (noEnd) all.set(TOKEN_EOS, NO_END_BIAS).set(TOKEN_BOS, NO_END_BIAS);
  const rc = all.size
    ? L.ar_sampler_set_bias(c.sampler, ptr(Int32Array.from(all.keys())), ptr(Float32Array.from(all.values())), all.size)
    : L.ar_sampler_set_bias(c.sampler, null, null, 0);
  if (rc < 0) throw lastError(rc, "bias");
}

function configureSampler(c: Loaded, p: SamplingParams, prompt: number[], minTokens: number, copy?: CopyState): void {
  const d = SAMPLING_DEFAULTS;
  const temperature = num(p.temperature, d.temperature, "temperature", (x) => x >= 0);
  const topP = num(p.topP, d.topP, "topP", (x) => x > 0);
  const topK = num(p.topK, d.topK, "topK", (x) => Number.isInteger(x) && x >= 0);
  const penalty = num(p.repeatPenalty, d.repeatPenalty, "repeatPenalty", (x) => x > 0);
  const window = num(p.repeatWindow, d.repeatWindow, "repeatWindow", (x) => Number.isInteger(x) && x >= 0);
  let rc = L.ar_sampler_config(c.sampler, temperature, topP, topK, penalty, window);
  if (rc < 0) throw lastError(rc, "sampler config");

  let seed: bigint;
  if (p.seed === undefined) seed = randomSeed();
  else if (typeof p.seed === "bigint") seed = BigInt.asUintN(64, p.seed);
  else if (Number.isSafeInteger(p.seed)) seed = BigInt.asUintN(64, BigInt(p.seed));
  else throw new EngineError(AR_E_ARG, `bad seed: ${p.seed}`);
  L.ar_sampler_seed(c.sampler, seed);

  setBias(c, p, minTokens > 0, copy);

  rc = L.ar_sampler_observe(c.sampler, null, 0);
  if (rc < 0) throw lastError(rc, "observe");
  const hist = Int32Array.from(prompt.slice(-Math.max(window, 1)));
  rc = L.ar_sampler_observe(c.sampler, ptr(hist), hist.length);
  if (rc < 0) throw lastError(rc, "observe");
}

/** The earliest occurrence of any stop string in s, or -1. */
function findStop(s: string, stops: string[]): number {
  let best = -1;
  for (const st of stops) {
    const i = s.indexOf(st);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** Length of the longest suffix of s that is a proper prefix of some stop string. */
function heldSuffix(s: string, stops: string[]): number {
  let keep = 0;
  for (const st of stops) {
    for (let k = Math.min(st.length - 1, s.length); k > keep; k--) {
      if (s.endsWith(st.slice(0, k))) {
        keep = k;
        break;
      }
    }
  }
  return keep;
}

/** The prompt as checked token ids that fit the context (a string is encoded, with BOS unless `bos` is false). */
function promptIds(c: Loaded, prompt: string | number[], bos: boolean): number[] {
  const ids = typeof prompt === "string" ? encode(c, prompt, bos, false) : [...prompt];
  if (typeof prompt !== "string") checkIds(c, ids);
  if (ids.length === 0) throw new EngineError(AR_E_ARG, "empty prompt");
  if (ids.length > c.seqLen) {
    throw new EngineError(AR_E_CONTEXT, `the prompt has ${ids.length} tokens; the context holds ${c.seqLen}`);
  }
  return ids;
}

/** When a generation must end: its token cap, its stop strings, and how many tokens nothing may end. */
interface Limits {
  maxTokens: number;
  stops: string[];
  minTokens: number;
}

function limitsOf(p: SamplingParams): Limits {
  const maxTokens = num(p.maxTokens, Infinity, "maxTokens", (x) => x >= 0 && (Number.isInteger(x) || x === Infinity));
  const stops = (p.stop === undefined ? [] : Array.isArray(p.stop) ? p.stop : [p.stop]).filter((s) => s.length > 0);
  const minTokens = num(p.minTokens, 0, "minTokens", (x) => Number.isInteger(x) && x >= 0);
  return { maxTokens, stops, minTokens };
}

/**
 * Bring the session to all prompt tokens but the last (which always runs
 * through step()): the longest prefix already in the cache is kept, the rest
 * is prefilled into the KV cache without logits (step computes the ones it
 * samples from). Returns how many tokens were reused, and the prefill's time.
 */
function prefillPrompt(c: Loaded, ids: number[]): { reused: number; prefillMs: number } {
  const n = ids.length;
  let reused = 0;
  const lim = Math.min(c.cache.length, n - 1);
  while (reused < lim && c.cache[reused] === ids[reused]) reused++;
  const rc = L.ar_session_truncate(c.session, reused);
  if (rc < 0) throw lastError(rc, "truncate");
  c.cache.length = reused;

  const t0 = performance.now();
  if (n - 1 > reused) {
    const chunk = Int32Array.from(ids.slice(reused, n - 1));
    const rc = L.ar_session_prefill_kv(c.session, ptr(chunk), chunk.length);
    if (rc < 0) {
      resync(c);
      throw lastError(rc, "prefill");
    }
    for (const t of chunk) c.cache.push(t);
  }
  return { reused, prefillMs: performance.now() - t0 };
}

/**
 * A generation's token events on their way to the main thread, and the text
 * they add up to. An event is posted at once, unless text may still be
 * released into it at the end (a held-back stop-string start, or UTF-8 bytes
 * the decoder holds): then it waits for the next token or the end.
 * Events leave in batches at most every FLUSH_MS (the first at once): a fast
 * model writes a token every few hundred microseconds, and one postMessage
 * per token would cost it ~10%; a 2 ms delay is invisible to a reader.
 */
class TokenStream {
  text = "";
  private pending: TokenEvent | null = null;
  private outbox: TokenEvent[] = [];
  private lastFlush = -Infinity;

  constructor(private readonly rid: number) {}

  emit(ev: TokenEvent, mayGrow: boolean): void {
    if (this.pending) this.send(this.pending);
    this.pending = null;
    this.text += ev.text;
    if (mayGrow) this.pending = ev;
    else this.send(ev);
  }

  /** Release the held-back `tail` into the last event and post everything. */
  end(tail: string): void {
    if (this.pending) {
      this.pending.text += tail;
      this.send(this.pending);
      this.pending = null;
    } else if (tail) {
      // only with a vocabulary whose ordinary pieces end in partial UTF-8
      this.send({ id: -1, text: tail, entropy: 0 });
    }
    this.flush(true);
    this.text += tail;
  }

  private send(ev: TokenEvent): void {
    this.outbox.push(ev);
    this.flush(false);
  }

  private flush(force: boolean): void {
    const now = performance.now();
    if (!this.outbox.length || (!force && now - this.lastFlush < FLUSH_MS)) return;
    post({ type: "tokens", rid: this.rid, tokens: this.outbox });
    this.outbox = [];
    this.lastFlush = now;
  }
}

/**
 * Decoded text split at the stop strings: what may be shown now, what is held
 * back because it may begin a stop string, and whether a stop string was found
 * (the text from it on is dropped).
 */
function splitAtStop(held: string, stops: string[]): { shown: string; rest: string; stopped: boolean } {
  const at = findStop(held, stops);
  if (at >= 0) return { shown: held.slice(0, at), rest: "", stopped: true };
  const keep = heldSuffix(held, stops);
  return { shown: held.slice(0, held.length - keep), rest: held.slice(held.length - keep), stopped: false };
}

function generate(rid: number, gid: number, prompt: string | number[], p: SamplingParams): GenerationSummary {
  const c = need();
  const t0 = performance.now();
  const ids = promptIds(c, prompt, p.bos ?? true);
  const limits = limitsOf(p);
  const copy = p.copy ? new CopyState(p.copy) : undefined;
  configureSampler(c, p, ids, limits.minTokens, copy);
  const { reused, prefillMs } = prefillPrompt(c, ids);
  const run = decodeTokens(c, gid, ids[ids.length - 1], p, limits, new TokenStream(rid), copy);
  return {
    promptTokens: ids.length,
    reusedTokens: reused,
    completionTokens: run.completion,
    ttftMs: run.steps ? run.tFirst - t0 : 0,
    prefillMs,
    tokensPerSecond: run.steps > 1 && run.tLast > run.tFirst ? ((run.steps - 1) * 1000) / (run.tLast - run.tFirst) : 0,
    stopReason: run.reason,
    text: run.text,
    contextTokens: c.cache.length,
  };
}

/**
 * The token loop: one ar_session_step per token from the prompt's last token
 * on, until a limit, end-of-text, a stop string or a cancel; between tokens it
 * answers the watchdog's keep-alive.
 */
function decodeTokens(c: Loaded, gid: number, first: number, p: SamplingParams, limits: Limits, out: TokenStream, copy?: CopyState) {
  const { maxTokens, stops, minTokens } = limits;
  L.ar_decoder_reset(c.decoder);
  let tok = first;
  let steps = 0;
  let completion = 0;
  let tFirst = 0;
  let tLast = 0;
  let held = "";
  let reason: StopReason = "length";
  for (;;) {
    if (completion >= maxTokens) { reason = "length"; break; }
    if (Atomics.load(controlFlags, gid % CANCEL_SLOTS) === gid) { reason = "cancelled"; break; }
    serveKeepAlive();
    if (c.cache.length >= c.seqLen) { reason = "length"; break; }
    const next = L.ar_session_step(c.session, c.sampler, tok);
    if (next < 0) {
      resync(c);
      if (next === AR_E_CONTEXT) { reason = "length"; break; }
      throw lastError(next, "step");
    }
    c.cache.push(tok);
    tLast = performance.now();
    if (++steps === 1) tFirst = tLast;
    const entropy = L.ar_sampler_last_entropy(c.sampler);
    if (next === TOKEN_EOS || next === TOKEN_BOS) { reason = "eos"; break; }
    held += decodePush(c, tok, next);
    completion++;
    tok = next;
    const copied = copy?.push(next) ?? false;
    if ((completion === minTokens && minTokens > 0) || copied) setBias(c, p, completion < minTokens, copy);
    const split = stops.length && completion > minTokens
      ? splitAtStop(held, stops)
      : { shown: held, rest: "", stopped: false };
    // an event that text may still join (a stop string's start, UTF-8 bytes the decoder holds) waits
    const mayGrow = !split.stopped && (split.rest.length > 0 || c.highByte[next] === 1);
    out.emit({ id: next, text: split.shown, entropy }, mayGrow);
    held = split.rest;
    if (split.stopped) { reason = "stop"; break; }
  }
  // Release what was held back (a stop string's start, incomplete UTF-8) into the last event.
  const tail = reason === "stop" ? "" : held + decodeFlush(c);
  L.ar_decoder_reset(c.decoder);
  out.end(tail);
  return { reason, steps, completion, tFirst, tLast, text: out.text };
}

/** After a failed call, trust the session's position over our record. */
function resync(c: Loaded): void {
  const pos = L.ar_session_pos(c.session);
  if (pos >= 0 && pos < c.cache.length) c.cache.length = pos;
}

// ---- embeddings -------------------------------------------------------------

/**
 * Each text's unit-length embedding (ar_session_embed) and its token count.
 * A text longer than the context keeps its start when `truncate`, else fails
 * with E_CONTEXT.
 */
function embed(c: Loaded, texts: string[], truncate: boolean): Embeddings {
  if (!c.embedder) {
    const s = L.ar_session_new(c.model);
    if (!s) throw lastError(AR_E_ARG, "embedding session");
    c.embedder = s as Pointer;
  }
  const dim = c.info.dim;
  let tokens = 0;
  const vectors = texts.map((text) => {
    let ids = encode(c, text, true, false);
    if (ids.length > c.seqLen) {
      if (!truncate) throw new EngineError(AR_E_CONTEXT, `a text of ${ids.length} tokens exceeds the context (${c.seqLen})`);
      ids = ids.slice(0, c.seqLen);
    }
    const out = new Float32Array(dim);
    const rc = L.ar_session_embed(c.embedder!, ptr(new Int32Array(ids)), ids.length, ptr(out), dim);
    if (rc < 0) throw lastError(rc, "embed");
    tokens += ids.length;
    return out;
  });
  return { vectors, tokens };
}

// ---- dispatch ---------------------------------------------------------------

function close(): void {
  if (cur) release(cur);
  cur = null;
  library?.close();
  library = null;
}

function handle(req: Request): void {
  switch (req.type) {
    case "init":
      return post({ type: "ok", rid: req.rid, value: init(req.libPath, req.threads, req.cancel) });
    case "load":
      return post({ type: "ok", rid: req.rid, value: load(req.paths) });
    case "info":
      return post({ type: "ok", rid: req.rid, value: cur ? cur.info : null });
    case "tokenize":
      return post({ type: "ok", rid: req.rid, value: encode(need(), req.text, req.bos, req.eos) });
    case "detokenize":
      return post({ type: "ok", rid: req.rid, value: detokenize(need(), req.ids) });
    case "embed":
      return post({ type: "ok", rid: req.rid, value: embed(need(), req.texts, req.truncate) });
    case "keepalive":
      serveKeepAlive();
      return post({ type: "ok", rid: req.rid, value: null });
    case "notify": {
      // From the Worker: a watchdog ping answered here proves the engine thread is alive.
      const rc = L.ar_sd_notify(cstr(req.state));
      if (rc < 0) throw lastError(rc, "sd_notify");
      return post({ type: "ok", rid: req.rid, value: rc });
    }
    case "reset": {
      const c = need();
      L.ar_session_reset(c.session);
      c.cache.length = 0;
      return post({ type: "ok", rid: req.rid, value: null });
    }
    case "generate":
      return post({ type: "done", rid: req.rid, summary: generate(req.rid, req.gid, req.prompt, req.params) });
    case "close":
      close();
      return post({ type: "ok", rid: req.rid, value: null });
  }
}

self.onmessage = (ev: MessageEvent<Request>) => {
  const req = ev.data;
  try {
    handle(req);
  } catch (e) {
    post({ type: "error", rid: req.rid, error: toPayload(e) });
  }
};
