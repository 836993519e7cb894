/**
 * fuzz-bin.ts — a mutation fuzzer for the IABN bin parser (src/leo/bin-file.ts).
 *
 *   bun tools/fuzz-bin.ts [--runs 10000000] [--seconds S] [--seed N] [--corpus DIR] [--crashes DIR]
 *
 * The parser is TypeScript, so there is no memory to corrupt and libFuzzer's
 * ASan has nothing to watch; what can go wrong is the contract. Every input is
 * a mutation of a corpus file (bit flips, interesting bytes and u32s in the
 * header and entry fields, NaN/±Inf/denormal weights, truncation, growth,
 * duplicated, swapped and spliced entries), and for every one of them:
 *   - decodeBin returns or throws an Error whose message starts "IABN:";
 *     nothing else (a RangeError from a DataView would be a bounds bug);
 *   - what it accepts has sorted unique ids below vocab_size, finite weights,
 *     and re-encodes to the same bytes (less any zero-weight entries, which
 *     encodeBin leaves out);
 *   - the C sampler (libarianna through bun:ffi) accepts every accepted bin's
 *     ids and weights as a logit bias: a file the parser lets through never
 *     fails a turn.
 * A failing input is written to --crashes (default build/fuzz/crashes-bin) and
 * the exit code is 1. Prints the executions and the verdict.
 */
import { ptr } from "bun:ffi";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openLibrary } from "../src/engine/abi.ts";
import { resolveLibrary } from "../src/engine/library.ts";
import { decodeBin, encodeBin } from "../src/leo/bin-file.ts";
import { REPO_ROOT as ROOT } from "../src/config/paths.ts";

const HEADER = 16;
const ENTRY = 8;
const U32S = [0, 1, 2, 3, 7, 8, 255, 256, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const F32S = [NaN, Infinity, -Infinity, 0, -0, 1e-45, -1e-45, 3.4028234663852886e38, -3.4028234663852886e38, 1, -1, 0.5];

/** xorshift64*: reproducible from --seed */
function rng(seed: number) {
  let s = BigInt.asUintN(64, BigInt(seed) * 0x9e3779b97f4a7c15n + 1n);
  return () => {
    s ^= s >> 12n;
    s ^= BigInt.asUintN(64, s << 25n);
    s ^= s >> 27n;
    return Number(BigInt.asUintN(64, s * 0x2545f4914f6cdd1dn) >> 11n) / 2 ** 53;
  };
}

function mutate(seed: Uint8Array, other: Uint8Array, rand: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(rand() * n);
  let b = seed.slice();
  for (let k = 1 + pick(3); k > 0; k--) {
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const entries = Math.max(0, Math.floor((b.length - HEADER) / ENTRY));
    const field = (at: number) => at + 4 <= b.length;
    switch (pick(10)) {
      case 0: // flip a bit
        if (b.length) b[pick(b.length)] ^= 1 << pick(8);
        break;
      case 1: // an interesting byte
        if (b.length) b[pick(b.length)] = [0, 0x7f, 0x80, 0xff][pick(4)];
        break;
      case 2: { // a header field: version, vocab_size or count
        const at = 4 * (1 + pick(3));
        if (field(at)) view.setUint32(at, rand() < 0.5 ? U32S[pick(U32S.length)] : view.getUint32(at, true) + pick(5) - 2, true);
        break;
      }
      case 3: // a token id
        if (entries) view.setUint32(HEADER + pick(entries) * ENTRY, U32S[pick(U32S.length)], true);
        break;
      case 4: // a weight
        if (entries) view.setFloat32(HEADER + pick(entries) * ENTRY + 4, F32S[pick(F32S.length)], true);
        break;
      case 5: // truncate
        b = b.slice(0, pick(b.length + 1));
        break;
      case 6: { // grow by random bytes
        const extra = Uint8Array.from({ length: 1 + pick(24) }, () => pick(256));
        const grown = new Uint8Array(b.length + extra.length);
        grown.set(b);
        grown.set(extra, b.length);
        b = grown;
        break;
      }
      case 7: { // duplicate an entry (and keep count honest half the time)
        if (!entries) break;
        const at = HEADER + pick(entries) * ENTRY;
        const grown = new Uint8Array(b.length + ENTRY);
        grown.set(b.subarray(0, at + ENTRY));
        grown.set(b.subarray(at, at + ENTRY), at + ENTRY);
        grown.set(b.subarray(at + ENTRY), at + 2 * ENTRY);
        if (rand() < 0.5 && grown.length >= HEADER) new DataView(grown.buffer).setUint32(12, entries + 1, true);
        b = grown;
        break;
      }
      case 8: { // swap two entries
        if (entries < 2) break;
        const i = HEADER + pick(entries) * ENTRY, j = HEADER + pick(entries) * ENTRY;
        const tmp = b.slice(i, i + ENTRY);
        b.copyWithin(i, j, j + ENTRY);
        b.set(tmp, j);
        break;
      }
      default: { // splice: our header, another file's entries
        const cut = Math.min(b.length, HEADER + pick(entries + 1) * ENTRY);
        const from = Math.min(other.length, HEADER + pick(Math.max(1, (other.length - HEADER) / ENTRY)) * ENTRY);
        const spliced = new Uint8Array(cut + other.length - from);
        spliced.set(b.subarray(0, cut));
        spliced.set(other.subarray(from), cut);
        b = spliced;
      }
    }
  }
  return b;
}

type Verdict = { accepted: boolean } | { failure: string };

/** The contract: what the parser made of `input`, or what broke. */
function check(input: Uint8Array, lib: ReturnType<typeof openLibrary>["symbols"]): Verdict {
  const broke = (failure: string) => ({ failure });
  let bin;
  try {
    bin = decodeBin(input);
  } catch (e) {
    return e instanceof Error && e.constructor === Error && e.message.startsWith("IABN:") ? { accepted: false } : broke(`threw ${String(e)}`);
  }
  const { vocabSize, ids, weights } = bin;
  if (ids.length !== weights.length) return broke("ids and weights differ in length");
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] >= vocabSize || (i > 0 && ids[i] <= ids[i - 1])) return broke(`accepted id ${ids[i]} at ${i}`);
    if (!Number.isFinite(weights[i])) return broke(`accepted weight ${weights[i]} at ${i}`);
  }
  const kept = [...ids].map((id, i) => ({ id, weight: weights[i] })).filter((e) => e.weight !== 0);
  // zero weights are the only thing encodeBin drops; the rest must come back byte for byte
  if (!sameBytes(encodeBin(vocabSize, kept), withoutZeros(input, weights))) return broke("does not re-encode to the same bytes");
  // the core must take what the parser accepted (vocab capped: the sampler allocates vocab floats)
  if (vocabSize > 0 && vocabSize <= 1 << 20) {
    const sampler = lib.ar_sampler_new(vocabSize, 1n);
    if (!sampler) return broke(`ar_sampler_new(${vocabSize}) failed`);
    const i32 = Int32Array.from(ids);
    const rc = ids.length ? lib.ar_sampler_set_bias(sampler, ptr(i32), ptr(weights), ids.length) : lib.ar_sampler_set_bias(sampler, null, null, 0);
    lib.ar_sampler_free(sampler);
    if (rc !== 0) return broke(`the C sampler refused an accepted bin (${rc})`);
  }
  return { accepted: true };
}

