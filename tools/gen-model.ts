/**
 * gen-model.ts — deterministic synthetic llama2.c models and tokenizers.
 *
 * A module (writeModel, writeTokenizer, writeModelDir, buildVocab) and a CLI:
 *
 *   bun tools/gen-model.ts --out DIR [--dim 288 --layers 6 --heads 6 --kv-heads 6
 *       --hidden 768 --vocab 32000 --seq 256 --format 0|1|2 --group 32 --seed 1
 *       --separate-classifier]
 *
 * The weights are pseudo-random but fully determined by (seed, tensor, layer):
 * every tensor slice draws from its own xoshiro128** stream, so the same seed
 * gives the same weights in v0, v1 and v2 (up to the Q8_0 rounding), whatever
 * order a format writes the tensors in. Everything is streamed to disk in
 * small chunks, so a 110M-parameter model does not need its size in RAM.
 */
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { endianness } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

export type ModelFormat = 0 | 1 | 2 | 3;

export interface ModelOptions {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  /** defaults to nHeads */
  nKvHeads?: number;
  vocabSize: number;
  seqLen: number;
  /** 0 legacy, 1 fp32 ("ak42" v1), 2 Q8_0 ("ak42" v2), 3 Q4_0 ("ak42" v3, groups of 32). Default 1. */
  format?: ModelFormat;
  /** Q8_0 group size (format 2). Default 32. */
  groupSize?: number;
  /** Default 1. */
  seed?: number;
  /** Shared classifier (wcls = tok_emb). Default true. */
  sharedClassifier?: boolean;
  /**
   * Format 2 only: how each weight kind is laid out over the layers.
   * "per-layer" (default, what llama2.c's export.py / runq.c use): for each
   * layer the int8 values then that layer's scales. "joined": all layers'
   * int8 values as one tensor, then all the scales.
   */
  q8Layout?: "per-layer" | "joined";
  /** Format 2: allow a group size that does not divide dim/hidden (to test rejection). */
  allowRaggedGroups?: boolean;
}

export interface ModelSummary {
  path: string;
  bytes: number;
  nParams: number;
  format: ModelFormat;
}

// ---------------------------------------------------------------------------
// PRNG: xoshiro128** seeded through splitmix32 from (seed, tensor, layer).

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(...seeds: number[]) {
    const st = { s: 0x2545f491 };
    for (const x of seeds) {
      st.s = (st.s ^ Math.imul((x | 0) ^ 0x5bd1e995, 0x27d4eb2d)) | 0;
      splitmix32(st);
    }
    this.a = splitmix32(st) | 1;
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
  }

  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** uniform in [0, 1) with 24 bits */
  next(): number {
    return (this.nextU32() >>> 8) * (1 / 16777216);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// ---------------------------------------------------------------------------
// Tensors

type TensorName =
  | "tok_emb" | "rms_att" | "wq" | "wk" | "wv" | "wo" | "rms_ffn"
  | "w1" | "w2" | "w3" | "rms_final" | "wcls";

const TENSOR_IDS: Record<TensorName, number> = {
  tok_emb: 1, rms_att: 2, wq: 3, wk: 4, wv: 5, wo: 6, rms_ffn: 7,
  w1: 8, w2: 9, w3: 10, rms_final: 11, wcls: 12,
};

interface TensorSpec {
  name: TensorName;
  layers: number; // slices (1 for global tensors)
  rows: number;
  cols: number; // the "in" dimension
  init: "norm" | "emb" | "mat";
}

interface Dims {
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  seq: number;
  headSize: number;
  kvDim: number;
}

function dimsOf(o: ModelOptions): Dims {
  const kvHeads = o.nKvHeads ?? o.nHeads;
  const ints: [string, number][] = [
    ["dim", o.dim], ["hiddenDim", o.hiddenDim], ["nLayers", o.nLayers], ["nHeads", o.nHeads],
    ["nKvHeads", kvHeads], ["vocabSize", o.vocabSize], ["seqLen", o.seqLen],
  ];
  for (const [k, v] of ints) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`gen-model: ${k} must be a positive integer (got ${v})`);
  }
  if (o.dim % o.nHeads) throw new Error("gen-model: dim must be a multiple of nHeads");
  if (o.nHeads % kvHeads) throw new Error("gen-model: nHeads must be a multiple of nKvHeads");
  const headSize = o.dim / o.nHeads;
  if (headSize % 2) throw new Error("gen-model: head size must be even (RoPE)");
  return {
    dim: o.dim, hidden: o.hiddenDim, layers: o.nLayers, heads: o.nHeads, kvHeads,
    vocab: o.vocabSize, seq: o.seqLen, headSize, kvDim: (o.dim * kvHeads) / o.nHeads,
  };
}

