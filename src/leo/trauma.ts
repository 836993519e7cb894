/**
 * trauma.ts — how strongly the conversation pulls Arianna back to her origin
 * (leo spec §3). Word weights and the level halve every 24 h of wall time;
 * all of it lives in SQLite so a restart forgets nothing.
 */
import type { Database } from "bun:sqlite";
import type { Clock } from "../config/clock.ts";
import type { LeoConfig } from "../config/leo.ts";
import { IDENTITY_PHRASES } from "./lexicon.ts";
import type { Presence } from "./presence.ts";
import type { LeoState } from "./state.ts";
import { clamp01, contentWords } from "./tokens.ts";

const LEVEL = "trauma.level";

export interface TraumaScore {
  score: number;
  /** content words of prompt ∪ reply that belong to the origin */
  originWords: string[];
  asksIdentity: boolean;
}

export interface TraumaEvent {
  score: number;
  level: number;
  words: string[];
}

export interface TraumaReading {
  level: number;
  wounded: boolean;
  woundedWords: string[];
}

export class Trauma {
  private originSet: ReadonlySet<string> = new Set();
  private identityPhrases: readonly string[] = IDENTITY_PHRASES;
  private readonly q;

  constructor(
    db: Database,
    private readonly state: LeoState,
    private readonly config: LeoConfig["trauma"],
    private readonly clock: Clock,
  ) {
    this.q = {
      words: db.query<{ word: string; weight: number; updated_at: number }, []>(
        "SELECT word, weight, updated_at FROM trauma_words",
      ),
      word: db.query<{ weight: number; updated_at: number }, [string]>(
        "SELECT weight, updated_at FROM trauma_words WHERE word = ?",
      ),
      setWord: db.query<never, [string, number, number]>(
        `INSERT INTO trauma_words (word, weight, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (word) DO UPDATE SET weight = excluded.weight, updated_at = excluded.updated_at`,
      ),
      lastScores: db.query<{ score: number }, [number]>("SELECT score FROM trauma_events ORDER BY id DESC LIMIT ?"),
      addEvent: db.query<never, [number, number | null, number, number, string]>(
        "INSERT INTO trauma_events (ts, message_id, score, level, words) VALUES (?, ?, ?, ?, ?)",
      ),
    };
  }

  /** The kernel's founding text and name: B is the origin's content words. */
  setOrigin(originText: string, kernelName: string): void {
    this.originSet = contentWords(originText);
    this.identityPhrases = [...IDENTITY_PHRASES, kernelName.toLowerCase()];
  }

  get origin(): ReadonlySet<string> {
    return this.originSet;
  }

  private decayed(value: number, since: number): number {
    return value * 0.5 ** (Math.max(0, this.clock() - since) / this.config.halfLifeMs);
  }

  score(prompt: string, reply: string, p: Presence): TraumaScore {
    const said = new Set([...contentWords(prompt), ...contentWords(reply)]);
    const originWords = [...said].filter((w) => this.originSet.has(w));
    const overlap = said.size === 0 ? 0 : originWords.length / said.size;
    const lowered = prompt.toLowerCase();
    const asksIdentity = this.identityPhrases.some((phrase) => lowered.includes(phrase));
    const c = this.config;
    const score = clamp01(
      Math.min(1, c.overlapWeight * overlap) + c.novelty * p.novelty + c.arousal * p.arousal + c.entropy * p.entropy +
        (asksIdentity ? c.identityBonus : 0),
    );
    return { score, originWords, asksIdentity };
  }

  /** Persist an event when the score reaches the threshold; returns it, or undefined. */
  record(s: TraumaScore, messageId: number | null): TraumaEvent | undefined {
    if (s.score < this.config.eventThreshold) return undefined;
    const now = this.clock();
    for (const word of s.originWords) {
      const row = this.q.word.get(word);
      this.q.setWord.run(word, (row ? this.decayed(row.weight, row.updated_at) : 0) + s.score, now);
    }
    const history = this.q.lastScores.all(this.config.levelHistory - 1).map((r) => r.score);
    const recent = [s.score, ...history];
    const level = clamp01(0.5 * s.score + (0.5 * recent.reduce((a, b) => a + b, 0)) / recent.length);
    this.state.set(LEVEL, level, now);
    this.q.addEvent.run(now, messageId, s.score, level, JSON.stringify(s.originWords));
    return { score: s.score, level, words: s.originWords };
  }

  level(): number {
    const stored = this.state.get(LEVEL);
    return stored ? this.decayed(stored.value, stored.updatedAt) : 0;
  }

  /** Current (decayed) weight of each trauma word, heaviest first. */
  weights(): { word: string; weight: number }[] {
    return this.q
      .words.all()
      .map((r) => ({ word: r.word, weight: this.decayed(r.weight, r.updated_at) }))
      .sort((a, b) => b.weight - a.weight || a.word.localeCompare(b.word));
  }

  reading(): TraumaReading {
    const level = this.level();
    return {
      level,
      wounded: level > this.config.woundedAbove,
      woundedWords: this.weights()
        .slice(0, this.config.woundedWords)
        .map((w) => w.word),
    };
  }

  /** Sampling cools as the level passes `coolingAbove`: by up to `maxTemperatureDrop` at level 1. */
  temperatureFactor(level = this.level()): number {
    const c = this.config;
    if (level <= c.coolingAbove) return 1;
    return 1 - (c.maxTemperatureDrop * (level - c.coolingAbove)) / (1 - c.coolingAbove);
  }
}
