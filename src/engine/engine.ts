/**
 * engine.ts — the main-thread face of the inference engine.
 *
 * An Engine owns one Worker (worker.ts), which owns the native library. Every
 * call becomes a message; the worker serves them one at a time in order, so
 * generations are serialized and a swap waits for the generation before it.
 * The main thread never blocks: a generation streams its tokens back as they
 * are sampled.
 *
 *   const engine = await Engine.open();
 *   await engine.load("models/default");
 *   const gen = engine.generate("Hello", { temperature: 0, maxTokens: 32 });
 *   for await (const t of gen) process.stdout.write(t.text);
 *   const summary = await gen.result;
 */
import { existsSync, realpathSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { E_CLOSED, E_WORKER, EngineError } from "./errors.ts";
import {
  CANCEL_SLOTS, CONTROL_SLOTS, KEEPALIVE_FAILED, KEEPALIVE_IDLE, KEEPALIVE_REQUESTED, KEEPALIVE_SLOT,
  type Embeddings, type EngineInfo, type GenerationSummary, type LibraryInfo, type ModelPaths, type Request,
  type Response, type SamplingParams, type TokenEvent,
} from "./protocol.ts";

export interface EngineOptions {
  /** a libarianna.so to use instead of the one picked for this CPU */
  libPath?: string;
  /** compute threads per model (absent or <= 0: defaultThreads()) */
  threads?: number;
}

/** A model directory (model.bin + tokenizer.bin), a model.bin path, or both paths. */
export type ModelSource = string | ModelPaths;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Call = DistributiveOmit<Request, "rid">;

interface PendingCall {
  kind: "call";
  resolve: (v: unknown) => void;
  reject: (e: EngineError) => void;
}

interface PendingGen {
  kind: "gen";
  stream: Generation;
}

/**
 * Compute threads when none are asked for: every core but one, so Bun's main
 * thread, HTTP and SQLite keep a core of their own (a compute thread that
 * loses its core stalls every token), and at least one.
 */
export function defaultThreads(): number {
  return Math.max(1, navigator.hardwareConcurrency - 1);
}

/** Where model.bin and tokenizer.bin are for a source. */
export function modelPaths(src: ModelSource): ModelPaths {
  if (typeof src !== "string") return { model: resolve(src.model), tokenizer: resolve(src.tokenizer) };
  const p = resolve(src);
  if (existsSync(p) && statSync(p).isDirectory()) {
    const dir = realpathSync(p);
    return { model: join(dir, "model.bin"), tokenizer: join(dir, "tokenizer.bin") };
  }
  return { model: p, tokenizer: join(dirname(p), "tokenizer.bin") };
}

/**
 * One generation: an async iterable of tokens (single consumer) whose
 * iterator finishes with the summary. Leaving a `for await` early (break,
 * return, throw) cancels it between tokens, as do cancel() and the request's
 * AbortSignal. `result` settles either way, iterated or not.
 */
export class Generation implements AsyncIterable<TokenEvent> {
  /** The summary, once the generation has ended (rejects with an EngineError on failure). */
  readonly result: Promise<GenerationSummary>;
  private queue: TokenEvent[] = [];
  private waiter: (() => void) | null = null;
  private summary: GenerationSummary | null = null;
  private error: EngineError | null = null;
  private settle!: { resolve: (s: GenerationSummary) => void; reject: (e: EngineError) => void };
  private cancelled = false;

  /** @internal */
  constructor(private readonly onCancel: () => void) {
    this.result = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.result.catch(() => {}); // a consumer that only iterates still sees the error there
  }

  /** Stop between tokens; the summary's stopReason becomes "cancelled". */
  cancel(): void {
    if (this.cancelled || this.summary || this.error) return;
    this.cancelled = true;
    this.onCancel();
  }

  /** @internal */
  push(tokens: TokenEvent[]): void {
    for (const t of tokens) this.queue.push(t);
    this.wake();
  }
  /** @internal */
  finish(s: GenerationSummary): void {
    this.summary = s;
    this.settle.resolve(s);
    this.wake();
  }
  /** @internal */
  fail(e: EngineError): void {
    this.error = e;
    this.settle.reject(e);
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<TokenEvent, GenerationSummary | undefined> {
    return {
      next: async (): Promise<IteratorResult<TokenEvent, GenerationSummary | undefined>> => {
        for (;;) {
          const t = this.queue.shift();
          if (t) return { value: t, done: false };
          if (this.error) throw this.error;
          if (this.summary) return { value: this.summary, done: true };
          await new Promise<void>((r) => (this.waiter = r));
        }
      },
      return: async (): Promise<IteratorResult<TokenEvent, GenerationSummary | undefined>> => {
        this.cancel();
        this.queue.length = 0;
        const s = await this.result.catch(() => undefined);
        return { value: s, done: true };
      },
    };
  }
}

export class Engine {
  private readonly worker: Worker;
  private readonly controlFlags: Int32Array;
  private readonly pending = new Map<number, PendingCall | PendingGen>();
  private rid = 0;
  private gid = 0;
  private closed = false;
  private dead: EngineError | null = null;
  private current: EngineInfo | null = null;
  private lib: LibraryInfo | null = null;

  private constructor() {
    const sab = new SharedArrayBuffer(CONTROL_SLOTS * Int32Array.BYTES_PER_ELEMENT);
    this.controlFlags = new Int32Array(sab);
    this.worker = new Worker(new URL("./worker.ts", import.meta.url).href);
    this.worker.unref();
    this.worker.onmessage = (ev: MessageEvent<Response>) => this.onMessage(ev.data);
    this.worker.onerror = (ev: ErrorEvent) => this.die(`engine worker failed: ${ev.message}`);
    this.worker.addEventListener("close", () => this.die("engine worker exited"));
  }

  /** Start the worker and open the native library (building it on first use if needed). */
  static async open(opts: EngineOptions = {}): Promise<Engine> {
    const e = new Engine();
    try {
      e.lib = (await e.call({
        type: "init",
        libPath: opts.libPath ? resolve(opts.libPath) : undefined,
        threads: opts.threads && opts.threads > 0 ? opts.threads : defaultThreads(),
        cancel: e.controlFlags.buffer as SharedArrayBuffer,
      })) as LibraryInfo;
    } catch (err) {
      e.closed = true;
      e.worker.terminate();
      throw err;
    }
    return e;
  }

  /** What the current model is (null before the first load). */
  get info(): EngineInfo | null {
    return this.current;
  }

  /** The native library in use. */
  get library(): LibraryInfo {
    return this.lib!;
  }

  /**
   * Load a model. The new model is opened and validated completely before the
   * old one is freed: on failure the old model keeps serving and this rejects
   * with the EngineError (E_FORMAT, E_IO, E_TOKENIZER, ...).
   */
  async load(src: ModelSource): Promise<EngineInfo> {
    const info = (await this.call({ type: "load", paths: modelPaths(src) })) as EngineInfo;
    this.current = info;
    return info;
  }

  /**
   * Replace the model between generations: load() itself, named for the caller's intent. The worker
   * takes requests in order, so a load waits for the generations already requested.
   */
  swap(src: ModelSource): Promise<EngineInfo> {
    return this.load(src);
  }

  /** BPE-encode text (BOS prepended unless bos is false). */
  tokenize(text: string, opts: { bos?: boolean; eos?: boolean } = {}): Promise<number[]> {
    return this.call({ type: "tokenize", text, bos: opts.bos ?? true, eos: opts.eos ?? false }) as Promise<number[]>;
  }

  /**
   * Each text's embedding: the unit-length mean of the kernel's final hidden
   * states (ar_session_embed), on a session of its own. A text longer than
   * the context keeps its start unless `truncate` is false (then E_CONTEXT).
   */
  embed(texts: readonly string[], opts: { truncate?: boolean } = {}): Promise<Embeddings> {
    return this.call({ type: "embed", texts: [...texts], truncate: opts.truncate ?? true }) as Promise<Embeddings>;
  }

  /** Token ids back to text. */
  detokenize(ids: readonly number[]): Promise<string> {
    return this.call({ type: "detokenize", ids: [...ids] }) as Promise<string>;
  }

  /** Forget the KV cache (the next generation prefills from scratch). */
  async reset(): Promise<void> {
    await this.call({ type: "reset" });
  }

  /**
   * Ask the Worker to send systemd's WATCHDOG=1. It is answered between two
   * tokens of a generation, or at once when idle, so only a live engine thread
   * pings, however long a reply is. Returns how the previous ping went:
   * "ok" (sent, or not under systemd), "pending" (not answered yet: nothing new
   * is queued) or "failed" (sd_notify failed; this one is asked for again).
   */
  keepAlive(): "ok" | "pending" | "failed" {
    const previous = Atomics.compareExchange(this.controlFlags, KEEPALIVE_SLOT, KEEPALIVE_IDLE, KEEPALIVE_REQUESTED);
    if (previous === KEEPALIVE_REQUESTED) return "pending";
    if (previous === KEEPALIVE_FAILED) Atomics.store(this.controlFlags, KEEPALIVE_SLOT, KEEPALIVE_REQUESTED);
    // wakes an idle worker; a busy one sees the flag between tokens
    this.call({ type: "keepalive" }).catch(() => {});
    return previous === KEEPALIVE_FAILED ? "failed" : "ok";
  }

  /**
   * Tell systemd `state` ("READY=1", "WATCHDOG=1", ...) through the C core in
   * the Worker, so a watchdog ping only goes out while the engine thread
   * answers. Resolves 1 when sent, 0 when not running under systemd.
   */
  notify(state: string): Promise<number> {
    return this.call({ type: "notify", state }) as Promise<number>;
  }

  /**
   * Generate from a prompt (text, or token ids used as they are). The KV cache
   * of the longest prefix shared with the previous generation is reused.
   */
  generate(prompt: string | readonly number[], params: SamplingParams = {}, signal?: AbortSignal): Generation {
    const gid = (this.gid = (this.gid % 0x7ffffff0) + 1);
    const gen = new Generation(() => Atomics.store(this.controlFlags, gid % CANCEL_SLOTS, gid));
    const fail = this.unusable();
    if (fail) {
      gen.fail(fail);
      return gen;
    }
    if (signal) {
      if (signal.aborted) gen.cancel();
      else {
        const onAbort = () => gen.cancel();
        signal.addEventListener("abort", onAbort, { once: true });
        gen.result.finally(() => signal.removeEventListener("abort", onAbort)).catch(() => {});
      }
    }
    const rid = ++this.rid;
    this.pending.set(rid, { kind: "gen", stream: gen });
    this.worker.ref();
    const p = typeof prompt === "string" ? prompt : [...prompt];
    this.worker.postMessage({ type: "generate", rid, gid, prompt: p, params: plainParams(params) } satisfies Request);
    return gen;
  }

  /** Cancel what is running, free the model and stop the worker. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const p of this.pending.values()) if (p.kind === "gen") p.stream.cancel();
    try {
      if (!this.dead) await this.call({ type: "close" });
    } finally {
      this.closed = true;
      this.worker.terminate();
      this.current = null;
      this.rejectAll(new EngineError(E_CLOSED, "engine closed"));
    }
  }

  // ---- plumbing ---------------------------------------------------------------

  private unusable(): EngineError | null {
    if (this.dead) return this.dead;
    if (this.closed) return new EngineError(E_CLOSED, "engine closed");
    return null;
  }

  private call(msg: Call): Promise<unknown> {
    const fail = this.unusable();
    if (fail) return Promise.reject(fail);
    const rid = ++this.rid;
    return new Promise((resolve, reject) => {
      this.pending.set(rid, { kind: "call", resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ ...msg, rid } as Request);
    });
  }

  private settled(rid: number): void {
    this.pending.delete(rid);
    if (this.pending.size === 0) this.worker.unref();
  }

  private onMessage(msg: Response): void {
    const p = this.pending.get(msg.rid);
    if (!p) return;
    switch (msg.type) {
      case "tokens":
        if (p.kind === "gen") p.stream.push(msg.tokens);
        return;
      case "done":
        this.settled(msg.rid);
        if (p.kind === "gen") p.stream.finish(msg.summary);
        return;
      case "ok":
        this.settled(msg.rid);
        if (p.kind === "call") p.resolve(msg.value);
        return;
      case "error": {
        this.settled(msg.rid);
        const e = EngineError.from(msg.error);
        if (p.kind === "call") p.reject(e);
        else p.stream.fail(e);
        return;
      }
    }
  }

  private die(why: string): void {
    if (this.dead || this.closed) return;
    this.dead = new EngineError(E_WORKER, why);
    this.rejectAll(this.dead);
  }

  private rejectAll(e: EngineError): void {
    for (const [rid, p] of this.pending) {
      this.settled(rid);
      if (p.kind === "call") p.reject(e);
      else p.stream.fail(e);
    }
  }
}

/** Typed arrays and bigints travel fine; copy the params so later mutation cannot race. */
function plainParams(p: SamplingParams): SamplingParams {
  const out: SamplingParams = { ...p };
  if (p.stop !== undefined) out.stop = Array.isArray(p.stop) ? [...p.stop] : p.stop;
  if (p.bias) out.bias = { ids: Int32Array.from(p.bias.ids), weights: Float32Array.from(p.bias.weights) };
  if (p.copy) out.copy = { ...p.copy, sequences: p.copy.sequences.map((s) => [...s]) };
  return out;
}