function specs(d: Dims): Record<TensorName, TensorSpec> {
  const L = d.layers;
  const s = (name: TensorName, layers: number, rows: number, cols: number, init: TensorSpec["init"]): TensorSpec =>
    ({ name, layers, rows, cols, init });
  return {
    tok_emb: s("tok_emb", 1, d.vocab, d.dim, "emb"),
    rms_att: s("rms_att", L, 1, d.dim, "norm"),
    wq: s("wq", L, d.heads * d.headSize, d.dim, "mat"),
    wk: s("wk", L, d.kvDim, d.dim, "mat"),
    wv: s("wv", L, d.kvDim, d.dim, "mat"),
    wo: s("wo", L, d.dim, d.heads * d.headSize, "mat"),
    rms_ffn: s("rms_ffn", L, 1, d.dim, "norm"),
    w1: s("w1", L, d.hidden, d.dim, "mat"),
    w2: s("w2", L, d.dim, d.hidden, "mat"),
    w3: s("w3", L, d.hidden, d.dim, "mat"),
    rms_final: s("rms_final", 1, 1, d.dim, "norm"),
    wcls: s("wcls", 1, d.vocab, d.dim, "emb"),
  };
}

/** A generator of one tensor slice (one layer) in chunks. */
class SliceStream {
  private rng: Rng;
  private remaining: number;
  private lo: number;
  private span: number;

  constructor(seed: number, t: TensorSpec, layer: number) {
    this.rng = new Rng(seed, TENSOR_IDS[t.name], layer);
    this.remaining = t.rows * t.cols;
    // RMSNorm weights 1 +- 0.1 (the final one 4 +- 0.1: it only sharpens the
    // logits, so sampling has a real distribution to work with);
    // matrices uniform(+-2.5/sqrt(in)), a little above variance-preserving, so the
    // layers (not the token's own embedding) dominate the residual stream and
    // greedy decoding does not just repeat its input; embeddings uniform(+-1/sqrt(dim)).
    const center = t.init === "norm" ? (t.name === "rms_final" ? 4 : 1) : 0;
    const a = t.init === "norm" ? 0.1 : t.init === "emb" ? 1 / Math.sqrt(t.cols) : 2.5 / Math.sqrt(t.cols);
    this.lo = center - a;
    this.span = 2 * a;
  }

  /** Fill out (up to its length); returns the count written (0 at the end). */
  fill(out: Float32Array): number {
    const n = Math.min(out.length, this.remaining);
    const rng = this.rng;
    const lo = this.lo;
    const span = this.span;
    for (let i = 0; i < n; i++) out[i] = lo + span * rng.next();
    this.remaining -= n;
    return n;
  }
}

// ---------------------------------------------------------------------------
// Streaming file writer

const CHUNK = 1 << 16; // floats per chunk (a multiple of any sane group size)

class Sink {
  private fd: number;
  bytes = 0;
  constructor(path: string) {
    this.fd = openSync(path, "w");
  }
  write(view: ArrayBufferView): void {
    const u8 = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    let off = 0;
    while (off < u8.length) off += writeSync(this.fd, u8, off, u8.length - off);
    this.bytes += u8.length;
  }
  close(): void {
    closeSync(this.fd);
  }
}

function writeFp32Slices(sink: Sink, seed: number, t: TensorSpec, buf: Float32Array): number {
  let n = 0;
  for (let l = 0; l < t.layers; l++) {
    const st = new SliceStream(seed, t, l);
    for (let k; (k = st.fill(buf)) > 0; ) {
      sink.write(buf.subarray(0, k));
      n += k;
    }
  }
  return n;
}

/** Quantize one chunk in place into q/s (groups of gs; chunk length a multiple of gs). */
function quantizeChunk(x: Float32Array, n: number, gs: number, q: Int8Array, s: Float32Array, sOff: number): void {
  for (let g = 0; g * gs < n; g++) {
    const base = g * gs;
    let max = 0;
    for (let j = 0; j < gs; j++) {
      const v = Math.abs(x[base + j]);
      if (v > max) max = v;
    }
    const scale = Math.fround(max / 127);
    s[sOff + g] = scale;
    for (let j = 0; j < gs; j++) {
      if (scale === 0) {
        q[base + j] = 0;
        continue;
      }
      const r = x[base + j] / scale;
      const v = Math.sign(r) * Math.round(Math.abs(r)); // half away from zero, like C round()
      q[base + j] = Math.max(-127, Math.min(127, v));
    }
  }
}

