// docs/leo.md §8.1–3 and §8.10 for the field: presence signals, novelty, spoken counts, n-grams, co-occurrence, forgetting.
import { describe, expect, test } from "bun:test";
import { LEO } from "../src/config/leo.ts";
import { arousal, meanEntropy, novelty, pulse } from "../src/leo/presence.ts";
import { fieldTokens } from "../src/leo/tokens.ts";
import { measureLongMessage } from "../tools/reliability/long-message.ts";
import { leoFixture } from "./support/leo-fixture.ts";

const { openLeo } = leoFixture("field");

const P = LEO.presence;
/** novelty from its trigram and word parts */
const mix = (trigram: number, word: number) => P.noveltyWeights.trigram * trigram + P.noveltyWeights.word * word;

describe("presence signals (§8.1)", () => {
  test("shouting raises arousal", () => {
    expect(arousal("HELP ME NOW!", P)).toBeGreaterThan(arousal("help me now", P));
    expect(arousal("ПОМОГИ МНЕ СЕЙЧАС!", P)).toBeGreaterThan(arousal("помоги мне сейчас", P));
  });

  test("every signal stays in [0,1]", () => {
    const { leo } = openLeo();
    const texts = ["", "!!!!!!!!!!!!", "NOW NOW NOW MUST NEED URGENT HELP STOP WAIT ALWAYS NEVER ?!?!?!", "a b", "тихо", "ok then, fine."];
    for (const text of texts) {
      for (const value of [arousal(text, P), novelty(leo.field, text, P)]) {
        expect(value).toBeGreaterThanOrEqual(0);
        expect(value).toBeLessThanOrEqual(1);
      }
    }
    expect(meanEntropy([], 0.5)).toBe(0.5);
    expect(meanEntropy([0, 1, 1], 0.5)).toBeCloseTo(2 / 3);
    expect(pulse(1, 1, 1, P)).toBe(1);
    expect(pulse(0, 0, 0, P)).toBe(0);
  });
});

describe("novelty (§8.2)", () => {
  test("known trigrams and words → 0, unseen → 1, a short prompt without content words → 0.5", () => {
    const { leo } = openLeo();
    leo.field.observe("the river remembers every stone");
    leo.field.observe("the river remembers every stone");
    expect(novelty(leo.field, "the river remembers", P)).toBe(0);
    expect(novelty(leo.field, "river remembers every stone", P)).toBe(0);
    expect(novelty(leo.field, "a quiet lantern glows", P)).toBe(1);
    expect(novelty(leo.field, "and so", P)).toBe(0.5);
    // trigrams: 1 of 2 known; words: river, remembers known, "nothing" new
    expect(novelty(leo.field, "the river remembers nothing", P)).toBeCloseTo(mix(0.5, 1 / 3));
    // new trigrams, known words: a young field no longer reads 1.0 when the words come back
    expect(novelty(leo.field, "stone river remembers", P)).toBeCloseTo(mix(1, 0));
  });

  test("a word counts as known once spoken twice; words written only by rings never count", () => {
    const { leo } = openLeo();
    leo.field.observe("lantern");
    expect(novelty(leo.field, "lantern", P)).toBeCloseTo(mix(0.5, 1));
    leo.field.observe("lantern");
    expect(novelty(leo.field, "lantern", P)).toBeCloseTo(mix(0.5, 0));
    leo.field.observe("harbour harbour harbour", { spoken: false });
    expect(leo.field.wordCount("harbour")).toBe(3);
    expect(leo.field.spokenCount("harbour")).toBe(0);
    expect(novelty(leo.field, "harbour", P)).toBeCloseTo(mix(0.5, 1));
  });

  test("a ring observed with knownOnly teaches the field no new word", () => {
    const { leo } = openLeo();
    leo.field.observe("the sea was calm tonight");
    leo.field.observe("the sea photood was otherstmm calm", { spoken: false, knownOnly: true });
    expect(leo.field.wordCount("photood")).toBe(0);
    expect(leo.field.wordCount("otherstmm")).toBe(0);
    expect(leo.field.bigram("the", "sea")).toBe(2);
    expect(leo.field.bigram("sea", "was")).toBe(1); // broken by the unknown word between them
  });
});

