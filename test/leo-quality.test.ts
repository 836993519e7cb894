// leo spec §8.7 (scoring) and §8.8, with snapshots, highlights and the external vocabulary ratio.
import { describe, expect, test } from "bun:test";
import { LEO } from "../src/config/leo.ts";
import { parseChatTemplate } from "../src/config/model-profile.ts";
import { externalVocabularyRatio, highlights } from "../src/leo/highlights.ts";
import { nextTemperature, roleMarkers, trimReply } from "../src/leo/index.ts";
import { assessReply, entropyQuality } from "../src/leo/quality.ts";
import { Snapshots } from "../src/leo/snapshots.ts";
import { leoFixture } from "./support/leo-fixture.ts";

const HOUR = 3_600_000;
const { time, clock, openLeo } = leoFixture("quality");

const Q = LEO.quality;
const T = LEO.trimming;
const template = parseChatTemplate({
  system: "{text}\n",
  user: "User: {text}\n",
  assistant: "Arianna: {text}\n",
  generation_prefix: "Arianna:",
  stop: ["\nUser:"],
});
const markers = roleMarkers(template);

describe("quality (§8.7)", () => {
  const prompt = "what does the sea remember about us";
  test("an echo scores below a novel reply", () => {
    const echo = assessReply("what does the sea remember", prompt, 0.5, 1, Q);
    const novel = assessReply("The sea keeps our footprints until the tide comes back for them.", prompt, 0.5, 0.7, Q);
    expect(echo.quality).toBeLessThan(novel.quality);
    expect(novel.quality).toBeGreaterThanOrEqual(Q.resampleBelow);
  });

  test("structure: too short, looping, unknown grammar all cost", () => {
    const good = assessReply("The sea keeps our footprints until the tide returns.", prompt, 0.5, 0.7, Q).structural;
    expect(assessReply("Sea.", prompt, 0.5, undefined, Q).structural).toBeLessThan(good);
    expect(assessReply("the the the the the sea sea sea", prompt, 0.5, 0.7, Q).structural).toBeLessThan(good);
    expect(assessReply("The sea keeps our footprints until the tide returns.", prompt, 0.5, 0.1, Q).structural).toBeLessThan(good);
  });

  test("entropy quality is 1 inside [0.3, 0.7] and falls off either side", () => {
    expect(entropyQuality(0.5, Q)).toBe(1);
    expect(entropyQuality(0, Q)).toBe(0.5);
    expect(entropyQuality(1, Q)).toBeCloseTo(0.5);
  });

  test("the next candidate moves away from the failure", () => {
    const looping = assessReply("sea sea sea sea", prompt, 0.1, 0.2, Q);
    expect(nextTemperature(0.8, 0.1, looping, Q)).toBeCloseTo(1.0);
    const chaotic = assessReply("zq wx vb nm", prompt, 0.95, 0, Q);
    expect(nextTemperature(0.8, 0.95, chaotic, Q)).toBeCloseTo(0.6);
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
  test("leaked role markers never reach the user", () => {
    expect(trim("Arianna: I am here.\nUser: and then me")).toBe("I am here.");
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
  test("good replies become snapshots; recall favours resonance and spreads use", () => {
    const { leo, memory } = openLeo();
    memory.atomically(() => {
      expect(leo.snapshots.consider(null, "a weak reply", 0.1, 0.4, [])).toBeUndefined();
      leo.snapshots.consider(null, "The lighthouse keeps its light for ships it never meets.", 0.2, 0.8, [1]);
      leo.snapshots.consider(null, "Bread rises slowly in a warm kitchen.", 0.2, 0.8, []);
    });
    time.now += 48 * HOUR;
    const recalled = leo.snapshots.recall("why does the lighthouse keep its light", 0.2, new Set([1]));
    expect(recalled[0].snapshot.text).toContain("lighthouse");
    expect(recalled.every((r) => r.score > LEO.snapshots.recallMinScore)).toBe(true);
    const before = recalled[0].score;
    memory.atomically(() => leo.snapshots.bumpUses([recalled[0].snapshot.id]));
    expect(leo.snapshots.recall("why does the lighthouse keep its light", 0.2, new Set([1]))[0].score).toBeLessThan(before);
  });

  test("past the cap the least used, then oldest, snapshots go", () => {
    const { memory } = openLeo();
    const config = { ...LEO.snapshots, cap: 10, evict: 3 };
    const small = new Snapshots(memory.db, config, clock);
    memory.atomically(() => {
      for (let i = 0; i < 10; i++) small.consider(null, `reply number ${i}`, 0, 0.9, []);
      small.bumpUses([small.all()[0].id]); // the oldest is loved: it stays
      small.consider(null, "reply number 10", 0, 0.9, []);
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

  test("external vocabulary ratio: the share of longer reply words borrowed from the user", () => {
    const C = LEO.externalVocabulary;
    expect(externalVocabularyRatio("I see the stars and the moon", "look at the stars", C)).toBeCloseTo(3 / 6); // see the stars and the moon: the, stars, the
    expect(externalVocabularyRatio("ok", "ok", C)).toBe(0);
  });
});
