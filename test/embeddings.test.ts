/**
 * embeddings.test.ts — the kernel's embeddings (ar_session_embed) on the
 * bundled kernel: unit length, deterministic, and on a small labelled set of
 * sentence pairs, related pairs score higher than unrelated ones far more
 * often than chance (the pairwise AUC; 0.5 is chance). The texts-per-second
 * figure is logged (a shared CI machine makes it noisy).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { homePaths } from "../src/config/runtime.ts";
import { Engine } from "../src/engine/index.ts";

/** [a, b, related]: each unrelated pair reuses sentences of two related ones, so only the pairing differs. */
const PAIRS: [string, string, boolean][] = [
  ["the river runs to the sea", "water flows down to the ocean", true],
  ["I am tired and want to sleep", "I feel sleepy tonight", true],
  ["the cat sat on the mat", "a kitten rests on the rug", true],
  ["she plays the piano", "music from the keys of a piano", true],
  ["it is raining outside", "the rain falls on the street", true],
  ["the sun rises in the morning", "dawn comes with the sunrise", true],
  ["I remember our talk yesterday", "my memory of what we said", true],
  ["a cup of hot tea", "I drink warm tea", true],
  ["the river runs to the sea", "I drink warm tea", false],
  ["I am tired and want to sleep", "music from the keys of a piano", false],
  ["the cat sat on the mat", "dawn comes with the sunrise", false],
  ["she plays the piano", "the rain falls on the street", false],
  ["it is raining outside", "my memory of what we said", false],
  ["the sun rises in the morning", "a kitten rests on the rug", false],
  ["I remember our talk yesterday", "water flows down to the ocean", false],
  ["a cup of hot tea", "I feel sleepy tonight", false],
];

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.open({ threads: 1 });
  await engine.load(homePaths("/nonexistent").bundledModel);
});
afterAll(() => engine.close());

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0);

test("embeddings are unit vectors of the kernel's dim, the same for the same text", async () => {
  const { vectors, tokens } = await engine.embed(["hello there", "hello there", "the night"]);
  expect(vectors[0]).toHaveLength(engine.info!.dim);
  for (const v of vectors) expect(Math.sqrt(dot(v, v))).toBeCloseTo(1, 5);
  expect([...vectors[1]]).toEqual([...vectors[0]]);
  expect(dot(vectors[0], vectors[2])).toBeLessThan(0.999);
  expect(tokens).toBeGreaterThan(6);
  // embeddings run on a session of their own: a generation before and after is unchanged
  const params = { seed: 1, temperature: 0, maxTokens: 8 };
  const before = await engine.generate("the river", params).result;
  await engine.embed(["something else entirely"]);
  expect((await engine.generate("the river", params).result).text).toBe(before.text);
});

test("related sentence pairs score higher than unrelated ones far more often than chance", async () => {
  const { vectors } = await engine.embed(PAIRS.flatMap(([a, b]) => [a, b]));
  const sims = PAIRS.map(([, , related], i) => ({ related, sim: dot(vectors[2 * i], vectors[2 * i + 1]) }));
  const related = sims.filter((s) => s.related).map((s) => s.sim);
  const unrelated = sims.filter((s) => !s.related).map((s) => s.sim);
  let wins = 0;
  for (const r of related) for (const u of unrelated) wins += r > u ? 1 : r === u ? 0.5 : 0;
  const auc = wins / (related.length * unrelated.length);
  console.log(`embedding pair AUC ${auc.toFixed(3)} (chance 0.5) on ${PAIRS.length} pairs`);
  expect(auc).toBeGreaterThan(0.75);

  // wall time counts whatever else the machine runs; CPU time is what one core spends
  const texts = Array.from({ length: 100 }, (_, i) => `sentence ${i}: the quiet river and the night school`);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await engine.embed(texts);
  const cpu = process.cpuUsage(c0);
  const rate = (seconds: number) => (texts.length / seconds).toFixed(0);
  console.log(`embeddings (1 thread, ${texts.length} texts of ~14 tokens): ${rate((performance.now() - t0) / 1000)} texts/s wall, ${rate((cpu.user + cpu.system) / 1e6)} per CPU-second`);
});
