// docs/leo.md §8.7 (scoring) and §8.8, with snapshots, highlights and the external vocabulary ratio.
import { describe, expect, test } from "bun:test";
import { LEO } from "../src/config/leo.ts";
import { parseChatTemplate } from "../src/config/model-profile.ts";
import { externalVocabularyRatio, highlights } from "../src/leo/highlights.ts";
import { Database } from "bun:sqlite";
import { contentWords, nextTemperature, roleMarkers, trimReply } from "../src/leo/index.ts";
import { QualityBand, readKernelRecord } from "../src/leo/kernel-record.ts";
import { assessReply, entropyQuality, type ReplyEvidence } from "../src/leo/quality.ts";
import { Snapshots } from "../src/leo/snapshots.ts";
import { leoFixture } from "./support/leo-fixture.ts";

const HOUR = 3_600_000;
const { time, clock, openLeo } = leoFixture("quality");

const Q = LEO.quality;
const T = LEO.trimming;
const S = LEO.snapshots;
const template = parseChatTemplate({
  system: "{text}\n",
  user: "User: {text}\n",
  assistant: "Arianna: {text}\n",
  generation_prefix: "Arianna:",
  stop: ["\nUser:"],
});
const markers = roleMarkers(template);

/** A reply's evidence as live turns show it: E ≈ 0.45 inside the initial band, no non-words, no stock phrases. */
const ev = (e: Partial<ReplyEvidence> = {}): ReplyEvidence => ({
  entropy: 0.45, band: [0.2, 0.6], themeWords: new Set(), nonWordShare: 0, stockShare: 0, ...e,
});

describe("quality (§8.7)", () => {
  const prompt = "what does the sea remember about us";
  const reply = "The sea keeps our footprints until the tide comes back for them.";
  test("an echo scores below a novel reply", () => {
    const echo = assessReply("what does the sea remember", prompt, ev(), Q);
    const novel = assessReply(reply, prompt, ev(), Q);
    expect(echo.quality).toBeLessThan(novel.quality);
    expect(novel.quality).toBeGreaterThanOrEqual(Q.resampleBelow);
  });

  test("quality is a product: non-words alone push a reply below the re-sampling threshold", () => {
    const good = assessReply(reply, prompt, ev(), Q).quality;
    expect(assessReply(reply, prompt, ev({ nonWordShare: 0.04 }), Q).quality).toBeLessThan(Q.resampleBelow); // one word in 25
    const garbled = assessReply(reply, prompt, ev({ nonWordShare: 0.2, entropy: 0.5 }), Q);
    expect(garbled.quality).toBeLessThan(Q.resampleBelow);
    // a good structure no longer lifts a reply outside the band above 0.45 (v1 averaged them)
    expect(assessReply(reply, prompt, ev({ entropy: 0.85 }), Q).quality).toBeLessThan(Q.resampleBelow);
  });

  test("structure: too short, looping, off-topic and stock phrases all cost", () => {
    const good = assessReply("The sea keeps our footprints until the tide returns.", prompt, ev(), Q).structural;
    expect(assessReply("Sea.", prompt, ev(), Q).structural).toBeLessThan(good);
    expect(assessReply("the the the the the sea sea sea", prompt, ev(), Q).structural).toBeLessThan(good);
    expect(assessReply("Bread rises in a warm kitchen at dawn.", prompt, ev(), Q).structural).toBeLessThan(good);
    expect(assessReply("The sea keeps our footprints until the tide returns.", prompt, ev({ stockShare: 0.5 }), Q).structural).toBeLessThan(good);
    // the active themes' words count as relevant
    expect(assessReply("Bread rises in a warm kitchen at dawn.", prompt, ev({ themeWords: new Set(["bread", "kitchen"]) }), Q).structural).toBe(1);
  });

  test("entropy quality is 1 inside the kernel's band and reaches 0 at 0.3 beyond it", () => {
    expect(entropyQuality(0.45, [0.2, 0.6], Q)).toBe(1);
    expect(entropyQuality(0.05, [0.2, 0.6], Q)).toBeCloseTo(0.5);
    expect(entropyQuality(0.9, [0.2, 0.6], Q)).toBeCloseTo(0);
    expect(entropyQuality(0.75, [0.2, 0.6], Q)).toBeCloseTo(0.5);
  });

  test("the next candidate moves away from the failure", () => {
    const band = [0.2, 0.6] as const;
    const looping = assessReply("sea sea sea sea", prompt, ev({ entropy: 0.1 }), Q);
    expect(nextTemperature(0.8, looping, band, 0.1, Q)).toBeCloseTo(1.0);
    const chaotic = assessReply("The sea hums.", prompt, ev({ entropy: 0.8 }), Q);
    expect(nextTemperature(0.8, chaotic, band, 0.8, Q)).toBeCloseTo(0.6);
    const garbled = assessReply(reply, prompt, ev({ nonWordShare: 0.2 }), Q);
    expect(nextTemperature(0.8, garbled, band, 0.45, Q)).toBeCloseTo(0.6);
  });
});

