/**
 * migrations.ts — the schema as numbered SQL files (migrations/NNN_name.sql),
 * applied in order and tracked by PRAGMA user_version.
 *
 * Migrations only add (tables, columns, indexes; a derived index may be rebuilt
 * from the rows it indexes) and each runs in one
 * transaction with its version bump, so a crash leaves the old version intact.
 * Before upgrading a database that already holds a conversation, a copy is
 * written next to it (VACUUM INTO) — an SD card deserves a second chance.
 */
import type { Database } from "bun:sqlite";
import { closeSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS_DIR = join(import.meta.dir, "migrations");

export const MIGRATIONS: readonly Migration[] = readdirSync(MIGRATIONS_DIR)
  .filter((file) => /^\d+_.+\.sql$/.test(file))
  .map((file) => ({
    version: Number.parseInt(file, 10),
    name: file.replace(/^\d+_|\.sql$/g, ""),
    sql: readFileSync(join(MIGRATIONS_DIR, file), "utf8"),
  }))
  .sort((a, b) => a.version - b.version);

export const SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0;

/**
 * A copy of the database at `path`, written under a temporary name and renamed
 * into place: a kill during VACUUM INTO leaves only the temporary file (removed
 * by the next try), never a partial backup that a later start would trust.
 */
function backUp(db: Database, path: string): void {
  const tmp = `${path}.tmp`;
  rmSync(tmp, { force: true });
  db.run(`VACUUM INTO '${tmp.replaceAll("'", "''")}'`);
  const fd = openSync(tmp, "r");
  try {
    fsyncSync(fd); // the bytes reach the card before the name does
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function schemaVersion(db: Database): number {
  return (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
}

/**
 * Bring `db` up to `target` (default: the newest). Refuses a database written
 * by a newer runtime instead of guessing at it. `backupPath` names the copy
 * made before upgrading a non-empty database.
 */
export function migrate(db: Database, options: { target?: number; backupPath?: string } = {}): number {
  const target = options.target ?? SCHEMA_VERSION;
  const current = schemaVersion(db);
  if (current > SCHEMA_VERSION) {
    throw new Error(`database schema v${current} is newer than this runtime's v${SCHEMA_VERSION}; refusing to open`);
  }
  const pending = MIGRATIONS.filter((m) => m.version > current && m.version <= target);
  if (pending.length === 0) return current;
  if (current > 0 && options.backupPath) backUp(db, options.backupPath);
  for (const migration of pending) {
    db.transaction(() => {
      db.run(migration.sql);
      db.run(`PRAGMA user_version = ${migration.version}`);
    }).immediate();
  }
  return target;
}
