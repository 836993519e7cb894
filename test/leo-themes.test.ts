// leo spec §8.5 (without the model) and theme flow: islands, activation, stable ids, emerging/fading.
import { describe, expect, test } from "bun:test";
import { LEO } from "../src/config/leo.ts";
import { Leo } from "../src/leo/index.ts";
import { slope } from "../src/leo/themes.ts";
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
    for (let i = 0; i < times; i++) for (const topic of topics) leo.observe(topic);
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
    const active = leo.themes.activate(contentWords("tide soil orbit dough harbor"));
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

  test("strength over the last 6 h marks a theme emerging or fading", () => {
    const { leo, memory } = openLeo();
    talkAbout(leo, memory, [SEA, GARDEN]);
    leo.themes.rebuild();
    const sea = leo.themes.all().find((t) => t.words.includes("harbor"))!;
    const garden = leo.themes.all().find((t) => t.words.includes("soil"))!;
    // the garden is talked about early, the sea more and more
    const prompts = ["soil roots seeds", "soil roots tide", "roots harbor tide", "harbor tide waves"];
    const turn = (prompt: string) =>
      memory.atomically(() => {
        const reply = memory.messages.append("arianna", "…");
        leo.themes.recordTurn(leo.themes.activate(contentWords(prompt)), reply.id);
      });
    for (const prompt of prompts) {
      turn(prompt);
      time.now += HOUR;
    }
    const flow = new Map(leo.themes.flow().map((f) => [f.themeId, f]));
    expect(flow.get(sea.id)!.trend).toBe("emerging");
    expect(flow.get(garden.id)!.trend).toBe("fading");
    expect(leo.themes.get(sea.id)!.activeStreak).toBe(3);
    expect(leo.themes.get(garden.id)!.activeStreak).toBe(0);
    turn("nothing in particular"); // a turn without either theme still counts, as strength 0
    expect(leo.themes.flowOf(sea.id).slopePerHour).toBeLessThan(flow.get(sea.id)!.slopePerHour);
    time.now += 7 * HOUR; // outside the window nothing is left to follow
    expect(leo.themes.flow()).toEqual([]);
  });

  test("a burst of turns keeps the window to its last slopeWindowTurns replies, before and after a restart", () => {
    const cap = 4;
    const first = openLeo(undefined, { themes: { slopeWindowTurns: cap } });
    talkAbout(first.leo, first.memory, [SEA]);
    first.leo.themes.rebuild();
    const sea = first.leo.themes.all()[0];
    const turn = (leo: Leo, prompt: string) =>
      first.memory.atomically(() => {
        const reply = first.memory.messages.append("arianna", "…");
        leo.themes.recordTurn(leo.themes.activate(contentWords(prompt)), reply.id);
      });
    // minutes apart, all inside 6 h: the sea early, then nothing
    for (let i = 0; i < 10; i++) {
      turn(first.leo, i < 3 ? "harbor tide waves" : "nothing in particular");
      time.now += 60_000;
    }
    // only the last four replies count, and the sea is absent from all of them: no slope at all
    expect(first.leo.themes.flowOf(sea.id).slopePerHour).toBe(0);
    const uncapped = openLeo(first.dir); // the same history without the cap: the sea fades
    expect(uncapped.leo.themes.flowOf(sea.id).slopePerHour).toBeLessThan(0);
    const restarted = openLeo(first.dir, { themes: { slopeWindowTurns: cap } });
    expect(restarted.leo.themes.flowOf(sea.id).slopePerHour).toBe(0);
  });

  test("least-squares slope", () => {
    expect(slope([{ x: 0, y: 0 }, { x: 1, y: 0.5 }, { x: 2, y: 1 }])).toBeCloseTo(0.5);
    expect(slope([{ x: 1, y: 3 }])).toBe(0);
  });
});
