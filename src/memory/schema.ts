/**
 * schema.ts — renders the current schema (all migrations applied) as plain SQL,
 * so tools without Bun (the trainer's export_dialogues.py) can read or create
 * the database. The migrations are the source of truth; schema.sql is their
 * output, and a test fails when it is stale.
 *
 *   bun src/memory/schema.ts --write     # regenerate src/memory/schema.sql
 */
import { Database } from "bun:sqlite";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SCHEMA_VERSION, migrate } from "./migrations.ts";

export const SCHEMA_SQL_PATH = join(import.meta.dir, "schema.sql");

export function renderSchema(): string {
  const db = new Database(":memory:");
  try {
    migrate(db);
    // FTS5 creates its shadow tables itself; list only what a script must create.
    const rows = db
      .query(
        `SELECT sql FROM sqlite_master
         WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' AND NOT (type = 'table' AND name LIKE 'messages_fts_%')
         ORDER BY rowid`,
      )
      .all() as { sql: string }[];
    const header =
      "-- InnerArianna resonance.sqlite3 schema, GENERATED from src/memory/migrations/*.sql\n" +
      "-- by `bun src/memory/schema.ts --write`. Do not edit by hand. Times are unix ms.\n";
    return `${header}PRAGMA user_version = ${SCHEMA_VERSION};\n\n${rows.map((r) => `${r.sql};`).join("\n\n")}\n`;
  } finally {
    db.close();
  }
}

if (import.meta.main) {
  if (process.argv.includes("--write")) writeFileSync(SCHEMA_SQL_PATH, renderSchema());
  else process.stdout.write(renderSchema());
}