describe("where re-sampling starts (§6.2): the kernel's quality band", () => {
  const W = LEO.entropyBand;
  const filled = (qualities: number[]) => {
    const band = new QualityBand(W, Q, LEO.snapshots);
    for (const q of qualities) band.record(q);
    return band;
  };
  // first candidates as the 1.6M kernel writes them: a clean off-subject reply 0.8, one flagged word 0.8 × 0.4
  const fluent = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 ? 0.8 : 0.32));

  test("a young kernel re-samples below the fixed threshold", () => {
    expect(filled(fluent(W.minReplies - 1)).resampleBelow()).toBe(Q.resampleBelow);
  });

  test("once it has its replies, only its own worst are re-sampled: below its quantile, never above the fixed threshold", () => {
    const band = filled(fluent(W.minReplies));
    expect(band.resampleBelow()).toBeCloseTo(0.32); // its 30th percentile: a 0.32 reply is ordinary for it, a 0.16 one is not
    expect(filled(Array.from({ length: W.minReplies }, () => 0.8)).resampleBelow()).toBe(Q.resampleBelow);
  });

  test("the window is the entropy band's: older replies fall out", () => {
    const band = filled([...Array.from({ length: W.replies }, () => 0.1), ...Array.from({ length: W.replies }, () => 0.8)]);
    expect(band.resampleBelow()).toBe(Q.resampleBelow);
  });

  test("it is read back per kernel from the per-turn record: first candidates, version 2 rows only", () => {
    const db = new Database(":memory:");
    db.run("CREATE TABLE messages (id INTEGER PRIMARY KEY, text TEXT)");
    db.run("CREATE TABLE metrics (message_id INTEGER, entropy REAL, leo_version INTEGER, candidate_scores TEXT, model_sha256 TEXT)");
    const row = (id: number, sha: string, version: number, scores: number[]) => {
      db.run("INSERT INTO messages VALUES (?, ?)", [id, `reply ${id}`]);
      db.run("INSERT INTO metrics VALUES (?, 0.4, ?, ?, ?)", [id, version, JSON.stringify(scores.map((quality) => ({ quality, temperature: 0.8 }))), sha]);
    };
    row(1, "a", 1, [0.6]);
    row(2, "a", 2, [0.32, 0.8]);
    row(3, "b", 2, [0.9]);
    row(4, "a", 2, [0.16, 0.3, 0.5]);
    const record = readKernelRecord(db, "a", 200);
    expect(record.firstQualities).toEqual([0.32, 0.16]);
    expect(record.texts).toEqual(["reply 1", "reply 2", "reply 4"]);
    db.close();
  });
});

