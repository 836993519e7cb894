/**
 * messages.ts — the one never-ending conversation: append, read back, and
 * search the whole history through the FTS5 index.
 */
import type { Database } from "bun:sqlite";
import type { Clock } from "../config/clock.ts";
import type { Episodes } from "./episodes.ts";

export type Role = "user" | "arianna" | "system";

/** Bits of messages.flags, for readers such as the trainer's dialogue export. */
export const MessageFlag = {
  /** chosen among re-sampled candidates */
  Resampled: 1,
  /** the raw reply was trimmed before it was shown */
  Trimmed: 2,
  /** still below the quality threshold after re-sampling: a poor training example */
  LowQuality: 4,
  /** a user message whose reply is not stored (yet, or ever: a full disk, a crash, a client that left) */
  Unanswered: 8,
  /** a turn cut short by a client that left: set on the partial reply and on its user message */
  Cancelled: 16,
} as const;

/** Flags of messages that are no training data: turns without a stored reply, and cut-short ones. */
export const NOT_FOR_TRAINING = MessageFlag.Unanswered | MessageFlag.Cancelled;

export interface Message {
  id: number;
  ts: number;
  role: Role;
  text: string;
  episodeId: number;
  flags: number;
}

interface MessageRow {
  id: number;
  ts: number;
  role: Role;
  text: string;
  episode_id: number;
  flags: number;
}

const COLUMNS = "id, ts, role, text, episode_id, flags";
const toMessage = (r: MessageRow): Message => ({
  id: r.id,
  ts: r.ts,
  role: r.role,
  text: r.text,
  episodeId: r.episode_id,
  flags: r.flags,
});

/** A search term and how much a message containing it is worth (the caller weights rare words up). */
export interface SearchTerm {
  word: string;
  weight: number;
}

/** A full-text hit and the message stored after it. */
export interface SearchHit {
  message: Message;
  next?: Message;
}

/** FTS5 leaf pages (~4 KB each) merged per idle window: ~7 WAL pages of 1 KiB a turn on average at 100k messages */
const INDEX_MERGE_PAGES = 16;

/** An FTS5 query for one word, quoted so it is never read as syntax. */
export const ftsPhrase = (word: string): string => `"${word.replaceAll('"', '""')}"`;

export class Messages {
  private readonly insertQuery;
  private readonly latestQuery;
  private readonly byIdQuery;
  private readonly byIdsQuery;
  private readonly recentQuery;
  private readonly matchQuery;
  private readonly countQuery;
  private readonly answeredQuery;
  private readonly mergeQuery;

  constructor(
    db: Database,
    private readonly episodes: Episodes,
    private readonly clock: Clock,
    private readonly episodeIdleGapMs: number,
  ) {
    this.insertQuery = db.query<MessageRow, [number, Role, string, number, number]>(
      `INSERT INTO messages (ts, role, text, episode_id, flags) VALUES (?, ?, ?, ?, ?) RETURNING ${COLUMNS}`,
    );
    // what an append needs, in one statement: when the last message was written, and the newest episode
    this.latestQuery = db.query<{ ts: number | null; episode_id: number | null }, []>(
      `SELECT (SELECT ts FROM messages ORDER BY id DESC LIMIT 1) AS ts,
              (SELECT id FROM episodes ORDER BY id DESC LIMIT 1) AS episode_id`,
    );
    this.byIdQuery = db.query<MessageRow, [number]>(`SELECT ${COLUMNS} FROM messages WHERE id = ?`);
    this.byIdsQuery = db.query<MessageRow, [string]>(
      `SELECT ${COLUMNS} FROM messages WHERE id IN (SELECT value FROM json_each(?))`,
    );
    this.recentQuery = db.query<MessageRow, [number, number]>(
      `SELECT ${COLUMNS} FROM messages WHERE id < ? ORDER BY id DESC LIMIT ?`,
    );
    // newest matches first: FTS5 walks its doclist in rowid order and stops at the limit,
    // so a word in half the history costs what a rare one does (ORDER BY rank would score them all)
    this.matchQuery = db.query<{ rowid: number }, [string, number, number]>(
      "SELECT rowid FROM user_messages_fts WHERE user_messages_fts MATCH ? AND rowid < ? ORDER BY rowid DESC LIMIT ?",
    );
    this.countQuery = db.query<{ n: number }, []>("SELECT count(*) AS n FROM messages");
    this.answeredQuery = db.query<never, [number, number]>(
      `UPDATE messages SET flags = (flags & ~${MessageFlag.Unanswered}) | ? WHERE id = ?`,
    );
    this.mergeQuery = db.query<never, []>(
      `INSERT INTO user_messages_fts(user_messages_fts, rank) VALUES ('merge', ${INDEX_MERGE_PAGES})`,
    );
  }

