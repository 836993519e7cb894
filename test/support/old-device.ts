/**
 * old-device.ts — a database as an older release left it, for the migration tests: the schema
 * of `version` (the migrations up to it, nothing after), episode 1, and `messages` in it, one
 * second apart from ts 1000. The caller adds what that release also stored, then closes it.
 */
import type { Database } from "bun:sqlite";
import { openDatabase } from "../../src/memory/index.ts";

export type StoredLine = readonly ["user" | "arianna", string];

export function oldDevice(path: string, version: number, messages: readonly StoredLine[]): Database {
  const db = openDatabase(path, { schemaVersion: version });
  db.run("INSERT INTO episodes (id, started_at) VALUES (1, 1000)");
  messages.forEach(([role, text], i) => db.run("INSERT INTO messages (ts, role, text, episode_id) VALUES (?, ?, ?, 1)", [1000 + i, role, text]));
  return db;
}
