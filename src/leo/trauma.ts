/**
 * trauma.ts — how strongly the user pulls Arianna back to her origin
 * (docs/leo.md §3). Only the user's words are read: the replies speak in the
 * kernel's training voice, which always overlaps the origin. Word weights and
 * past turn scores halve every 24 h of wall time; all of it lives in SQLite so
 * a restart forgets nothing.
 */
import type { Database } from "bun:sqlite";
import type { Clock } from "../config/clock.ts";
import type { LeoConfig } from "../config/leo.ts";
import { IDENTITY_NAMES, IDENTITY_PHRASES } from "./lexicon.ts";
import type { LeoState, StateValue } from "./state.ts";
import { clamp01, contentWords, words } from "./tokens.ts";

const LEVEL = "trauma.level";

export interface TraumaScore {
  score: number;
  /** the prompt's content words that belong to the origin (generic words excluded) */
  originWords: string[];
  asksIdentity: boolean;
}

/** The name the kernel is addressed by: the manifest's display_name, else its name up to the first "-". */
export function displayName(name: string, explicit?: string): string {
  return (explicit ?? name.split("-")[0]).trim().toLowerCase();
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
  private names: ReadonlySet<string> = new Set();
  private readonly q;
  /** the stored level (null: none yet), kept once read: a turn reads it twice, `record` writes it */
  private storedLevel?: StateValue | null;
  /** trauma_words, kept once read until an event rewrites them (every turn reads them) */
  private wordRows?: { word: string; weight: number; updated_at: number }[];

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
      lastScores: db.query<{ score: number; ts: number }, [number]>(
        "SELECT score, ts FROM trauma_turns ORDER BY message_id DESC LIMIT ?",
      ),
      addTurn: db.query<never, [number, number, number]>(
        "INSERT OR REPLACE INTO trauma_turns (message_id, ts, score) VALUES (?, ?, ?)",
      ),
      addEvent: db.query<never, [number, number | null, number, number, string]>(
        "INSERT INTO trauma_events (ts, message_id, score, level, words) VALUES (?, ?, ?, ?, ?)",
      ),
    };
  }

  /** Forget what is kept from SQLite (after a rolled-back turn). */
  reload(): void {
    this.storedLevel = undefined;
    this.wordRows = undefined;
  }

  /**
   * The kernel's founding text and the name it is addressed by: B is the
   * origin's content words minus the generic ones (`extraGeneric`: the manifest's).
   */
  setOrigin(originText: string, name: string, extraGeneric: readonly string[] = []): void {
    const generic = new Set([...this.config.genericWords, ...extraGeneric].map((w) => w.toLowerCase()));
    this.originSet = new Set([...contentWords(originText)].filter((w) => !generic.has(w)));
    this.names = new Set([name, ...IDENTITY_NAMES].filter(Boolean));
  }

  get origin(): ReadonlySet<string> {
    return this.originSet;
  }

  private decayed(value: number, since: number): number {
    return value * 0.5 ** (Math.max(0, this.clock() - since) / this.config.halfLifeMs);
  }

  /** Identity: one of the identity questions, or the kernel addressed by name. */
  asksIdentity(prompt: string): boolean {
    const lowered = ` ${words(prompt).join(" ")} `;
    return (
      this.identityPhrases.some((phrase) => lowered.includes(` ${phrase} `)) ||
      [...this.names].some((name) => lowered.includes(` ${name} `))
    );
  }

  /** The score of the user's message (arousal: the prompt's). */
  score(prompt: string, arousal: number): TraumaScore {
    const promptWords = contentWords(prompt);
    const originWords = [...promptWords].filter((w) => this.originSet.has(w));
    const c = this.config;
    const overlap = originWords.length / Math.max(c.overlapMinWords, promptWords.size);
    const asksIdentity = this.asksIdentity(prompt);
    const base = Math.min(1, c.overlapWeight * overlap) + (asksIdentity ? c.identityBonus : 0);
    const score = clamp01(base + (base > 0 ? c.arousal * arousal : 0));
    return { score, originWords, asksIdentity };
  }

  /**
   * Every turn: store its score and the new level (0.5·score + 0.5·mean of the
   * last `levelHistory` turn scores, each halved per 24 h since its turn); an
   * event when the score reaches the threshold. Returns the level and the event.
   */
  record(s: TraumaScore, messageId: number): { level: number; event?: TraumaEvent } {
    const now = this.clock();
    this.q.addTurn.run(messageId, now, s.score);
    const recent = this.q.lastScores.all(this.config.levelHistory).map((r) => this.decayed(r.score, r.ts));
    const level = clamp01(0.5 * s.score + (0.5 * recent.reduce((a, b) => a + b, 0)) / recent.length);
    this.state.set(LEVEL, level, now);
    this.storedLevel = { value: level, updatedAt: now };
    if (s.score < this.config.eventThreshold) return { level };
    for (const word of s.originWords) {
      const row = this.q.word.get(word);
      this.q.setWord.run(word, (row ? this.decayed(row.weight, row.updated_at) : 0) + s.score, now);
    }
    this.wordRows = undefined;
    this.q.addEvent.run(now, messageId, s.score, level, JSON.stringify(s.originWords));
    return { level, event: { score: s.score, level, words: s.originWords } };
  }

  level(): number {
    const stored = (this.storedLevel ??= this.state.get(LEVEL) ?? null);
    return stored ? this.decayed(stored.value, stored.updatedAt) : 0;
  }

  /** Current (decayed) weight of each trauma word, heaviest first. */
  weights(): { word: string; weight: number }[] {
    return (this.wordRows ??= this.q.words.all())
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
