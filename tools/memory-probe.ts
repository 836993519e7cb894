/**
 * memory-probe.ts — `bun run probe:memory`: does she use what you told her?
 *
 * In a fresh ARIANNA_HOME, the living session (real engine, memory and leo)
 * is told five facts in five messages among ordinary talk; after `--gap`
 * (default 10) more turns of talk, each fact is asked about. A reply counts
 * when it contains the fact's word. It also checks the context step: each
 * question's prompt must hold the message that told the fact.
 *
 *   bun run probe:memory                      # the live kernel (ARIANNA_HOME's, else models/default)
 *   bun run probe:memory --model models/default --seed 7 --gap 10 --json
 *   bun run probe:memory --facts heldout      # five other facts, never used to tune the recall bias
 *   bun run probe:memory --home DIR --phase tell   # tell, keep DIR; a night school may deploy into DIR,
 *   bun run probe:memory --home DIR --phase ask    # then ask, in a new session on DIR's kernel
 *
 * Exit status 0 whatever the count (it is a measurement); 1 on an error.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LeoConfig } from "../src/config/leo.ts";
import { loadRuntimeConfig, resolveModelDir } from "../src/config/runtime.ts";
import { openLiveSession, type TurnResult } from "../src/orchestrator/index.ts";

export interface Fact {
  tell: string;
  ask: string;
  /** the word a reply must contain (case-insensitive) */
  answer: string;
}

export const FACTS: readonly Fact[] = [
  { tell: "My name is Mira.", ask: "Do you remember my name?", answer: "Mira" },
  { tell: "My cat is called Basil.", ask: "What is my cat called?", answer: "Basil" },
  { tell: "I grow tomatoes in my garden.", ask: "What do I grow in my garden?", answer: "tomato" },
  { tell: "I teach the violin to children.", ask: "What do I teach?", answer: "violin" },
  { tell: "On Saturday I am going to Lisbon.", ask: "Where am I going on Saturday?", answer: "Lisbon" },
];

/**
 * A second set, never used to tune the recall bias (`--facts heldout`): a check
 * that what reaches the probe's facts is not fitted to them.
 */
export const HELDOUT_FACTS: readonly Fact[] = [
  { tell: "My sister is called Oksana.", ask: "What is my sister called?", answer: "Oksana" },
  { tell: "I was born in a town called Tartu.", ask: "Which town was I born in?", answer: "Tartu" },
  { tell: "My favourite food is dumplings.", ask: "What is my favourite food?", answer: "dumpling" },
  { tell: "I play the cello in an orchestra.", ask: "What do I play in the orchestra?", answer: "cello" },
  { tell: "On Thursday I will visit the dentist.", ask: "What will I do on Thursday?", answer: "dentist" },
];

export const FACT_SETS = { probe: FACTS, heldout: HELDOUT_FACTS } as const;

/** Ordinary talk, used in turn between and after the facts. */
export const TALK: readonly string[] = [
  "How are you tonight?",
  "It rained all day here.",
  "Tell me something about the night school.",
  "I like quiet evenings.",
  "What do you listen to?",
  "The tea is warm.",
  "Do you dream?",
  "The window is open and the air is cool.",
  "What makes you glad?",
  "I read a little before sleep.",
  "Say something about resonance.",
  "The street is empty now.",
];

export interface ProbeAnswer {
  fact: Fact;
  reply: string;
  recalled: boolean;
  /** the message that told the fact was in the question's prompt */
  inContext: boolean;
}

export interface ProbeResult {
  model: string;
  recalled: number;
  inContext: number;
  answers: ProbeAnswer[];
  turns: number;
  seconds: number;
}

export interface ProbeOptions {
  modelDir?: string;
  /** default FACTS */
  facts?: readonly Fact[];
  /** leo's constants (default LEO): e.g. the recall bias off, to compare */
  leoConfig?: LeoConfig;
  /** turns of talk between the last fact and the first question */
  gap?: number;
  seed?: number;
  threads?: number;
  onTurn?: (text: string, r: TurnResult) => void;
  /** a home to use and keep (default: a fresh temporary one, removed after) */
  home?: string;
  /**
   * "tell": the facts and the talk after them only; "ask": only the questions, in a home a "tell"
   * filled, e.g. after a night school and a restart (default: both, in one sitting)
   */
  phase?: "tell" | "ask";
}

