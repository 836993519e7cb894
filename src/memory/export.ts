/**
 * export.ts — the dialogues for the trainer (GET /api/export), as NDJSON lines:
 * episode lines, then message lines, in a time window (unix ms).
 *
 * Read on a connection of its own, in one read transaction: a consistent
 * snapshot while the session keeps writing (WAL lets both run). Rows come in
 * pages of PAGE by id, so memory stays one page whatever the history's size,
 * and the caller can give the event loop back between pages (400 k messages
 * built as one string took RSS from 55 to 378 MB and stalled /health 1.5 s).
 * Turns without a stored reply, and turns a client cut short, are left out:
 * they are no training data (messages.ts NOT_FOR_TRAINING).
 */
import { Database } from "bun:sqlite";
import { NOT_FOR_TRAINING } from "./messages.ts";

const PAGE = 500;

interface ExportMessage {
  id: number;
  ts: number;
  role: string;
  text: string;
  episode_id: number;
  flags: number;
  quality: number | null;
  saved: number;
}

/** Pages of NDJSON text (each a run of whole lines); closing the generator early ends the read. */
export function* exportPages(path: string, since = 0, until = Number.MAX_SAFE_INTEGER): Generator<string, void, undefined> {
  const db = new Database(path, { readonly: true, strict: true });
  try {
    db.run("BEGIN");
    // "+ts": keep SQLite on the id (rowid) range of each page; the ts index would scan the whole window every page
    const inWindow = `+ts >= ?1 AND +ts <= ?2 AND (flags & ${NOT_FOR_TRAINING}) = 0`;
    const episodes = db.query<{ id: number; started_at: number; title: string | null }, [number, number, number]>(
      // EXISTS per episode walks messages_by_episode; an IN (subquery) would scan the whole window every page
      `SELECT id, started_at, title FROM episodes e
       WHERE id > ?3 AND EXISTS (SELECT 1 FROM messages WHERE episode_id = e.id AND ${inWindow}) ORDER BY id LIMIT ${PAGE}`,
    );
    // leo's judgement of each reply: the trainer learns only from the good ones
    const messages = db.query<ExportMessage, [number, number, number]>(
      `SELECT id, ts, role, text, episode_id, flags,
              (SELECT quality FROM metrics WHERE message_id = m.id) AS quality,
              EXISTS (SELECT 1 FROM snapshots WHERE message_id = m.id) AS saved
       FROM messages m WHERE id > ?3 AND ${inWindow} ORDER BY id LIMIT ${PAGE}`,
    );
    for (let after = 0; ; ) {
      const rows = episodes.all(since, until, after);
      if (rows.length === 0) break;
      yield rows.map((e) => JSON.stringify({ type: "episode", ...e }) + "\n").join("");
      after = rows.at(-1)!.id;
    }
    for (let after = 0; ; ) {
      const rows = messages.all(since, until, after);
      if (rows.length === 0) break;
      yield rows.map((m) => JSON.stringify({ type: "message", ...m, saved: m.saved === 1 }) + "\n").join("");
      after = rows.at(-1)!.id;
    }
  } finally {
    db.close(); // ends the read transaction
  }
}
