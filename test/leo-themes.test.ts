// docs/leo.md §8.5 (without the model) and theme flow: islands, activation, stable ids, emerging/fading per reply.
import { describe, expect, test } from "bun:test";
import { LEO } from "../src/config/leo.ts";
import { Leo } from "../src/leo/index.ts";
import { rebuildDue, slope } from "../src/leo/themes.ts";
import { contentWords } from "../src/leo/tokens.ts";
import { type Memory } from "../src/memory/index.ts";
import { leoFixture } from "./support/leo-fixture.ts";

const HOUR = 3_600_000;
const { time, clock, openLeo } = leoFixture("themes");

const SEA = "waves salt harbor sailors anchor tide lighthouse";
const GARDEN = "roots soil seeds blossoms compost sprouts watering";
const STARS = "comets orbit telescope nebula galaxies planets meteors";
const BREAD = "flour yeast dough oven crust knead loaves";

/** Say each topic's words together often enough to become hubs. */
function talkAbout(leo: Leo, memory: Memory, topics: string[], times = 4) {
  memory.atomically(() => {
    for (let i = 0; i < times; i++) for (const topic of topics) leo.field.observe(topic);
  });
}

describe("themes (§8.5)", () => {
  test("words that keep co-occurring form a theme; a prompt with them activates it", () => {
    const { leo, memory } = openLeo();
    talkAbout(leo, memory, [SEA, GARDEN]);
    leo.themes.rebuild();
    const themes = leo.themes.all();
    expect(themes.length).toBe(2);
    const sea = themes.find((t) => t.words.includes("harbor"))!;
    expect(new Set(sea.words)).toEqual(new Set(SEA.split(" ")));
    expect(sea.weights[0]).toBe(1);
    const active = leo.themes.activate(contentWords("the tide came into the harbor"));
    expect(active.map((a) => a.theme.id)).toEqual([sea.id]);
    expect(active[0].strength).toBeCloseTo(2 / 3); // tide, harbor of came, tide, harbor
  });

  test("at most three themes are active at once", () => {
    const { leo, memory } = openLeo();
    talkAbout(leo, memory, [SEA, GARDEN, STARS, BREAD]);
    leo.themes.rebuild();
    expect(leo.themes.all().length).toBe(4);
    const active = leo.themes.activate(contentWords("tide harbor waves soil roots orbit comets dough yeast"));
    expect(active.length).toBe(LEO.themes.maxActive);
    expect(active[0].theme.words).toContain("harbor"); // the theme holding most of the words leads
  });

  test("a rebuild keeps a theme's id while it lives, and dissolves it when it is gone; it all survives a restart", () => {
    const first = openLeo();
    talkAbout(first.leo, first.memory, [SEA]);
    first.leo.themes.rebuild();
    const [sea] = first.leo.themes.all();
    talkAbout(first.leo, first.memory, [`${SEA} fishermen`, GARDEN]);
    first.leo.themes.rebuild();
    expect(first.leo.themes.get(sea.id)?.words).toContain("fishermen");
    first.memory.close();
    const { leo } = openLeo(first.dir);
    expect(leo.themes.get(sea.id)?.words).toContain("fishermen");
    expect(leo.themes.all().length).toBe(2);
    for (let i = 0; i < 60; i++) leo.field.forget(); // the field forgets them
    expect(leo.themes.rebuild()).toContain(sea.id); // reported as changed
    expect(leo.themes.all()).toEqual([]);
    expect(leo.themes.wordsOf(sea.id)).toContain("fishermen"); // dissolved, not deleted
  });

  test("one shared word does not activate a theme from a longer prompt; two do", () => {
    const { leo, memory } = openLeo();
    talkAbout(leo, memory, [SEA]);
    leo.themes.rebuild();
    expect(leo.themes.activate(contentWords("the harbor cafe serves good coffee today"))).toEqual([]);
    expect(leo.themes.activate(contentWords("the harbor cafe at high tide serves coffee")).length).toBe(1);
    expect(leo.themes.activate(contentWords("harbor lights")).length).toBe(1); // a short prompt: one word is enough
  });

  test("words written only by rings, or spoken fewer than three times, seed no theme", () => {
    const { leo, memory } = openLeo();
    memory.atomically(() => {
      for (let i = 0; i < 6; i++) leo.field.observe(SEA, { spoken: false });
      leo.field.observe(GARDEN);
      leo.field.observe(GARDEN);
    });
    leo.themes.rebuild();
    expect(leo.themes.all()).toEqual([]);
  });

  test("rebuilt at turns 5, 10 and 20, then every 20", () => {
    const due = Array.from({ length: 100 }, (_, i) => i + 1).filter((t) => rebuildDue(t, LEO.themes));
    expect(due).toEqual([5, 10, 20, 40, 60, 80, 100]);
  });

  test("the strength slope over the last replies marks a theme emerging or fading, per turn", () => {
    const { leo, memory, dir } = openLeo();
    talkAbout(leo, memory, [SEA, GARDEN]);
    leo.themes.rebuild();
    const sea = leo.themes.all().find((t) => t.words.includes("harbor"))!;
    const garden = leo.themes.all().find((t) => t.words.includes("soil"))!;
    // the garden is talked about early, the sea more and more; turns seconds apart
    const prompts = ["soil roots seeds", "soil roots tide", "roots soil harbor", "harbor tide", "harbor tide waves", "harbor tide waves salt"];
    const turn = (prompt: string) =>
      memory.atomically(() => {
        const reply = memory.messages.append("arianna", "…");
        leo.themes.recordTurn(leo.themes.activate(contentWords(prompt)), reply.id);
      });
    for (const prompt of prompts) {
      turn(prompt);
      time.now += 1000;
    }
    const flow = new Map(leo.themes.flow().map((f) => [f.themeId, f]));
    expect(flow.get(sea.id)!.trend).toBe("emerging");
    expect(flow.get(garden.id)!.trend).toBe("fading");
    expect(leo.themes.activeTurns(sea.id, 10)).toBe(5); // a three-word prompt needs one shared word
    expect(leo.themes.activeTurns(garden.id, 10)).toBe(3);
    // the window survives a restart
    memory.close();
    const restarted = openLeo(dir);
    expect(new Map(restarted.leo.themes.flow().map((f) => [f.themeId, f.trend]))).toEqual(new Map([...flow].map(([id, f]) => [id, f.trend])));
  });

  test("least-squares slope", () => {
    expect(slope([{ x: 0, y: 0 }, { x: 1, y: 0.5 }, { x: 2, y: 1 }])).toBeCloseTo(0.5);
    expect(slope([{ x: 1, y: 3 }])).toBe(0);
  });
});