describe("the field (§8.3)", () => {
  test("tokens: letters of any script, inner apostrophes and hyphens, punctuation marks", () => {
    expect(fieldTokens("Don't STOP — well-known… Привет, мир!")).toEqual([
      "don't", "stop", "—", "well-known", "…", "привет", ",", "мир", "!",
    ]);
  });

  test("observing 'a b c' twice counts the bigram and the trigram twice", () => {
    const { leo } = openLeo();
    leo.field.observe("a b c");
    leo.field.observe("a b c");
    expect(leo.field.bigram("a", "b")).toBe(2);
    expect(leo.field.trigram("a", "b", "c")).toBe(2);
    expect(leo.field.wordCount("a")).toBe(2);
  });

  test("co-occurrence reaches 5 positions, never 6; a pair with a new word starts at 2", () => {
    const { leo } = openLeo();
    leo.field.observe("w0 w1 w2 w3 w4 w5 w6");
    expect(leo.field.cooc("w0", "w5")).toBe(2); // new words: starts at 2
    expect(leo.field.cooc("w5", "w0")).toBe(2);
    expect(leo.field.cooc("w0", "w6")).toBe(0); // 6 apart
    leo.field.observe("w0 w1"); // both known now: +1
    expect(leo.field.cooc("w0", "w1")).toBe(3);
    leo.field.observe("w0 fresh"); // a new word: its pairs start at 2
    expect(leo.field.cooc("w0", "fresh")).toBe(2);
  });

  test("co-occurrence stops at a text's first coocTokens tokens; its n-grams and word counts go on", () => {
    const { leo } = openLeo(undefined, { field: { coocTokens: 6 } });
    leo.field.observe("w0 w1 w2 w3 w4 w5 w6 w7 w8 w9");
    expect(leo.field.cooc("w0", "w5")).toBe(2);
    expect(leo.field.cooc("w4", "w5")).toBe(2);
    expect(leo.field.cooc("w5", "w6")).toBe(0);
    expect(leo.field.cooc("w8", "w9")).toBe(0);
    expect(leo.field.bigram("w8", "w9")).toBe(1);
    expect(leo.field.trigram("w7", "w8", "w9")).toBe(1);
    expect(leo.field.wordCount("w9")).toBe(1);
    expect(LEO.field.coocTokens).toBeGreaterThanOrEqual(1000); // far above a typed message or a reply
  });

  test("a pasted 64 KB message grows a new database by less than 8x its size (whole-text co-occurrence made it 11.9x)", () => {
    const { amplification, byTable } = measureLongMessage({ history: 0 });
    expect(amplification).toBeLessThan(8);
    expect(byTable.cooc ?? 0).toBeLessThan(64 * 1024);
  });

  test("the 100th observation decays co-occurrence but not the n-grams", () => {
    const { leo } = openLeo();
    leo.field.observe("alpha beta gamma");
    for (let i = 0; i < 9; i++) leo.field.observe("alpha beta gamma"); // alpha-beta: 2 + 9 = 11
    for (let i = 0; i < 89; i++) leo.field.observe(`filler${i}`); // 99 observations so far
    expect(leo.field.cooc("alpha", "beta")).toBe(11);
    expect(leo.field.cooc("alpha", "gamma")).toBe(11);
    leo.field.observe("lonely words"); // the 100th: a pair at 2 drops to 1 (×0.90)
    expect(leo.field.observations()).toBe(100);
    expect(leo.field.cooc("alpha", "beta")).toBe(10); // 11 × 0.95 = 10.45 → 10
    expect(leo.field.cooc("lonely", "words")).toBe(1); // 2 × 0.9 = 1.8 → 1
    expect(leo.field.bigram("alpha", "beta")).toBe(10);
    expect(leo.field.trigram("alpha", "beta", "gamma")).toBe(10);
  });

  test("the field survives a restart (§8.10)", () => {
    const first = openLeo();
    first.leo.field.observe("Луна светит над тихой рекой");
    first.leo.field.observe("луна светит");
    first.memory.close();
    const { leo } = openLeo(first.dir);
    expect(leo.field.bigram("луна", "светит")).toBe(2);
    expect(leo.field.cooc("луна", "рекой")).toBe(2);
    expect(leo.field.observations()).toBe(2);
    expect(novelty(leo.field, "луна светит над", P)).toBe(0);
  });
});

