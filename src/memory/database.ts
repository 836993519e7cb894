/**
 * database.ts — opens resonance.sqlite3 with the durability the device needs
 * and brings its schema up to date.
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { checkAfterOpen, checkBeforeOpen, DatabaseRefused } from "./integrity.ts";
import { migrate } from "./migrations.ts";

const PAGE_SIZE = 1024;
/** the WAL's size after a checkpoint; SQLite's autocheckpoint runs every 1000 pages (~4 MB) */
const WAL_LIMIT_BYTES = 1 << 20;

export interface OpenDatabaseOptions {
  /** ms a writer waits for another connection's lock before failing */
  busyTimeoutMs?: number;
  /** migrate only up to this version (tests of upgrades) */
  schemaVersion?: number;
}

export function openDatabase(path: string, options: OpenDatabaseOptions = {}): Database {
  if (path !== ":memory:") {
    mkdirSync(dirname(path), { recursive: true });
    checkBeforeOpen(path);
  }
  let db: Database;
  try {
    db = new Database(path, { create: true, strict: true });
  } catch (e) {
    throw new DatabaseRefused(`${path} cannot be opened (${(e as Error).message}): move it aside, or restore ${path}.bak`);
  }
  try {
    if (path !== ":memory:") checkAfterOpen(db, path, "messages");
  } catch (e) {
    db.close();
    throw e;
  }
  // WAL: readers never block the writer; FULL: an SD card losing power keeps every committed turn.
  // 1 KiB pages for a new database (an existing one keeps its own): a turn dirties ~35 scattered
  // pages (leo's tables, FTS, metrics), so this cuts the WAL an ordinary turn writes to the SD
  // card from ~144 KB to ~59 KB (tools/reliability/wal.ts)
  db.run(`PRAGMA page_size = ${PAGE_SIZE}`);
  db.run("PRAGMA journal_mode = WAL");
  db.run("PRAGMA synchronous = FULL");
  db.run(`PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
  db.run("PRAGMA foreign_keys = ON");
  // after a checkpoint the WAL is cut back to this size instead of keeping its high-water mark
  db.run(`PRAGMA journal_size_limit = ${WAL_LIMIT_BYTES}`);
  if (path !== ":memory:") {
    try {
      db.run("PRAGMA wal_checkpoint(TRUNCATE)"); // a start folds what the last run left and frees its WAL
    } catch {
      // a full disk, or a reader holding the WAL: the next checkpoint does it
    }
  }
  migrate(db, { target: options.schemaVersion, backupPath: path === ":memory:" ? undefined : `${path}.bak` });
  return db;
}
