/**
 * one-sitting-day.ts — a day of talk for measuring the night school: N user
 * messages (default 60) in one sitting, answered by the real living session
 * (engine, memory, leo) in ARIANNA_HOME. The user tells about herself (Mira,
 * a violin teacher with a cat called Basil and a tomato garden) among
 * ordinary talk. Then run trainer/nightly.py --db ARIANNA_HOME/resonance.sqlite3.
 *
 *   ARIANNA_HOME=/tmp/day bun tools/one-sitting-day.ts [--turns 60] [--model DIR]
 */
import { loadRuntimeConfig } from "../src/config/runtime.ts";
import { openLiveSession } from "../src/orchestrator/index.ts";
import { TALK } from "./memory-probe.ts";

const ABOUT = [
  "My name is Mira.",
  "My cat is called Basil.",
  "I grow tomatoes in my garden.",
  "I teach the violin to children.",
  "On Saturday I am going to Lisbon.",
  "Basil sleeps on the windowsill all afternoon.",
  "The tomatoes are getting red at last.",
  "Today I had three violin lessons.",
  "Mira is a short name, my grandmother chose it.",
  "I will take the train to Lisbon early on Saturday.",
];

const args = process.argv.slice(2);
const opt = (name: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined);
const turns = Number(opt("turns") ?? 60);
const live = await openLiveSession({ config: loadRuntimeConfig(), modelDir: opt("model"), overthink: false, threads: 1 });
try {
  let quality = 0;
  for (let i = 0; i < turns; i++) {
    const text = i % 2 === 0 ? ABOUT[(i / 2) % ABOUT.length] : TALK[((i - 1) / 2) % TALK.length];
    const r = await live.session.turn(text, { seed: 1000 + i });
    quality += r.quality;
  }
  console.log(`${turns} exchanges in ${live.session.memory.db.filename}; mean quality ${(quality / turns).toFixed(3)}`);
} finally {
  await live.close();
}
