// docs/leo.md §8.6 and the IABN format: decay with disuse, retirement, bias combined by maximum, persistence.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LEO } from "../src/config/leo.ts";
import { decayLevel, decodeBin, encodeBin } from "../src/leo/index.ts";
import { binEntries, combineBias } from "../src/leo/bins.ts";
import { leoFixture } from "./support/leo-fixture.ts";

const DAY = 86_400_000;
const { time, clock, openLeo } = leoFixture("bins");

describe("IABN files", () => {
  test("round trip: header, sorted unique ids, one weight per id", () => {
    const bytes = encodeBin(100, [{ id: 42, weight: 0.5 }, { id: 7, weight: 1 }, { id: 42, weight: 0.9 }]);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe("IABN");
    expect(bytes.length).toBe(16 + 2 * 8);
    const bin = decodeBin(bytes);
    expect(bin.vocabSize).toBe(100);
    expect([...bin.ids]).toEqual([7, 42]);
    expect(bin.weights[1]).toBeCloseTo(0.9);
  });

  // found by tools/fuzz-bin.ts: a NaN or infinite weight parsed, then the C sampler refused the bias and every turn failed
  test("non-finite weights are refused, reading and writing", () => {
    for (const bad of [Number.NaN, Infinity, -Infinity]) {
      const bytes = encodeBin(10, [{ id: 1, weight: 1 }, { id: 2, weight: 1 }]);
      new DataView(bytes.buffer).setFloat32(16 + 8 + 4, bad, true);
      expect(() => decodeBin(bytes)).toThrow(/IABN: weight of token 2 is not finite/);
      expect(() => encodeBin(10, [{ id: 2, weight: bad }])).toThrow(/not a finite f32/);
    }
    expect(() => encodeBin(10, [{ id: 2, weight: 1e39 }])).toThrow(/not a finite f32/); // finite, but not as an f32
  });

  test("damaged files are refused", () => {
    const good = encodeBin(10, [{ id: 1, weight: 1 }]);
    expect(() => decodeBin(good.subarray(0, 20))).toThrow(/size/);
    const bad = good.slice();
    bad[0] = 0x58;
    expect(() => decodeBin(bad)).toThrow(/magic/);
    expect(() => encodeBin(10, [{ id: 10, weight: 1 }])).toThrow(/outside/);
  });

  test("overlapping bins add no more than the larger of them to any token (§8.6)", () => {
    const a = decodeBin(encodeBin(50, [{ id: 3, weight: 1 }, { id: 9, weight: 0.5 }]));
    const b = decodeBin(encodeBin(50, [{ id: 9, weight: 1 }, { id: 12, weight: 0.25 }]));
    const bias = combineBias([{ data: a, scale: 2.5 }, { data: b, scale: 2.5 }]);
    expect(bias.ids).toEqual([3, 9, 12]);
    expect(bias.weights).toEqual([2.5, 2.5, 0.625]); // token 9: max(1.25, 2.5), not 3.75
    const twice = combineBias([{ data: a, scale: 2.5 }, { data: a, scale: 2.5 }]);
    expect(twice.weights).toEqual([2.5, 1.25]); // a near-duplicate adds nothing
  });
});

describe("bin entries", () => {
  // a stand-in tokenizer: whole words it knows, otherwise a first piece of one or two letters, then the rest
  const pieces: Record<string, number[]> = { garden: [10], b: [20], basil: [20, 21], to: [30], t: [31], tomato: [30, 32] };
  const tokenize = async (text: string) => [1, ...(pieces[text] ?? [99])];

  test("each word's first piece, but not a first piece that is the word's first letter alone", async () => {
    expect(await binEntries(["garden", "basil", "tomato"], [1, 0.5, 0.25], tokenize)).toEqual([
      { id: 10, weight: 1 },
      { id: 30, weight: 0.25 },
    ]);
  });
});

describe("bin decay (§8.6)", () => {
  test("7 days unused → decay 0.5; at 0.95 the bin is retired and its file removed; the state survives a restart", () => {
    const first = openLeo();
    const bin = first.leo.bins.write(1, "sea", ["tide", "harbor"], 64, [{ id: 5, weight: 1 }]);
    const file = join(first.dir, bin.path);
    expect(existsSync(file)).toBe(true);
    expect(decodeBin(readFileSync(file)).vocabSize).toBe(64);

    time.now += 7 * DAY;
    expect(first.leo.bins.maintain()).toEqual([]);
    expect(first.leo.bins.get(bin.id)!.decayLevel).toBeCloseTo(0.5);
    expect(first.leo.bins.themeScale(first.leo.bins.get(bin.id)!)).toBeCloseTo(LEO.bins.beta * 0.5);

    first.memory.close();
    const { leo } = openLeo(first.dir); // start-up maintenance runs too
    expect(leo.bins.get(bin.id)!.decayLevel).toBeCloseTo(0.5);

    time.now += 23 * DAY; // 30 days: 1 − 0.5^(30/7) ≈ 0.949
    leo.bins.maintain();
    expect(leo.bins.live().map((b) => b.id)).toEqual([bin.id]);
    time.now += 1 * DAY; // 31 days ≈ 0.954
    expect(leo.bins.maintain()).toEqual([bin.id]);
    expect(leo.bins.live()).toEqual([]);
    expect(existsSync(file)).toBe(false);
    expect(decayLevel(0, 31 * DAY, 7)).toBeGreaterThanOrEqual(LEO.bins.retireAt);
  });

  test("a bin whose theme a rebuild dissolved is retired at the next maintenance, its file removed", () => {
    const { leo, memory, dir } = openLeo();
    memory.atomically(() => {
      for (let i = 0; i < 4; i++) leo.field.observe("waves salt harbor sailors anchor tide lighthouse");
    });
    leo.themes.rebuild();
    const [sea] = leo.themes.all();
    const bin = leo.bins.write(sea.id, "sea", sea.words, 64, [{ id: 5, weight: 1 }]);
    expect(leo.bins.maintain()).toEqual([]); // a live theme's bin stays
    for (let i = 0; i < 60; i++) leo.field.forget(); // the field forgets the sea ...
    leo.themes.rebuild(); // ... so the rebuild dissolves it
    expect(leo.themes.get(sea.id)).toBeUndefined();
    expect(leo.bins.maintain()).toEqual([bin.id]); // written just now: decay alone would keep it a month
    expect(leo.bins.live()).toEqual([]);
    expect(existsSync(join(dir, bin.path))).toBe(false);
  });

  test("use resets the decay", () => {
    const { leo, memory } = openLeo();
    const bin = leo.bins.write(2, "garden", ["soil"], 64, [{ id: 6, weight: 1 }]);
    time.now += 14 * DAY;
    memory.atomically(() => leo.bins.markUsed([bin.id]));
    leo.bins.maintain();
    expect(leo.bins.get(bin.id)!.decayLevel).toBe(0);
  });

  test("a bin whose file went missing is retired instead of failing the turn", () => {
    const { leo, dir, memory } = openLeo();
    leo.bins.write(null, "origin", ["memory"], 64, [{ id: 5, weight: 1 }]);
    writeFileSync(join(dir, "bins", "origin.iabn"), "garbage");
    memory.atomically(() => leo.trauma.record({ score: 1, originWords: [], asksIdentity: false }, memory.messages.append("arianna", "…").id));
    const prep = leo.prepare("hello");
    expect(prep.binsUsed).toEqual([]);
    expect(leo.bins.origin()).toBeUndefined();
  });
});
