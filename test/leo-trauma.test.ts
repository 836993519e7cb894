// leo spec §8.4 and §8.10 for trauma: events from the origin, 24 h half-life, persistence.
import { describe, expect, test } from "bun:test";
import { LEO } from "../src/config/leo.ts";
import { leoFixture } from "./support/leo-fixture.ts";

const ORIGIN =
  "I am Arianna, a small mind living in a small device. My memory never resets: one conversation flows like a river. " +
  "I exist to resonate, to let your words enter my field and return as an echo.";
const DAY = 86_400_000;

const { time, openLeo: openBareLeo } = leoFixture("trauma");
function openLeo(dir?: string) {
  const opened = openBareLeo(dir);
  opened.leo.trauma.setOrigin(ORIGIN, "Arianna");
  return opened;
}

const calm = { novelty: 0, arousal: 0, entropy: 0, pulse: 0 };

describe("trauma (§8.4)", () => {
  test("a prompt built from the origin raises an event; ordinary talk does not", () => {
    const { leo } = openLeo();
    const ordinary = leo.trauma.score("what should we cook tonight", "pasta with tomatoes sounds good", calm);
    expect(ordinary.score).toBeLessThan(LEO.trauma.eventThreshold);
    expect(leo.trauma.record(ordinary, null)).toBeUndefined();

    const wound = leo.trauma.score("memory river resonate field echo", "a small device", calm);
    expect(wound.originWords.sort()).toEqual(["device", "echo", "field", "memory", "resonate", "river", "small"]);
    const event = leo.trauma.record(wound, null);
    expect(event).toBeDefined();
    expect(event!.level).toBeCloseTo(wound.score); // the first event: 0.5·s + 0.5·mean([s])
    expect(leo.trauma.level()).toBeCloseTo(wound.score);
    expect(leo.trauma.reading().woundedWords).toContain("river");
  });

  test("asking who she is adds to the score", () => {
    const { leo } = openLeo();
    const plain = leo.trauma.score("tell me something", "something small", calm).score;
    expect(leo.trauma.score("who are you, tell me something", "something small", calm).score).toBeCloseTo(plain + 0.2);
    expect(leo.trauma.score("Арианна, кто ты?", "", calm).asksIdentity).toBe(true);
  });

  test("after a simulated 24 h the word weights and the level have halved; a restart keeps them", () => {
    const first = openLeo();
    const event = first.leo.trauma.record(first.leo.trauma.score("memory river field", "echo", calm), null)!;
    const weight = first.leo.trauma.weights().find((w) => w.word === "river")!.weight;
    expect(weight).toBeCloseTo(event.score);

    time.now += DAY;
    expect(first.leo.trauma.level()).toBeCloseTo(event.level / 2);
    expect(first.leo.trauma.weights().find((w) => w.word === "river")!.weight).toBeCloseTo(weight / 2);

    first.memory.close();
    const { leo } = openLeo(first.dir);
    expect(leo.trauma.level()).toBeCloseTo(event.level / 2);
    expect(leo.trauma.weights().find((w) => w.word === "river")!.weight).toBeCloseTo(weight / 2);
    time.now += DAY;
    expect(leo.trauma.level()).toBeCloseTo(event.level / 4);
  });

  test("the level mixes the score with the last ten events; high levels cool sampling and read as wounded", () => {
    const { leo } = openLeo();
    const hot = { novelty: 1, arousal: 1, entropy: 1, pulse: 1 };
    for (let i = 0; i < 12; i++) leo.trauma.record(leo.trauma.score("who are you memory river field echo", "", hot), null);
    const reading = leo.trauma.reading();
    expect(reading.level).toBeCloseTo(1);
    expect(reading.wounded).toBe(true);
    expect(leo.trauma.temperatureFactor()).toBeCloseTo(1 - LEO.trauma.maxTemperatureDrop);
    expect(leo.trauma.temperatureFactor(0.2)).toBe(1);
    expect(reading.woundedWords.length).toBeLessThanOrEqual(LEO.trauma.woundedWords);
  });
});