function writeQ8Tensor(sink: Sink, seed: number, t: TensorSpec, gs: number, joined: boolean, buf: Float32Array): number {
  const per = t.rows * t.cols;
  if (per % gs) throw new Error(`gen-model: ${t.name} size ${per} is not a multiple of group ${gs}`);
  const q = new Int8Array(buf.length);
  const groupsPer = per / gs;
  let scales = new Float32Array(joined ? groupsPer * t.layers : groupsPer);
  let sOff = 0;
  for (let l = 0; l < t.layers; l++) {
    const st = new SliceStream(seed, t, l);
    for (let k; (k = st.fill(buf)) > 0; ) {
      quantizeChunk(buf, k, gs, q, scales, sOff);
      sOff += k / gs;
      sink.write(q.subarray(0, k));
    }
    if (!joined) {
      sink.write(scales);
      scales = new Float32Array(groupsPer);
      sOff = 0;
    }
  }
  if (joined) sink.write(scales);
  return per * t.layers;
}

/** Q4_0 of one layer (csrc/kernels.h): scale max|x| / 7, q in [-7, 7] stored
 * q + 8, byte j of a group of 32 holding value j (low nibble) and j + 16. */
function writeQ4Tensor(sink: Sink, seed: number, t: TensorSpec, buf: Float32Array): number {
  const per = t.rows * t.cols;
  if (per % 32) throw new Error(`gen-model: ${t.name} size ${per} is not a multiple of 32`);
  const packed = new Uint8Array(buf.length / 2);
  for (let l = 0; l < t.layers; l++) {
    const scales = new Float32Array(per / 32);
    let sOff = 0;
    const st = new SliceStream(seed, t, l);
    for (let k; (k = st.fill(buf)) > 0; ) {
      for (let g = 0; g < k / 32; g++) {
        let max = 0;
        for (let j = 0; j < 32; j++) max = Math.max(max, Math.abs(buf[g * 32 + j]));
        const scale = Math.fround(max / 7);
        scales[sOff++] = scale;
        const q = (j: number): number => {
          if (scale === 0) return 8;
          const r = buf[g * 32 + j] / scale;
          return Math.max(-7, Math.min(7, Math.sign(r) * Math.round(Math.abs(r)))) + 8;
        };
        for (let j = 0; j < 16; j++) packed[g * 16 + j] = q(j) | (q(j + 16) << 4);
      }
      sink.write(packed.subarray(0, k / 2));
    }
    sink.write(scales);
  }
  return per * t.layers;
}

function writeLegacyRope(sink: Sink, d: Dims): void {
  const half = d.headSize / 2;
  const re = new Float32Array(d.seq * half);
  const im = new Float32Array(d.seq * half);
  for (let p = 0; p < d.seq; p++) {
    for (let i = 0; i < half; i++) {
      const f = p / Math.pow(10000, (2 * i) / d.headSize);
      re[p * half + i] = Math.cos(f);
      im[p * half + i] = Math.sin(f);
    }
  }
  sink.write(re);
  sink.write(im);
}

/** The 256-byte "ak42" header of formats 1, 2 and 3. */
function akHeader(d: Dims, version: 1 | 2 | 3, shared: boolean, gs: number): Uint8Array {
  const h = new Uint8Array(256);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, 0x616b3432, true);
  dv.setInt32(4, version, true);
  [d.dim, d.hidden, d.layers, d.heads, d.kvHeads, d.vocab, d.seq].forEach((v, i) => dv.setInt32(8 + 4 * i, v, true));
  dv.setUint8(36, shared ? 1 : 0);
  if (version >= 2) dv.setInt32(37, gs, true);
  return h;
}

