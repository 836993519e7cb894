/**
 * integrity.ts — a start never silently replaces, adopts or runs on a broken
 * conversation.
 *
 * Each refusal is one DatabaseRefused line naming the file and what to do:
 * a 0-byte database beside a WAL that still holds its pages (opening it would
 * start a new conversation over them), a 0-byte database beside a backup, a
 * file that is not SQLite, an SQLite file of something else, and a database
 * failing `PRAGMA quick_check` (a backup restored beside a stale WAL: chat
 * kept answering while integrity_check failed).
 */
import type { Database } from "bun:sqlite";
import { existsSync, statSync } from "node:fs";
import { basename } from "node:path";

/** The database will not be opened as it is; the message says which file and what to do. */
export class DatabaseRefused extends Error {}

const size = (path: string) => (existsSync(path) ? statSync(path).size : -1);

/** Before SQLite touches the file (it would take a 0-byte file for a new database). */
export function checkBeforeOpen(path: string): void {
  if (size(path) !== 0) return;
  const name = basename(path);
  const wal = size(`${path}-wal`);
  if (wal > 0)
    throw new DatabaseRefused(
      `${path} is empty but ${name}-wal beside it holds ${wal} bytes of the conversation: ` +
        `copy both aside for recovery (sqlite3 can read the WAL), then restore ${name}.bak or remove them to start anew`,
    );
  if (existsSync(`${path}.bak`))
    throw new DatabaseRefused(`${path} is empty but ${name}.bak exists: restore it (cp ${name}.bak ${name}), or remove the empty file to start anew`);
}

/** What to do about a database that will not read: a WAL beside it is the usual cause (a backup restored beside a stale one). */
function restoreHint(path: string): string {
  const name = basename(path);
  return existsSync(`${path}-wal`)
    ? `a backup restored beside a stale ${name}-wal does this; stop the service, move ${name}-wal and ${name}-shm aside and restore ${name}.bak`
    : `move it aside, or restore ${name}.bak`;
}

/** Once open: an InnerArianna database, and a sound one. */
export function checkAfterOpen(db: Database, path: string, ownTable: string): void {
  const name = basename(path);
  let tables: string[];
  try {
    tables = db.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => r.name);
  } catch (e) {
    throw new DatabaseRefused(`${path} is not a readable SQLite database (${(e as Error).message}): ${restoreHint(path)}`);
  }
  const version = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
  if (version === 0 && tables.length > 0 && !tables.includes(ownTable))
    throw new DatabaseRefused(
      `${path} is an SQLite database of something else (tables ${tables.slice(0, 5).join(", ")}): ` +
        `ARIANNA_HOME must hold InnerArianna's own; move it aside or set ARIANNA_HOME elsewhere`,
    );
  let problems: string[];
  try {
    problems = db.query<{ quick_check: string }, []>("PRAGMA quick_check(3)").all().map((r) => r.quick_check);
  } catch (e) {
    problems = [(e as Error).message]; // e.g. an FTS5 index whose pages are not its own
  }
  if (problems.join() !== "ok")
    throw new DatabaseRefused(
      `${path} fails its quick_check (${problems.join("; ")}): ${restoreHint(path)}`,
    );
}