describe("where snapshots begin (§6.4): the fixed quality, or the kernel's own best", () => {
  const W = LEO.entropyBand;
  const filled = (qualities: number[]) => {
    const band = new QualityBand(W, Q, S);
    for (const q of qualities) band.record(q);
    return band;
  };
  const repeat = (pattern: number[], n: number) => Array.from({ length: n }, (_, i) => pattern[i % pattern.length]);
  // first candidates in the proportions of the calibration runs: 1.6M — 0.80 clean but off the subject (61 %),
  // one flagged word 0.32, garbled 0.16, out of its entropy band 0.73; 5.9M — the same 0.80, and 1.00 on over a tenth
  const small = [0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.32, 0.32, 0.16, 0.73];
  const larger = [1, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 1, 0.75, 0.32];

  test("a young kernel needs the fixed quality", () => {
    expect(filled(repeat(small, W.minReplies - 1)).snapshotFrom()).toBe(S.minQuality);
  });

  test("a kernel that never reaches it keeps its own best: its quantile, which for the 1.6M kernel is its clean 0.80", () => {
    expect(filled(repeat(small, W.minReplies)).snapshotFrom()).toBeCloseTo(0.8);
    expect(filled(repeat(small, W.replies)).snapshotFrom()).toBeCloseTo(0.8);
  });

  test("a kernel that reaches it often enough keeps the fixed quality; a poor one never goes below the floor", () => {
    expect(filled(repeat(larger, W.replies)).snapshotFrom()).toBe(S.minQuality);
    expect(filled(repeat([0.32, 0.16, 0.5, 0.4], W.replies)).snapshotFrom()).toBe(S.floor);
  });

  test("through the turns: the 1.6M kernel's on-subject 0.80 reply is kept once it has its replies, an off-subject one never", () => {
    const { leo, memory } = openLeo();
    const turn = (prompt: string, reply: string, quality: number) => {
      const prep = leo.prepare(prompt);
      leo.observe(memory.atomically(() => memory.messages.append("user", prompt)));
      const outcome = memory.atomically(() => {
        const message = memory.messages.append("arianna", reply);
        return leo.commitTurn(prep, { messageId: message.id, text: reply, entropy: 0.45, quality, firstQuality: quality, nonWordShare: 0 });
      });
      leo.settle();
      return outcome.snapshot;
    };
    const onSubject = () => turn("the tomato seedlings need more sun", "The tomato is a small sun in the morning.", 0.8);
    const offSubject = () => turn("we studied a chess endgame with a knight", "Your heads is a big city, but a long place.", 0.8);
    expect(onSubject()).toBeUndefined(); // young: 0.85 needed
    for (const q of repeat(small, W.minReplies)) turn("I cooked pasta with too much garlic", "You are all right, it is late.", q);
    expect(offSubject()).toBeUndefined();
    expect(onSubject()?.text).toBe("The tomato is a small sun in the morning.");
  });
});

describe("trimming (§8.8)", () => {
  const trim = (raw: string, prompt = "hello") => trimReply(raw, prompt, markers, T);
  test("runaway punctuation collapses to three", () => {
    expect(trim("right????")).toBe("right???");
    expect(trim("Wait!!!!!! Really.....")).toBe("Wait!!! Really...");
  });
  test("a reply without final punctuation ends with a period, or on its last sentence past the first third", () => {
    expect(trim("I hear you")).toBe("I hear you.");
    expect(trim("I hear you, the river")).toBe("I hear you, the river.");
    expect(trim("I hear you. The river keeps moving and we go wi")).toBe("I hear you. The river keeps moving and we go wi.");
    expect(trim("I hear you, and the river hears you too. The river keeps mov")).toBe("I hear you, and the river hears you too.");
    expect(trim("Yes. The river keeps moving and we go with it somewhere")).toBe(
      "Yes. The river keeps moving and we go with it somewhere.",
    );
  });
  test("leaked role markers, misspelt ones included, never reach the user", () => {
    expect(trim("Arianna: I am here.\nUser: and then me")).toBe("I am here.");
    expect(trim("I am here.\nWrianna: and here again.")).toBe("I am here. and here again.");
    expect(trim("I am here.\nArianaa: still.")).toBe("I am here. still.");
    expect(trim("I am here.\nUsr: what about me")).toBe("I am here.");
    expect(trim("I am here.\nSure: the sea.")).toBe("I am here. Sure: the sea."); // an ordinary word stays
    expect(trim(" I am here. Arianna: still here. User: who")).toBe("I am here. still here.");
    expect(trim("<s> quiet </s>")).toBe("quiet.");
  });
  test("an echoed opening and repeated sentences are dropped", () => {
    expect(trim("tell me about the old lighthouse, it stands alone.", "tell me about the old lighthouse please")).toBe(
      "it stands alone.",
    );
    expect(trim("I stay. I stay. I listen.")).toBe("I stay. I listen.");
  });
});

