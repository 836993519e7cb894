/**
 * bin-file.ts — the IABN format: a small binary file of model-token logit biases.
 *
 *   "IABN" | u32 version | u32 vocab_size | u32 count | count × (u32 token id, f32 weight)
 *
 * little-endian, entries sorted by id, ids unique and below vocab_size,
 * weights finite (the C sampler refuses anything else, and would fail the turn).
 */

export const IABN_MAGIC = "IABN";
export const IABN_VERSION = 1;
const HEADER_BYTES = 16;
const ENTRY_BYTES = 8;

export interface BinData {
  vocabSize: number;
  ids: Uint32Array;
  weights: Float32Array;
}

export interface BinEntry {
  id: number;
  weight: number;
}

export function encodeBin(vocabSize: number, entries: readonly BinEntry[]): Uint8Array {
  // one weight per id: the strongest wins
  const byId = new Map<number, number>();
  for (const { id, weight } of entries) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new Error(`IABN: token id ${id} outside vocab ${vocabSize}`);
    if (!Number.isFinite(Math.fround(weight))) throw new Error(`IABN: weight ${weight} of token ${id} is not a finite f32`);
    if (Math.abs(weight) > Math.abs(byId.get(id) ?? 0)) byId.set(id, weight);
  }
  const sorted = [...byId].sort((a, b) => a[0] - b[0]);
  const bytes = new Uint8Array(HEADER_BYTES + sorted.length * ENTRY_BYTES);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode(IABN_MAGIC), 0);
  view.setUint32(4, IABN_VERSION, true);
  view.setUint32(8, vocabSize, true);
  view.setUint32(12, sorted.length, true);
  sorted.forEach(([id, weight], i) => {
    view.setUint32(HEADER_BYTES + i * ENTRY_BYTES, id, true);
    view.setFloat32(HEADER_BYTES + i * ENTRY_BYTES + 4, weight, true);
  });
  return bytes;
}

export function decodeBin(bytes: Uint8Array): BinData {
  if (bytes.length < HEADER_BYTES || new TextDecoder().decode(bytes.subarray(0, 4)) !== IABN_MAGIC) {
    throw new Error("IABN: bad magic");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== IABN_VERSION) throw new Error(`IABN: unsupported version ${version}`);
  const vocabSize = view.getUint32(8, true);
  const count = view.getUint32(12, true);
  if (bytes.length !== HEADER_BYTES + count * ENTRY_BYTES) throw new Error("IABN: size does not match count");
  const ids = new Uint32Array(count);
  const weights = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    ids[i] = view.getUint32(HEADER_BYTES + i * ENTRY_BYTES, true);
    weights[i] = view.getFloat32(HEADER_BYTES + i * ENTRY_BYTES + 4, true);
    if (ids[i] >= vocabSize || (i > 0 && ids[i] <= ids[i - 1])) throw new Error("IABN: ids must be sorted, unique, in vocab");
    if (!Number.isFinite(weights[i])) throw new Error(`IABN: weight of token ${ids[i]} is not finite`);
  }
  return { vocabSize, ids, weights };
}
