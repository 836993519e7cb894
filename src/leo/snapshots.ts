/**
 * snapshots.ts — exemplary replies, "how I speak" (docs/leo.md §6.4): kept when
 * good for their kernel, on their subject and free of non-words, capped, and recalled into the context when they
 * share a word or a theme with the prompt and resonate with it.
 */
import type { Database } from "bun:sqlite";
import type { Clock } from "../config/clock.ts";
import type { LeoConfig } from "../config/leo.ts";
import { contentWords, jaccardOf, sharedCount } from "./tokens.ts";

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

const keep = (snapshot: Snapshot): Kept => ({
  snapshot, words: contentWords(snapshot.text), themes: new Set(snapshot.themes),
});

/** key → the kept snapshots holding it */
type Postings<K> = Map<K, Kept[]>;
const post = <K>(postings: Postings<K>, key: K, kept: Kept) => {
  const list = postings.get(key);
  if (list) list.push(kept);
  else postings.set(key, [kept]);
};
/** Drop the `gone` snapshots from the lists of `keys`, each list filtered once. */
const unpost = <K>(postings: Postings<K>, keys: Iterable<K>, gone: ReadonlySet<Kept>) => {
  for (const key of keys) {
    const list = postings.get(key)?.filter((k) => !gone.has(k));
    if (list?.length) postings.set(key, list);
    else postings.delete(key);
  }
};

export class Snapshots {
  /** all snapshots (at most `cap`) with their word and theme sets, so recall never touches SQLite */
  private kept = new Map<number, Kept>();
  /**
   * the kept snapshots by content word and by theme: recall counts each one's shared words and themes
   * from the prompt's postings instead of testing every snapshot's two sets
   */
  private byWord: Postings<string> = new Map();
  private byTheme: Postings<number> = new Map();
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
      bump: db.query<never, [string]>("UPDATE snapshots SET uses = uses + 1 WHERE id IN (SELECT value FROM json_each(?))"),
    };
    this.reload();
  }

  /** Re-read from SQLite (after a rolled-back transaction, the cache may be ahead of the truth). */
  reload(): void {
    this.kept = new Map();
    this.byWord = new Map();
    this.byTheme = new Map();
    for (const row of this.q.all.all()) this.add(keep(toSnapshot(row)));
  }

  private add(kept: Kept): void {
    this.kept.set(kept.snapshot.id, kept);
    for (const word of kept.words) post(this.byWord, word, kept);
    for (const theme of kept.themes) post(this.byTheme, theme, kept);
  }

  /**
   * Evicted snapshots leave the postings together, each list they share filtered once: one by one,
   * the 51 of an eviction made that turn's `consider` 5–10 ms (bench texts), together 3–4.6, about
   * what the rows' deletes cost before the postings.
   */
  private remove(ids: readonly number[]): void {
    const gone = new Set<Kept>();
    for (const id of ids) {
      const kept = this.kept.get(id);
      if (kept) gone.add(kept);
      this.kept.delete(id);
    }
    const goneList = [...gone];
    unpost(this.byWord, new Set(goneList.flatMap((k) => [...k.words])), gone);
    unpost(this.byTheme, new Set(goneList.flatMap((k) => [...k.themes])), gone);
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
    if (quality < bar.from || reply.nonWordShare > 0 || sharedCount(contentWords(text), bar.subject) === 0) return undefined;
    const snapshot = toSnapshot(this.q.insert.get(messageId, this.clock(), text, arousal, quality, JSON.stringify(themes))!);
    this.add(keep(snapshot));
    if (this.kept.size > this.config.cap) {
      const evicted = this.q.evictable.all(this.config.evict).map((r) => r.id);
      for (const id of evicted) this.q.remove.run(id);
      this.remove(evicted);
    }
    return snapshot;
  }

  /** `wordsJaccard` and `themesJaccard`: the snapshot's words against the prompt's, its themes against the active ones. */
  private score(snapshot: Snapshot, now: number, wordsJaccard: number, themesJaccard: number, arousal: number): number {
    const w = this.config.weights;
    const age = now - snapshot.ts;
    const recency = Math.max(0, 1 - age / this.config.recencyWindowMs);
    return (
      w.jaccard * wordsJaccard +
      w.themes * themesJaccard +
      w.arousal * (1 - Math.abs(arousal - snapshot.arousal)) +
      (w.quality * snapshot.quality * (1 - 0.5 * recency)) / (1 + snapshot.uses / this.config.usesDivisor)
    );
  }

  /**
   * The best few above the threshold among the eligible ones (sharing a content
   * word with the prompt, or an active theme), best first (then newest). Only
   * the eligible ones are visited, found through the postings: testing each
   * snapshot's sets instead cost 0.51–0.59 ms of CPU a turn at ~260 snapshots
   * (bench at 100k messages; through the postings 0.18). No write: uses are
   * bumped when the turn commits.
   */
  recall(prompt: string, arousal: number, activeThemes: ReadonlySet<number>): Recalled[] {
    const promptWords = contentWords(prompt);
    // the eligible ones, each with how many words and themes it shares
    const shared = new Map<Kept, { words: number; themes: number }>();
    const count = (kept: Kept) => {
      let n = shared.get(kept);
      if (!n) shared.set(kept, (n = { words: 0, themes: 0 }));
      return n;
    };
    for (const word of promptWords) for (const kept of this.byWord.get(word) ?? []) count(kept).words++;
    for (const theme of activeThemes) for (const kept of this.byTheme.get(theme) ?? []) count(kept).themes++;
    const now = this.clock();
    return [...shared]
      .map(([{ snapshot, words, themes }, n]) => ({
        snapshot,
        score: this.score(snapshot, now, jaccardOf(n.words, promptWords.size, words.size), jaccardOf(n.themes, activeThemes.size, themes.size), arousal),
      }))
      .filter((r) => r.score > this.config.recallMinScore)
      .sort((a, b) => b.score - a.score || b.snapshot.id - a.snapshot.id)
      .slice(0, this.config.recallMax);
  }

  /** One use more for each recalled snapshot (distinct ids), in one statement. */
  bumpUses(ids: readonly number[]): void {
    if (ids.length === 0) return;
    this.q.bump.run(JSON.stringify(ids));
    for (const id of ids) {
      const kept = this.kept.get(id);
      if (kept) kept.snapshot.uses++;
    }
  }
}