describe("a turn's messages settle into the field after the reply", () => {
  test("enqueued messages count at once; a kill before they settle loses none of their words and a start counts none twice", () => {
    const first = openLeo();
    const { memory, leo } = first;
    const prompt = memory.atomically(() => memory.messages.append("user", "the lighthouse keeper sings"));
    leo.observe(prompt);
    const reply = memory.atomically(() => memory.messages.append("arianna", "The keeper sings to the lighthouse."));
    leo.observe(reply);
    // what a turn reads between its commits sees both texts; n-grams wait for settle
    expect(leo.field.wordCount("keeper")).toBe(2);
    expect(leo.field.spokenCount("lighthouse")).toBe(2);
    expect(leo.field.observations()).toBe(2);
    expect(leo.field.bigram("keeper", "sings")).toBe(0);
    first.memory.close(); // killed before the idle window

    const second = openLeo(first.dir);
    expect(second.leo.field.bigram("keeper", "sings")).toBe(2);
    expect(second.leo.field.wordCount("keeper")).toBe(2);
    expect(second.leo.field.observations()).toBe(2);
    second.memory.close();
    const third = openLeo(first.dir);
    expect(third.leo.field.wordCount("keeper")).toBe(2);
    expect(third.leo.field.observations()).toBe(2);

    // settled through the queue or observed at once: the same tables
    const direct = openLeo();
    for (const text of [prompt.text, reply.text]) direct.leo.field.observe(text);
    const tables = (db: typeof memory.db) =>
      ["SELECT word, count, count_spoken FROM vocab ORDER BY id", "SELECT * FROM bigram", "SELECT * FROM trigram", "SELECT * FROM cooc"]
        .map((sql) => db.query(sql).all());
    expect(tables(third.memory.db)).toEqual(tables(direct.memory.db));
  });
});

