/**
 * snapshots.ts — exemplary replies, "how I speak" (docs/leo.md §6.4): kept when
 * good for their kernel, on their subject and free of non-words, capped, and recalled into the context when they
 * share a word or a theme with the prompt and resonate with it.
 */
import type { Database } from "bun:sqlite";
import type { Clock } from "../config/clock.ts";
import type { LeoConfig } from "../config/leo.ts";
import { contentWords, jaccard } from "./tokens.ts";

export interface Snapshot {
  id: number;
  messageId: number | null;
  ts: number;
  text: string;
  arousal: number;
  quality: number;
  themes: number[];
  uses: number;
}

export interface Recalled {
  snapshot: Snapshot;
  score: number;
}

interface SnapshotRow {
  id: number;
  message_id: number | null;
  ts: number;
  text: string;
  arousal: number;
  quality: number;
  themes: string;
  uses: number;
}

const COLUMNS = "id, message_id, ts, text, arousal, quality, themes, uses";
const toSnapshot = (r: SnapshotRow): Snapshot => ({
  id: r.id,
  messageId: r.message_id,
  ts: r.ts,
  text: r.text,
  arousal: r.arousal,
  quality: r.quality,
  themes: JSON.parse(r.themes),
  uses: r.uses,
});

interface Kept {
  snapshot: Snapshot;
  words: Set<string>;
  themes: Set<number>;
}

const shares = <T>(a: ReadonlySet<T>, b: ReadonlySet<T>): boolean => {
  for (const x of a) if (b.has(x)) return true;
  return false;
};

const keep = (snapshot: Snapshot): Kept => ({ snapshot, words: contentWords(snapshot.text), themes: new Set(snapshot.themes) });

export class Snapshots {
  /** all snapshots (at most `cap`) with their word and theme sets, so recall never touches SQLite */
  private kept = new Map<number, Kept>();
  private readonly q;

  constructor(
    db: Database,
    private readonly config: LeoConfig["snapshots"],
    private readonly clock: Clock,
  ) {
    this.q = {
      all: db.query<SnapshotRow, []>(`SELECT ${COLUMNS} FROM snapshots`),
      insert: db.query<SnapshotRow, [number | null, number, string, number, number, string]>(
        `INSERT INTO snapshots (message_id, ts, text, arousal, quality, themes) VALUES (?, ?, ?, ?, ?, ?) RETURNING ${COLUMNS}`,
      ),
      evictable: db.query<{ id: number }, [number]>("SELECT id FROM snapshots ORDER BY uses, ts, id LIMIT ?"),
      remove: db.query<never, [number]>("DELETE FROM snapshots WHERE id = ?"),
      bump: db.query<never, [number]>("UPDATE snapshots SET uses = uses + 1 WHERE id = ?"),
    };
    this.reload();
  }

  /** Re-read from SQLite (after a rolled-back transaction, the cache may be ahead of the truth). */
  reload(): void {
    this.kept = new Map(this.q.all.all().map((r) => [r.id, keep(toSnapshot(r))]));
  }

  all(): Snapshot[] {
    return [...this.kept.values()].map((k) => k.snapshot);
  }

  /**
   * Keep a reply that is good for its kernel (quality at or above `from`, the
   * quality band's line), has no non-words and shares a content word with its
   * subject (the prompt's and active themes' words); past the cap, the least
   * used (then oldest) go.
   */
  consider(
    messageId: number | null,
    text: string,
    reply: { arousal: number; quality: number; nonWordShare: number },
    themes: number[],
    bar: { from: number; subject: ReadonlySet<string> },
  ): Snapshot | undefined {
    const { arousal, quality } = reply;
    if (quality < bar.from || reply.nonWordShare > 0 || !shares(contentWords(text), bar.subject)) return undefined;
    const snapshot = toSnapshot(this.q.insert.get(messageId, this.clock(), text, arousal, quality, JSON.stringify(themes))!);
    this.kept.set(snapshot.id, keep(snapshot));
    if (this.kept.size > this.config.cap) {
      for (const { id } of this.q.evictable.all(this.config.evict)) {
        this.q.remove.run(id);
        this.kept.delete(id);
      }
    }
    return snapshot;
  }

  private score({ snapshot, words, themes }: Kept, promptWords: ReadonlySet<string>, arousal: number, activeThemes: ReadonlySet<number>): number {
    const w = this.config.weights;
    const age = this.clock() - snapshot.ts;
    const recency = Math.max(0, 1 - age / this.config.recencyWindowMs);
    return (
      w.jaccard * jaccard(promptWords, words) +
      w.themes * jaccard(activeThemes, themes) +
      w.arousal * (1 - Math.abs(arousal - snapshot.arousal)) +
      (w.quality * snapshot.quality * (1 - 0.5 * recency)) / (1 + snapshot.uses / this.config.usesDivisor)
    );
  }

  /**
   * The best few above the threshold among the eligible ones (sharing a content
   * word with the prompt, or an active theme), best first. No write: uses are
   * bumped when the turn commits.
   */
  recall(prompt: string, arousal: number, activeThemes: ReadonlySet<number>): Recalled[] {
    const promptWords = contentWords(prompt);
    return [...this.kept.values()]
      .filter((kept) => shares(promptWords, kept.words) || shares(activeThemes, kept.themes))
      .map((kept) => ({ snapshot: kept.snapshot, score: this.score(kept, promptWords, arousal, activeThemes) }))
      .filter((r) => r.score > this.config.recallMinScore)
      .sort((a, b) => b.score - a.score || b.snapshot.id - a.snapshot.id)
      .slice(0, this.config.recallMax);
  }

  bumpUses(ids: readonly number[]): void {
    for (const id of ids) {
      this.q.bump.run(id);
      const kept = this.kept.get(id);
      if (kept) kept.snapshot.uses++;
    }
  }
}
