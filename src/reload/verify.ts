/**
 * verify.ts — is a model directory a complete, intact kernel?
 *
 * Pure checks over files already on disk (the store runs them on its private
 * snapshot, so the bytes checked are the bytes loaded): the model header and
 * its exact size, and the manifest's sha256 of both files when there is one.
 * The C loader checks the header again on load; this pre-check lets a partial
 * upload be named as such instead of surfacing as a load failure.
 */
import type { FileHandle } from "node:fs/promises";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { openRegular } from "./files.ts";

/** What the trainer's export.py writes (only the keys this module reads). */
export interface Manifest {
  name?: string;
  version?: string;
  sha256?: { model?: string; tokenizer?: string };
  files?: Record<string, { bytes?: number; sha256?: string }>;
}

export interface Digests {
  model: { sha256: string; bytes: number };
  tokenizer: { sha256: string; bytes: number };
}

const MAGIC = 0x616b3432; // "ak42", csrc/arianna.c
const HEADER_V1 = 256;

/**
 * The byte size a model file must have for its header, the formula of
 * csrc/arianna.c expected_size(); a string says why the header is unusable.
 */
export function expectedModelSize(header: Uint8Array): number | string {
  const v = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (header.byteLength < 28) return `too short for a model header (${header.byteLength} bytes)`;
  const magic = v.getUint32(0, true) === MAGIC;
  if (magic && header.byteLength < HEADER_V1) return `truncated header (${header.byteLength} of ${HEADER_V1} bytes)`;
  const format = magic ? v.getInt32(4, true) : 0;
  if (format < 0 || format > 3) return `unsupported model version ${format}`;
  const at = magic ? 8 : 0;
  const [dim, hidden, layers, heads, kvHeads, rawVocab, seq] = Array.from({ length: 7 }, (_, i) => v.getInt32(at + 4 * i, true));
  const shared = magic ? header[36] === 1 : rawVocab > 0;
  const vocab = Math.abs(rawVocab);
  const gs = format >= 2 ? v.getInt32(37, true) : 0;
  if ([dim, hidden, layers, heads, kvHeads, vocab, seq].some((x) => !(x > 0)) || dim % heads !== 0 || heads % kvHeads !== 0)
    return `bad model header (dim ${dim}, hidden ${hidden}, layers ${layers}, heads ${heads}/${kvHeads}, vocab ${vocab})`;
  if (format === 2 && (gs <= 0 || dim % gs !== 0 || hidden % gs !== 0)) return `bad Q8_0 group size ${gs}`;
  if (format === 3 && (gs !== 32 || dim % gs !== 0 || hidden % gs !== 0)) return `bad Q4_0 group size ${gs}`;
  // Sizes stay far below 2^53 for any header the loader accepts.
  const D = dim, H = hidden, L = layers, V = vocab, hs = D / heads, KV = hs * kvHeads;
  const norms = L * D * 2 + D;
  const mats = [V * D, L * D * D, L * KV * D, L * KV * D, L * D * D, L * H * D, L * D * H, L * H * D, shared ? 0 : V * D];
  if (format === 2) return HEADER_V1 + norms * 4 + mats.reduce((t, m) => t + m + (m / gs) * 4, 0);
  if (format === 3) return HEADER_V1 + norms * 4 + mats.reduce((t, m) => t + m / 2 + (m / gs) * 4, 0);
  const total = mats.reduce((t, m) => t + m, 0) + norms;
  return format === 0 ? 28 + (total + seq * hs) * 4 : HEADER_V1 + total * 4;
}

/**
 * Header + exact size of an open model.bin; returns a reason, or null when it
 * is fine. It reads 256 bytes, so it runs on the upload before anything is
 * copied: a 4 GB file of junk is refused at once, not after a copy.
 */
export async function checkModelHeader(fh: FileHandle): Promise<string | null> {
  const { size } = await fh.stat();
  const header = new Uint8Array(HEADER_V1);
  const { bytesRead } = await fh.read(header, 0, HEADER_V1, 0);
  const want = expectedModelSize(header.subarray(0, bytesRead));
  if (typeof want === "string") return `model.bin: ${want}`;
  if (want !== size) return `model.bin: ${size} bytes but its header needs ${want} (${size < want ? "truncated" : "trailing data"})`;
  return null;
}