/** Write a llama2.c model.bin with deterministic pseudo-random weights. */
export function writeModel(path: string, opts: ModelOptions): ModelSummary {
  if (endianness() !== "LE") throw new Error("gen-model: little-endian host required");
  const d = dimsOf(opts);
  const format = opts.format ?? 1;
  const seed = opts.seed ?? 1;
  const shared = opts.sharedClassifier ?? true;
  const gs = opts.groupSize ?? 32;
  if (format === 2) {
    if (!Number.isInteger(gs) || gs <= 0 || CHUNK % gs) throw new Error(`gen-model: bad group size ${gs}`);
    if (!opts.allowRaggedGroups && (d.dim % gs || d.hidden % gs)) {
      throw new Error(`gen-model: group size ${gs} must divide dim ${d.dim} and hidden ${d.hidden}`);
    }
  }
  const T = specs(d);
  const buf = new Float32Array(CHUNK);
  const sink = new Sink(path);
  let n = 0;
  try {
    if (format === 0) {
      const hdr = new Int32Array([d.dim, d.hidden, d.layers, d.heads, d.kvHeads, shared ? d.vocab : -d.vocab, d.seq]);
      sink.write(hdr);
      for (const name of ["tok_emb", "rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3", "rms_final"] as const) {
        n += writeFp32Slices(sink, seed, T[name], buf);
      }
      writeLegacyRope(sink, d);
      if (!shared) n += writeFp32Slices(sink, seed, T.wcls, buf);
    } else if (format === 1) {
      sink.write(akHeader(d, 1, shared, 0));
      for (const name of ["rms_att", "rms_ffn", "rms_final", "tok_emb", "wq", "wk", "wv", "wo", "w1", "w2", "w3"] as const) {
        n += writeFp32Slices(sink, seed, T[name], buf);
      }
      if (!shared) n += writeFp32Slices(sink, seed, T.wcls, buf);
    } else if (format === 2) {
      sink.write(akHeader(d, 2, shared, gs));
      for (const name of ["rms_att", "rms_ffn", "rms_final"] as const) n += writeFp32Slices(sink, seed, T[name], buf);
      const joined = opts.q8Layout === "joined";
      const qs: TensorName[] = ["tok_emb", "wq", "wk", "wv", "wo", "w1", "w2", "w3"];
      if (!shared) qs.push("wcls");
      for (const name of qs) n += writeQ8Tensor(sink, seed, T[name], gs, joined, buf);
    } else if (format === 3) {
      if (d.dim % 32 || d.hidden % 32) throw new Error(`gen-model: Q4_0 needs dim and hidden to be multiples of 32`);
      sink.write(akHeader(d, 3, shared, 32));
      for (const name of ["rms_att", "rms_ffn", "rms_final"] as const) n += writeFp32Slices(sink, seed, T[name], buf);
      const qs: TensorName[] = ["tok_emb", "wq", "wk", "wv", "wo", "w1", "w2", "w3"];
      if (!shared) qs.push("wcls");
      for (const name of qs) n += writeQ4Tensor(sink, seed, T[name], buf);
    } else {
      throw new Error(`gen-model: unknown format ${format}`);
    }
  } finally {
    sink.close();
  }
  return { path, bytes: sink.bytes, nParams: n, format };
}

// ---------------------------------------------------------------------------
// Tokenizer

const COMMON = (
  "the and ing ion you that was for are with his they this have from one had word but not what all were " +
  "when we there can an your which their said if do will each about how up out them then she many some so " +
  "these would other into has more her two like him see time could no make than first been its who now " +
  "people my made over did down only way find use may water long little very after words called just where " +
  "most know is it in of to a be as at by on or me am I hello world love feel think remember memory dream " +
  "resonance Arianna voice light night day sea field silence why because here again still always never " +
  "th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io le ve co me de hi " +
  "ri ro ic ne ea ra ce li ch ll be ma si om ur"
).split(" ");

const ALPHABET = "etaoinshrdlucmfwypvbgkjqxz";

export interface Vocab {
  pieces: string[]; // ASCII only
  scores: number[];
}

/**
 * The pieces of a synthetic llama2.c vocabulary: 0 <unk>, 1 BOS, 2 EOS,
 * 3..258 byte pieces, then printable ASCII, then merges whose every prefix is
 * also a piece (so BPE can build them), scores descending in merge order.
 */
export function buildVocab(vocabSize: number): Vocab {
  if (!Number.isInteger(vocabSize) || vocabSize < 259) throw new Error("gen-model: vocab must be >= 259");
  const pieces: string[] = ["<unk>", "\n<s>\n", "\n</s>\n"];
  for (let b = 0; b < 256; b++) pieces.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  const scores: number[] = pieces.map(() => 0);
  const seen = new Set<string>();
  const add = (p: string, score: number) => {
    if (pieces.length >= vocabSize || seen.has(p)) return;
    seen.add(p);
    pieces.push(p);
    scores.push(score);
  };
  for (let c = 32; c < 127; c++) add(String.fromCharCode(c), 0);
  let rank = 0;
  const addMerge = (p: string) => {
    // every prefix first, so the piece is reachable by pairwise merges
    for (let k = 2; k <= p.length; k++) {
      if (!seen.has(p.slice(0, k))) add(p.slice(0, k), -++rank);
    }
  };
  for (const w of COMMON) {
    addMerge(" " + w);
    addMerge(w);
  }
  // synthetic pieces over the alphabet, shortest first, until the vocab is full
  let level = [""];
  while (pieces.length < vocabSize) {
    const next: string[] = [];
    for (const p of level) for (const ch of ALPHABET) next.push(p + ch);
    for (const p of next) {
      if (p.length >= 2) addMerge(p);
      addMerge(" " + p);
      if (pieces.length >= vocabSize) break;
    }
    level = next;
  }
  return { pieces, scores };
}