describe("snapshots, highlights, external vocabulary", () => {
  /** the bar of a kernel that reaches the fixed quality, for a reply to `prompt` */
  const fixedBar = (prompt: string) => ({ from: S.minQuality, subject: contentWords(prompt) });

  test("good replies on their subject become snapshots; recall favours resonance and spreads use", () => {
    const { leo, memory } = openLeo();
    memory.atomically(() => {
      const bar = fixedBar("a reply about the lighthouse and the bread");
      expect(leo.snapshots.consider(null, "a weak reply", { arousal: 0.1, quality: 0.4, nonWordShare: 0 }, [], bar)).toBeUndefined();
      expect(leo.snapshots.consider(null, "a photood reply", { arousal: 0.1, quality: 0.9, nonWordShare: 0.3 }, [], bar)).toBeUndefined();
      leo.snapshots.consider(null, "The lighthouse keeps its light for ships it never meets.", { arousal: 0.2, quality: 0.9, nonWordShare: 0 }, [1], bar);
      leo.snapshots.consider(null, "Bread rises slowly in a warm kitchen.", { arousal: 0.2, quality: 0.9, nonWordShare: 0 }, [], bar);
    });
    time.now += 48 * HOUR;
    const recalled = leo.snapshots.recall("why does the lighthouse keep its light", 0.2, new Set([1]));
    expect(recalled.map((r) => r.snapshot.text)).toEqual(["The lighthouse keeps its light for ships it never meets."]); // only what shares a word or theme
    expect(recalled.every((r) => r.score > LEO.snapshots.recallMinScore)).toBe(true);
    const before = recalled[0].score;
    memory.atomically(() => leo.snapshots.bumpUses([recalled[0].snapshot.id]));
    expect(leo.snapshots.recall("why does the lighthouse keep its light", 0.2, new Set([1]))[0].score).toBeLessThan(before);
  });

  test("a snapshot shares a content word with its prompt or an active theme's words; at the bar, nothing else is kept", () => {
    const { leo, memory } = openLeo();
    // replies as the 1.6M kernel writes them (calibration run), at its own bar of 0.80
    const reply = { arousal: 0.03, quality: 0.8, nonWordShare: 0 };
    const bar = (prompt: string, themeWords: string[] = []) => ({ from: 0.8, subject: new Set([...contentWords(prompt), ...themeWords]) });
    const garden = "I spent the afternoon in my garden planting tomatoes";
    memory.atomically(() => {
      // off the subject: the chess prompt's reply talks of a daughter
      expect(leo.snapshots.consider(null, "Your daughter is very loud tonight, but she has a good drink.", reply, [], bar("my brother always opens chess games with the same move"))).toBeUndefined();
      // a word of the prompt
      expect(leo.snapshots.consider(null, "The garden is a quiet place, and I am glad to hear it.", reply, [], bar(garden))).toBeDefined();
      // a word of an active theme, not of the prompt
      expect(leo.snapshots.consider(null, "The soil keeps the rain for a long time.", reply, [2], bar("what a day", ["garden", "soil", "compost"]))).toBeDefined();
      // under its bar, or with a non-word, even on the subject
      expect(leo.snapshots.consider(null, "The garden is warm.", { ...reply, quality: 0.79 }, [], bar(garden))).toBeUndefined();
      expect(leo.snapshots.consider(null, "The garden is bravelffast.", { ...reply, nonWordShare: 0.25 }, [], bar(garden))).toBeUndefined();
    });
    expect(leo.snapshots.all().map((s) => s.themes)).toEqual([[], [2]]);
  });

  test("recall gives the best eligible snapshots, best first and the newer of equals first, at most recallMax", () => {
    const { memory } = openLeo();
    const all = new Snapshots(memory.db, { ...S, recallMax: 100 }, clock);
    const few = new Snapshots(memory.db, S, clock);
    const replies = [
      "The harbor lights are small and warm.",
      "Bread rises slowly in a warm kitchen.", // shares no word with the prompt and no theme
      "My brother plays chess at the harbor.",
      "Quiet water, a quiet boat, the harbor asleep.",
      "The tide keeps the harbor quiet tonight.", // the best, found last
      "The tide keeps the harbor quiet tonight.", // the same, written with it: an equal score
    ];
    memory.atomically(() => {
      for (const [i, text] of replies.entries()) {
        if (i !== 5) time.now += HOUR;
        all.consider(null, text, { arousal: i >= 4 ? 0.1 : 0.2 * i, quality: 0.9, nonWordShare: 0 }, i === 1 ? [] : [7], { from: 0.85, subject: contentWords(text) });
      }
    });
    few.reload();
    const prompt = "is the harbor quiet when the tide comes in";
    const ranked = all.recall(prompt, 0.1, new Set());
    expect(ranked.map((r) => r.snapshot.text)).not.toContain("Bread rises slowly in a warm kitchen.");
    expect(ranked).toHaveLength(5);
    for (let i = 1; i < ranked.length; i++) {
      const [a, b] = [ranked[i - 1], ranked[i]];
      expect(a.score > b.score || (a.score === b.score && a.snapshot.id > b.snapshot.id)).toBe(true);
    }
    // the two equal ones lead (most words shared, nearest arousal), the newer first
    expect(ranked[0].score).toBe(ranked[1].score);
    expect(ranked.slice(0, 2).map((r) => r.snapshot.id)).toEqual(all.all().filter((x) => x.text === replies[5]).map((x) => x.id).reverse());
    expect(few.recall(prompt, 0.1, new Set())).toEqual(ranked.slice(0, S.recallMax));
    // a shared active theme makes the kitchen eligible too
    expect(all.recall(prompt, 0.1, new Set([7])).map((r) => r.snapshot.text)).toHaveLength(5);
    expect(all.recall("a warm kitchen", 0.1, new Set()).map((r) => r.snapshot.text)).toEqual([replies[1], replies[0]]); // "warm"
  });

  test("past the cap the least used, then oldest, snapshots go", () => {
    const { memory } = openLeo();
    const config = { ...LEO.snapshots, cap: 10, evict: 3 };
    const small = new Snapshots(memory.db, config, clock);
    memory.atomically(() => {
      const good = { arousal: 0, quality: 0.9, nonWordShare: 0 };
      const bar = fixedBar("tell me a reply");
      for (let i = 0; i < 10; i++) small.consider(null, `reply number ${i}`, good, [], bar);
      small.bumpUses([small.all()[0].id]); // the oldest is loved: it stays
      small.consider(null, "reply number 10", good, [], bar);
    });
    expect(small.all().map((s) => s.text)).toEqual(["reply number 0", ...[4, 5, 6, 7, 8, 9, 10].map((i) => `reply number ${i}`)]);
  });

  test("highlights mark wounded and theme words by offset", () => {
    const reply = "The River remembers the harbor.";
    expect(highlights(reply, new Set(["river"]), new Set(["harbor", "river"]))).toEqual([
      [4, 9, "wound"],
      [24, 30, "theme"],
    ]);
  });

  test("external vocabulary ratio: the share of the reply's content words borrowed from the user", () => {
    const C = LEO.externalVocabulary;
    // content words of 3+ letters: see, stars, moon; borrowed: stars ("the" no longer counts)
    expect(externalVocabularyRatio("I see the stars and the moon", "look at the stars", C)).toBeCloseTo(1 / 3);
    expect(externalVocabularyRatio("ok", "ok", C)).toBe(0);
  });
});