  /**
   * Append a message. A user message after `episodeIdleGapMs` of silence opens
   * a new episode; a reply always joins its prompt's episode.
   */
  append(role: Role, text: string, flags = 0): Message {
    const ts = this.clock();
    const last = this.latestQuery.get()!;
    const silentTooLong = last.ts === null || (role === "user" && ts - last.ts > this.episodeIdleGapMs);
    const episodeId = silentTooLong ? this.episodes.open(ts).id : (last.episode_id ?? this.episodes.open(ts).id);
    return toMessage(this.insertQuery.get(ts, role, text, episodeId, flags)!);
  }

  /** The reply to user message `id` is being stored (same transaction): clear Unanswered; a cut-short turn is marked Cancelled. */
  answered(id: number, cancelled: boolean): void {
    this.answeredQuery.run(cancelled ? MessageFlag.Cancelled : 0, id);
  }

  get(id: number): Message | undefined {
    const row = this.byIdQuery.get(id);
    return row ? toMessage(row) : undefined;
  }

  /** The messages with these ids, in one statement, by id (an id with no message is absent). */
  getMany(ids: readonly number[]): Map<number, Message> {
    if (ids.length === 0) return new Map();
    return new Map(this.byIdsQuery.all(JSON.stringify(ids)).map((r) => [r.id, toMessage(r)]));
  }

  /** Up to `limit` messages before `beforeId`, newest first. */
  recent(limit: number, beforeId = Number.MAX_SAFE_INTEGER): Message[] {
    return this.recentQuery.all(beforeId, limit).map(toMessage);
  }

  /**
   * Full-text hits among the user's messages older than `beforeId` (only they
   * are indexed: migration 005): each term's `perTerm` newest matches, scored
   * by the summed weights of the terms a message contains (newer first on ties).
   * Each hit comes with the message stored right after it (her reply, when
   * there is one), read in the same statement.
   */
  search(terms: readonly SearchTerm[], limit: number, beforeId = Number.MAX_SAFE_INTEGER, { perTerm = 16 } = {}): SearchHit[] {
    const ids = this.ranked(terms, limit, beforeId, perTerm);
    const found = this.getMany(ids.flatMap((id) => [id, id + 1]));
    return ids.map((id) => ({ message: found.get(id)!, next: found.get(id + 1) }));
  }

  private ranked(terms: readonly SearchTerm[], limit: number, beforeId: number, perTerm: number): number[] {
    const scores = new Map<number, number>();
    for (const { word, weight } of terms) {
      for (const { rowid } of this.matchQuery.all(ftsPhrase(word), beforeId, perTerm)) {
        scores.set(rowid, (scores.get(rowid) ?? 0) + weight);
      }
    }
    return [...scores]
      .sort((a, b) => b[1] - a[1] || b[0] - a[0])
      .slice(0, limit)
      .map(([id]) => id);
  }

  /**
   * Idle-window upkeep of the full-text index: up to INDEX_MERGE_PAGES pages of
   * merging its segments (migration 006), so a search seeks a few segments, not
   * the ~17 that one-message commits leave. One atomic statement; hits are unchanged.
   */
  mergeIndex(): void {
    this.mergeQuery.run();
  }

  count(): number {
    return this.countQuery.get()!.n;
  }
}