/** Write a llama2.c tokenizer.bin for a vocabulary of vocabSize pieces. */
export function writeTokenizer(path: string, vocabSize: number): Vocab {
  const v = buildVocab(vocabSize);
  const enc = new TextEncoder();
  const bytes = v.pieces.map((p) => enc.encode(p));
  const total = 4 + bytes.reduce((a, b) => a + 8 + b.length, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, bytes.reduce((m, b) => Math.max(m, b.length), 0), true);
  let off = 4;
  for (let i = 0; i < bytes.length; i++) {
    dv.setFloat32(off, v.scores[i], true);
    dv.setInt32(off + 4, bytes[i].length, true);
    out.set(bytes[i], off + 8);
    off += 8 + bytes[i].length;
  }
  const sink = new Sink(path);
  try {
    sink.write(out);
  } finally {
    sink.close();
  }
  return v;
}

/** Write DIR/model.bin and DIR/tokenizer.bin. */
export function writeModelDir(dir: string, opts: ModelOptions): { model: string; tokenizer: string; summary: ModelSummary } {
  mkdirSync(dir, { recursive: true });
  const model = join(dir, "model.bin");
  const tokenizer = join(dir, "tokenizer.bin");
  const summary = writeModel(model, opts);
  writeTokenizer(tokenizer, opts.vocabSize);
  return { model, tokenizer, summary };
}

// ---------------------------------------------------------------------------
// CLI

function main(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: "string" },
      dim: { type: "string", default: "288" },
      layers: { type: "string", default: "6" },
      heads: { type: "string", default: "6" },
      "kv-heads": { type: "string" },
      hidden: { type: "string", default: "768" },
      vocab: { type: "string", default: "32000" },
      seq: { type: "string", default: "256" },
      format: { type: "string", default: "1" },
      group: { type: "string", default: "32" },
      seed: { type: "string", default: "1" },
      "separate-classifier": { type: "boolean", default: false },
      "q8-layout": { type: "string", default: "per-layer" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help || !values.out) {
    console.log(
      "usage: bun tools/gen-model.ts --out DIR [--dim 288 --layers 6 --heads 6 --kv-heads 6 --hidden 768\n" +
        "       --vocab 32000 --seq 256 --format 0|1|2|3 --group 32 --seed 1 --separate-classifier\n" +
        "       --q8-layout per-layer|joined]",
    );
    process.exit(values.help ? 0 : 2);
  }
  const int = (s: string | undefined, name: string): number => {
    const v = Number(s);
    if (!Number.isInteger(v)) throw new Error(`--${name}: not an integer: ${s}`);
    return v;
  };
  const heads = int(values.heads, "heads");
  const format = int(values.format, "format");
  if (format !== 0 && format !== 1 && format !== 2 && format !== 3) throw new Error("--format must be 0, 1, 2 or 3");
  const layout = values["q8-layout"];
  if (layout !== "per-layer" && layout !== "joined") throw new Error("--q8-layout must be per-layer or joined");
  const t0 = performance.now();
  const r = writeModelDir(values.out, {
    dim: int(values.dim, "dim"),
    hiddenDim: int(values.hidden, "hidden"),
    nLayers: int(values.layers, "layers"),
    nHeads: heads,
    nKvHeads: values["kv-heads"] ? int(values["kv-heads"], "kv-heads") : heads,
    vocabSize: int(values.vocab, "vocab"),
    seqLen: int(values.seq, "seq"),
    format,
    groupSize: int(values.group, "group"),
    seed: int(values.seed, "seed"),
    sharedClassifier: !values["separate-classifier"],
    q8Layout: layout,
  });
  const ms = (performance.now() - t0).toFixed(0);
  console.log(
    `wrote ${r.model} (format ${format}, ${r.summary.nParams} params, ${r.summary.bytes} bytes) and ${r.tokenizer} in ${ms} ms`,
  );
}

if (import.meta.main) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    const msg = (e as Error).message;
    console.error(msg.startsWith("gen-model:") ? msg : `gen-model: ${msg}`);
    process.exit(1);
  }
}