/** checkModelHeader on a path (a regular file only). */
export async function checkModelFile(path: string): Promise<string | null> {
  const fh = await openRegular(path);
  try {
    return await checkModelHeader(fh);
  } finally {
    await fh.close();
  }
}

/** The vocabulary size a model header declares (v0 stores it negated for a separate classifier). */
function headerVocab(header: Uint8Array): number {
  const v = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const magic = header.byteLength >= 4 && v.getUint32(0, true) === MAGIC;
  return Math.abs(v.getInt32(magic ? 28 : 20, true));
}

/**
 * tokenizer.bin must hold exactly the model's vocab_size pieces. The C loader,
 * like llama2.c, reads the first vocab_size pieces and ignores the rest, so a
 * tokenizer made for a bigger vocabulary would load and quietly mis-decode;
 * a deploy is where such a mismatch arrives, so it is refused here.
 */
export async function checkTokenizerFile(tokenizerPath: string, modelPath: string): Promise<string | null> {
  const header = new Uint8Array(HEADER_V1);
  const fh = await openRegular(modelPath);
  try {
    await fh.read(header, 0, HEADER_V1, 0);
  } finally {
    await fh.close();
  }
  const vocab = headerVocab(header);
  const bytes = await readFile(tokenizerPath);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 4;
  let pieces = 0;
  while (at + 8 <= bytes.byteLength) {
    const len = v.getInt32(at + 4, true);
    if (len < 0 || at + 8 + len > bytes.byteLength) break;
    at += 8 + len;
    pieces++;
  }
  if (pieces === vocab && at === bytes.byteLength) return null;
  return `tokenizer.bin holds ${pieces} pieces${at < bytes.byteLength ? ` and ${bytes.byteLength - at} stray bytes` : ""} ` +
    `but the model's vocabulary has ${vocab}: made for another model?`;
}

/** The manifest's sha256 of both files against the measured ones; returns a reason or null. */
export function checkManifest(manifest: Manifest, got: Digests): string | null {
  for (const [key, file] of [["model", "model.bin"], ["tokenizer", "tokenizer.bin"]] as const) {
    const want = manifest.sha256?.[key] ?? manifest.files?.[file]?.sha256;
    if (!want) return `manifest.json has no sha256 for ${file}`;
    if (want !== got[key].sha256) return `${file}: sha256 ${got[key].sha256.slice(0, 12)}… does not match the manifest's ${want.slice(0, 12)}…`;
    const bytes = manifest.files?.[file]?.bytes;
    if (bytes !== undefined && bytes !== got[key].bytes) return `${file}: ${got[key].bytes} bytes, the manifest says ${bytes}`;
  }
  return null;
}

/** Parse manifest.json text; a string says why it is unusable. */
export function parseManifest(text: string): Manifest | string {
  try {
    const m = JSON.parse(text);
    return m && typeof m === "object" && !Array.isArray(m) ? (m as Manifest) : "manifest.json is not an object";
  } catch (e) {
    return `manifest.json: ${(e as Error).message}`;
  }
}

/** A kernel directory's files as measured (a private copy), with its manifest as parsed. */
export interface KernelFiles {
  dir: string;
  digests: Digests;
  /** the parsed manifest, a string when it is present but unusable, null when absent */
  manifest: Manifest | string | null;
}

/**
 * Header/size, the tokenizer's piece count, then the manifest when there is
 * one; returns why the kernel is refused, or null. Without a manifest nothing
 * vouches that model.bin and tokenizer.bin belong together, so a tokenizer
 * that differs from `pairedTokenizer` (the serving kernel's sha256) is
 * refused: a foreign tokenizer of the same size would load and mis-decode.
 */
export async function verifyKernel(k: KernelFiles, pairedTokenizer?: string | null): Promise<string | null> {
  const header = await checkModelFile(join(k.dir, "model.bin"));
  if (header) return header;
  const tokenizer = await checkTokenizerFile(join(k.dir, "tokenizer.bin"), join(k.dir, "model.bin"));
  if (tokenizer) return tokenizer;
  if (typeof k.manifest === "string") return k.manifest;
  if (k.manifest) return checkManifest(k.manifest, k.digests);
  if (pairedTokenizer && pairedTokenizer !== k.digests.tokenizer.sha256)
    return "tokenizer.bin differs from the serving kernel's and there is no manifest.json to vouch for the pair: deploy it with its manifest";
  return null;
}
