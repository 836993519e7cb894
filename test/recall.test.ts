/**
 * recall.test.ts — leo's recall bias: which recalled words a reply is pointed
 * at (src/leo/recall.ts), and the engine's copy bias that points it (a real
 * engine on a small generated model, greedy, so every step is checkable).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LEO, withLeoOverrides } from "../src/config/leo.ts";
import { Engine, type SamplingParams } from "../src/engine/index.ts";
import { recallWords } from "../src/leo/recall.ts";
import { writeModelDir } from "../tools/gen-model.ts";

const never = () => 0;
const words = (message: string, lines: string[], spoken: (w: string) => number = never, config = LEO.recall) =>
  recallWords(message, lines, spoken, config).map((w) => w.word);

test("recall: a question takes the words of a recalled line it does not hold, as the user wrote them, with what followed", () => {
  expect(words("What is my cat called?", ["My cat is called Basil."])).toEqual(["Basil"]);
  expect(recallWords("What is my cat called?", ["My cat is called Basil."], never, LEO.recall)).toEqual([{ word: "Basil", rest: "Basil." }]);
  expect(words("Where am I going on Saturday?", ["On Saturday I am going to Lisbon by train."])).toEqual(["Lisbon", "train"]);
});

test("recall: the rarest words come first, and words the talk keeps saying are not a fact told once", () => {
  const spoken = (w: string) => ({ violin: 1, children: 2, evening: 9 })[w] ?? 0;
  expect(words("What do I teach?", ["I teach children the violin in the evening."], spoken)).toEqual(["violin", "children"]);
  expect(words("What do I teach?", ["I teach children the violin in the evening."], spoken, { ...LEO.recall, maxWords: 1 })).toEqual(["violin"]);
});

test("recall: no question, or no shared content word, or only stopwords shared: nothing is copied", () => {
  expect(words("Tell me about my cat.", ["My cat is called Basil."])).toEqual([]);
  expect(words("What is the weather like?", ["My cat is called Basil."])).toEqual([]);
  expect(words("What is it?", ["It is what it is, Basil."])).toEqual([]);
  const statements = withLeoOverrides({ recall: { questionsOnly: false } }).recall;
  expect(words("Tell me about my cat.", ["My cat is called Basil."], never, statements)).toEqual(["called", "Basil"]);
});

test("recall: a recalled page is read up to lineChars (a fact is told in a sentence)", () => {
  const page = (at: number) => `My cat ${"lorem ".repeat(at / 6)} is called Basil.`;
  const short = { ...LEO.recall, maxSpoken: 2 };
  expect(words("What is my cat called?", [page(LEO.recall.lineChars / 2)], (w) => (w === "lorem" ? 99 : 0), short)).toEqual(["Basil"]);
  expect(words("What is my cat called?", [page(LEO.recall.lineChars)], (w) => (w === "lorem" ? 99 : 0), short)).toEqual([]);
});

let root: string;
let engine: Engine;
let prompt: number[];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "ia-recall-"));
  const dir = join(root, "m");
  writeModelDir(dir, { dim: 64, hiddenDim: 192, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 512, seqLen: 128, format: 1, seed: 1 });
  engine = await Engine.open({ threads: 1 });
  await engine.load(dir);
  prompt = await engine.tokenize("Once upon a time, the sea", { bos: true });
});

afterAll(async () => {
  await engine.close();
  rmSync(root, { recursive: true, force: true });
});

const NO_END = { ids: [1, 2], weights: [-1000, -1000] };
async function greedy(ids: number[], n: number, extra: SamplingParams = {}): Promise<number[]> {
  const out: number[] = [];
  for await (const ev of engine.generate(ids, { temperature: 0, maxTokens: n, bias: NO_END, ...extra })) out.push(ev.id);
  return out;
}

test("copy bias: a word is written whole, then the pointer lets go", async () => {
  const word = [100, 200, 300];
  const ids = await greedy(prompt, 8, { copy: { sequences: [word], weight: 1000, continueWeight: 1000 } });
  expect(ids.slice(0, 3)).toEqual(word);
  // after the word, the model's own greedy continuation: no boost is left
  expect(ids.slice(3)).toEqual(await greedy([...prompt, ...word], 5));
}, 30_000);

test("copy bias: a begun word the model turns away from is not pushed again", async () => {
  const first = 100;
  const own = (await greedy([...prompt, first], 1))[0];
  const other = own === 200 ? 201 : 200;
  // the continuation gets no push, the model leaves the word: its first token is not forced a second time
  const ids = await greedy(prompt, 6, { copy: { sequences: [[first, other, 300]], weight: 1000, continueWeight: 0 } });
  expect(ids[0]).toBe(first);
  expect(ids.slice(1)).toEqual(await greedy([...prompt, first], 5));
}, 30_000);
