/**
 * memory-probe.test.ts — the quick form of `bun run probe:memory` on the
 * bundled kernel (models/default): five facts told among ordinary talk, asked
 * about three turns later. The context step must put each fact's message in
 * the question's prompt, and with leo's recall bias at least 3 of 5 replies
 * must contain the fact, for the probe's facts and for the held-out five
 * (seed 1: 5/5 and 5/5 on the bundled 1.6 M kernel, 4/5 and 4/5 on the 5.9 M one; 0/5 without the bias).
 */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadRuntimeConfig } from "../src/config/runtime.ts";
import { Engine } from "../src/engine/index.ts";
import { openMemory } from "../src/memory/index.ts";
import { FACTS, HELDOUT_FACTS, runMemoryProbe } from "../tools/memory-probe.ts";

const BUNDLED = join(import.meta.dir, "..", "models", "default");

test("memory: every question's prompt holds the message that told the fact, and 3 of 5 replies say it", async () => {
  const r = await runMemoryProbe({ modelDir: BUNDLED, gap: 3, threads: 1 });
  console.log(`memory probe (quick, gap 3, ${r.model}): ${r.recalled}/${FACTS.length} replies contain the fact`);
  expect(r.turns).toBe(FACTS.length * 3 + 3);
  expect(r.answers.map((a) => a.inContext)).toEqual(FACTS.map(() => true));
  expect(r.recalled).toBeGreaterThanOrEqual(3);
}, 120_000);

test("memory: five other facts, never used to tune the recall bias, come back as often", async () => {
  const r = await runMemoryProbe({ modelDir: BUNDLED, facts: HELDOUT_FACTS, gap: 3, threads: 1 });
  console.log(`memory probe (quick, held-out facts, ${r.model}): ${r.recalled}/${HELDOUT_FACTS.length} replies contain the fact`);
  expect(r.answers.map((a) => a.inContext)).toEqual(HELDOUT_FACTS.map(() => true));
  expect(r.recalled).toBeGreaterThanOrEqual(3);
}, 120_000);

test("memory: full-text recall finds what the user said, however many of her replies repeat the word", () => {
  const home = mkdtempSync(join(tmpdir(), "ia-recall-"));
  const memory = openMemory(join(home, "resonance.sqlite3"), { episodeIdleGapMs: 60_000 });
  try {
    const told = memory.messages.append("user", "My cat is called Basil.");
    for (let i = 0; i < 20; i++) memory.messages.append("arianna", `A cat, a cat, a small cat ${i}.`);
    const cat = [{ word: "cat", weight: 1 }];
    // only the user's messages are indexed: her twenty newer replies cannot push the line out of the per-term window
    expect(memory.messages.search(cat, 4, undefined, { perTerm: 1 }).map((h) => h.message.id)).toEqual([told.id]);
  } finally {
    memory.close();
    rmSync(home, { recursive: true, force: true });
  }
});

test("memory: a fact told long ago comes back as a hit, three exchanges before the question", async () => {
  const home = mkdtempSync(join(tmpdir(), "ia-recall-"));
  const engine = await Engine.open({ threads: 1 });
  try {
    await engine.load(BUNDLED);
    const { openSession } = await import("../src/orchestrator/index.ts");
    const session = await openSession({ model: engine, modelDir: BUNDLED, config: loadRuntimeConfig({ ARIANNA_HOME: home, ARIANNA_SEED: "3" }), overthink: false });
    const told = session.memory.atomically(() => {
      const m = session.memory.messages.append("user", "My cat is called Basil.");
      session.memory.messages.append("arianna", "Basil is a good name for a cat.");
      for (let i = 0; i < 30; i++) session.memory.messages.append(i % 2 ? "arianna" : "user", `the weather is grey ${i}`);
      return m;
    });
    const r = await session.turn("What is my cat called?");
    expect(r.context.recent).not.toContain(told.id); // too old for the recent turns ...
    expect(r.context.memory).toEqual([told.id]); // ... so recalled by its words (with her reply: one piece)
    expect(r.recall).toEqual(["Basil"]); // the recall bias points her reply at what it told
    // and only three exchanges stand between it and the question, as in the memory dialogues
    expect(r.context.recent.length).toBe(6);
    await session.close();
  } finally {
    await engine.close();
    rmSync(home, { recursive: true, force: true });
  }
}, 60_000);