describe("the field's counts after real turns (§1)", () => {
  /** The spec's rules applied one occurrence at a time, in plain maps: what the field's tables must hold. */
  function reference() {
    const words = new Map<string, { count: number; spoken: number }>();
    const bigrams = new Map<string, number>();
    const trigrams = new Map<string, number>();
    const cooc = new Map<string, number>();
    const bump = (m: Map<string, number>, key: string) => m.set(key, (m.get(key) ?? 0) + 1);
    return {
      words, bigrams, trigrams, cooc,
      observe(text: string, spoken = true) {
        const t = fieldTokens(text);
        const fresh = new Set(t.filter((w) => !words.has(w)));
        t.forEach((w, i) => {
          const seen = words.get(w) ?? { count: 0, spoken: 0 };
          words.set(w, { count: seen.count + 1, spoken: seen.spoken + (spoken ? 1 : 0) });
          if (i + 1 < t.length) bump(bigrams, `${w} ${t[i + 1]}`);
          if (i + 2 < t.length) bump(trigrams, `${w} ${t[i + 1]} ${t[i + 2]}`);
          for (let j = i + 1; j <= Math.min(t.length - 1, i + LEO.field.coocWindow); j++) {
            // cooc(a,b) and cooc(b,a) are one stored pair; a self pair gets both
            const key = [w, t[j]].sort().join(" ");
            for (let k = 0; k < (w === t[j] ? 2 : 1); k++) {
              const n = cooc.get(key);
              cooc.set(key, n === undefined ? (fresh.has(w) || fresh.has(t[j]) ? LEO.field.newPairStart : 1) : n + 1);
            }
          }
        });
      },
    };
  }

  test("the counts a turn reads follow every observation, and a rolled-back one leaves nothing behind after recover", () => {
    const { leo, memory } = openLeo();
    const stored = (word: string) => {
      const row = memory.db.query<{ count: number; count_spoken: number }, [string]>("SELECT count, count_spoken FROM vocab WHERE word = ?").get(word);
      return [row?.count ?? 0, row?.count_spoken ?? 0];
    };
    const read = (word: string) => [leo.field.wordCount(word), leo.field.spokenCount(word)];
    const words = ["river", "loud", "bridge", "мост", "never"];
    const texts: [string, boolean][] = [
      ["The river was loud.", true],
      ["river river loud", false],
      ["The bridge by the river; мост, мост.", true],
    ];
    for (const [text, spoken] of texts) {
      for (const word of words) read(word); // cached before the observation changes the rows
      leo.field.observe(text, { spoken });
      for (const word of words) expect(read(word)).toEqual(stored(word));
    }
    expect(read("river")).toEqual([4, 2]);
    // a reply's transaction that rolls back: leo.recover (as the session calls it) forgets what ran ahead
    expect(() =>
      memory.atomically(() => {
        leo.field.observe("river bridge never", { spoken: true });
        expect(read("never")).toEqual([1, 1]);
        throw new Error("the disk is full");
      }),
    ).toThrow("the disk is full");
    leo.recover();
    for (const word of words) expect(read(word)).toEqual(stored(word));
    expect(read("never")).toEqual([0, 0]);
  });

  test("a conversation with repeats, self pairs, a ring and new words leaves exactly the per-occurrence counts", () => {
    const { leo, memory } = openLeo();
    const ref = reference();
    const turns: [string, boolean][] = [
      ["The river was high this morning, and the river was loud.", true],
      ["No, no, no — the river is always loud in spring. Spring, spring, spring!", true],
      ["river river loud loud the the the", false], // a ring: counted, not spoken
      ["Did the bridge hold? The old bridge, the one by the mill?", true],
      ["It held. The bridge held, and the mill stood; the water went round it, round and round.", true],
      ["Мост выдержал, мост выдержал! Вода шла кругом.", true],
      ["round round round round round round round", true],
    ];
    for (const [text, spoken] of turns) {
      leo.field.observe(text, { spoken });
      ref.observe(text, spoken);
    }
    const db = memory.db;
    const stored = (sql: string) => new Map(db.query<{ k: string; n: number }, []>(sql).all().map((r) => [r.k, r.n]));
    expect(
      new Map(db.query<{ word: string; count: number; count_spoken: number }, []>("SELECT word, count, count_spoken FROM vocab").all()
        .map((r) => [r.word, { count: r.count, spoken: r.count_spoken }])),
    ).toEqual(ref.words);
    const word = (col: string) => `(SELECT word FROM vocab WHERE id = ${col})`;
    expect(stored(`SELECT ${word("a")} || ' ' || ${word("b")} AS k, n FROM bigram`)).toEqual(ref.bigrams);
    expect(stored(`SELECT ${word("a")} || ' ' || ${word("b")} || ' ' || ${word("c")} AS k, n FROM trigram`)).toEqual(ref.trigrams);
    // stored as (smaller id, larger id); the reference keys a pair by its sorted words
    const pairs = db.query<{ a: string; b: string; n: number }, []>(`SELECT ${word("a")} AS a, ${word("b")} AS b, n FROM cooc`).all();
    expect(new Map(pairs.map((r) => [[r.a, r.b].sort().join(" "), r.n]))).toEqual(ref.cooc);
    expect(ref.cooc.get("round round")).toBeGreaterThan(20); // self pairs were exercised
  });
});