/** The input less its zero-weight entries, count adjusted: what encodeBin must write back. */
function withoutZeros(input: Uint8Array, weights: Float32Array): Uint8Array {
  const keep = [...weights.keys()].filter((i) => weights[i] !== 0);
  const out = new Uint8Array(HEADER + keep.length * ENTRY);
  out.set(input.subarray(0, HEADER));
  new DataView(out.buffer).setUint32(12, keep.length, true);
  keep.forEach((i, k) => out.set(input.subarray(HEADER + i * ENTRY, HEADER + (i + 1) * ENTRY), HEADER + k * ENTRY));
  return out;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

export interface FuzzBinReport {
  executions: number;
  accepted: number;
  seconds: number;
  failures: { reason: string; file: string }[];
}

export function fuzzBin(opts: { runs: number; seconds?: number; seed?: number; corpus?: string; crashes?: string }): FuzzBinReport {
  const corpusDir = opts.corpus ?? join(ROOT, "test", "corpus", "bin");
  const crashes = opts.crashes ?? join(ROOT, "build", "fuzz", "crashes-bin");
  const corpus = readdirSync(corpusDir).sort().map((f) => new Uint8Array(readFileSync(join(corpusDir, f))));
  if (corpus.length === 0) throw new Error(`no seed files in ${corpusDir}`);
  const lib = openLibrary(resolveLibrary().path).symbols;
  const rand = rng(opts.seed ?? 1);
  const deadline = opts.seconds ? performance.now() + opts.seconds * 1000 : Infinity;
  const report: FuzzBinReport = { executions: 0, accepted: 0, seconds: 0, failures: [] };
  const t0 = performance.now();
  for (const seed of corpus) {
    const verdict = check(seed, lib);
    if ("failure" in verdict) throw new Error(`a corpus file breaks the contract: ${verdict.failure}`);
  }
  while (report.executions < opts.runs && (report.executions & 1023 || performance.now() < deadline)) {
    const input = mutate(corpus[Math.floor(rand() * corpus.length)], corpus[Math.floor(rand() * corpus.length)], rand);
    report.executions++;
    const verdict = check(input, lib);
    if (!("failure" in verdict)) {
      report.accepted += Number(verdict.accepted);
      continue;
    }
    mkdirSync(crashes, { recursive: true });
    const file = join(crashes, `crash-${report.failures.length}.iabn`);
    writeFileSync(file, input);
    report.failures.push({ reason: verdict.failure, file });
    if (report.failures.length >= 10) break;
  }
  report.seconds = Math.round((performance.now() - t0) / 100) / 10;
  return report;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { runs: { type: "string" }, seconds: { type: "string" }, seed: { type: "string" }, corpus: { type: "string" }, crashes: { type: "string" } },
  });
  const runs = Number(values.runs ?? 10_000_000);
  const seconds = values.seconds === undefined ? undefined : Number(values.seconds);
  if (!(runs > 0) || (seconds !== undefined && !(seconds > 0))) throw new Error("--runs and --seconds must be positive");
  const r = fuzzBin({ runs, seconds, seed: values.seed === undefined ? undefined : Number(values.seed), corpus: values.corpus, crashes: values.crashes });
  for (const f of r.failures) console.log(`fuzz-bin: FAIL ${f.reason} (${f.file})`);
  console.log(`fuzz-bin: ${r.executions} executions (${r.accepted} accepted) in ${r.seconds} s, ${r.failures.length} failures`);
  process.exit(r.failures.length ? 1 : 0);
}