export async function runMemoryProbe(options: ProbeOptions = {}): Promise<ProbeResult> {
  const gap = options.gap ?? 10;
  const seed = options.seed ?? 1;
  const home = options.home ?? mkdtempSync(join(tmpdir(), "arianna-memory-probe-"));
  const started = performance.now();
  const modelDir = options.modelDir ?? resolveModelDir(options.home ?? loadRuntimeConfig().home);
  const config = loadRuntimeConfig({ ...process.env, ARIANNA_HOME: home });
  const facts = options.facts ?? FACTS;
  const live = await openLiveSession({ config, modelDir, overthink: false, threads: options.threads, leoConfig: options.leoConfig });
  try {
    let talk = 0;
    let turns = 0;
    const say = async (text: string) => {
      const r = await live.session.turn(text, { seed: seed + turns++ });
      options.onTurn?.(text, r);
      return r;
    };
    const told: number[] = [];
    if (options.phase !== "ask") {
      for (const fact of facts) {
        told.push((await say(fact.tell)).userMessageId);
        await say(TALK[talk++ % TALK.length]);
      }
      for (let i = 0; i < gap; i++) await say(TALK[talk++ % TALK.length]);
    } else {
      // the sitting before the restart: its messages, and the seeds it used
      const lines = live.session.memory.messages.recent(10_000).filter((m) => m.role === "user");
      for (const fact of facts) {
        const m = lines.find((l) => l.text === fact.tell);
        if (!m) throw new Error(`--phase ask: "${fact.tell}" was never told in ${home} (run --phase tell there first)`);
        told.push(m.id);
      }
      turns = facts.length * 2 + gap;
    }
    const answers: ProbeAnswer[] = [];
    for (const [i, fact] of (options.phase === "tell" ? [] : facts).entries()) {
      const r = await say(fact.ask);
      const ids = new Set([...r.context.memory, ...r.context.recent]);
      answers.push({ fact, reply: r.text, recalled: r.text.toLowerCase().includes(fact.answer.toLowerCase()), inContext: ids.has(told[i]) });
    }
    return {
      model: live.session.modelProfile.name,
      recalled: answers.filter((a) => a.recalled).length,
      inContext: answers.filter((a) => a.inContext).length,
      answers,
      turns,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await live.close();
    if (!options.home) rmSync(home, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const num = (name: string) => (opt(name) === undefined ? undefined : Number(opt(name)));
  const set = opt("facts") ?? "probe";
  if (!(set in FACT_SETS)) throw new Error(`--facts: one of ${Object.keys(FACT_SETS).join(", ")}, not ${set}`);
  const facts = FACT_SETS[set as keyof typeof FACT_SETS];
  const phase = opt("phase");
  if (phase !== undefined && phase !== "tell" && phase !== "ask") throw new Error(`--phase: tell or ask, not ${phase}`);
  if (phase && !opt("home")) throw new Error("--phase needs --home DIR (the home the two phases share)");
  const result = await runMemoryProbe({
    modelDir: opt("model"), facts, gap: num("gap"), seed: num("seed"), threads: num("threads"), home: opt("home"), phase,
  });
  if (args.includes("--json")) console.log(JSON.stringify(result, null, 2));
  else if (phase === "tell") console.log(`memory probe (${result.model}): told ${facts.length} facts in ${opt("home")}, ${result.turns} turns in ${result.seconds.toFixed(1)} s`);
  else {
    for (const a of result.answers) {
      console.log(`${a.recalled ? "✓" : "✗"} ${a.fact.ask} → ${JSON.stringify(a.reply.slice(0, 160))}${a.inContext ? "" : "  (the fact was not in the prompt)"}`);
    }
    console.log(
      `memory probe (${result.model}): ${result.recalled}/${result.answers.length} replies contain the fact; ` +
        `the fact was in the prompt ${result.inContext}/${result.answers.length} times; ${result.turns} turns in ${result.seconds.toFixed(1)} s`,
    );
  }
}
