/**
 * memory — resonance.sqlite3: the session's messages, episodes and per-turn
 * metrics. The leo layer keeps its own state in the same database (tables
 * created by the same migrations).
 */
import type { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Clock } from "../config/clock.ts";
import { systemClock } from "../config/clock.ts";
import { RUNTIME_DEFAULTS } from "../config/runtime.ts";
import { openDatabase, type OpenDatabaseOptions } from "./database.ts";
import { Episodes } from "./episodes.ts";
import { Headroom, StorageFull } from "./headroom.ts";
import { Messages } from "./messages.ts";
import { Metrics } from "./metrics.ts";

export { openDatabase } from "./database.ts";
export { DatabaseRefused } from "./integrity.ts";
export { exportPages } from "./export.ts";
export { Headroom, StorageFull, RESERVE, TURN_HEADROOM, freeBytes } from "./headroom.ts";
export { MIGRATIONS, SCHEMA_VERSION, migrate, schemaVersion } from "./migrations.ts";
export { Episodes, type Episode } from "./episodes.ts";
export { MessageFlag, Messages, NOT_FOR_TRAINING, ftsPhrase, type Message, type Role, type SearchHit, type SearchTerm } from "./messages.ts";
export { Metrics, type TurnMetrics } from "./metrics.ts";

export interface Memory {
  db: Database;
  messages: Messages;
  episodes: Episodes;
  metrics: Metrics;
  /** free space on the database's disk: turns need headroom, a full disk serves history only (null for :memory:) */
  headroom: Headroom | null;
  /** throws StorageFull when the disk has no room for a turn (nothing is written) */
  requireRoomForTurn(): void;
  /** run `fn` in one write transaction (BEGIN IMMEDIATE: no lock upgrade deadlocks) */
  atomically<T>(fn: () => T): T;
  close(): void;
}

export interface OpenMemoryOptions extends OpenDatabaseOptions {
  clock?: Clock;
  episodeIdleGapMs?: number;
}

export function openMemory(path: string, options: OpenMemoryOptions = {}): Memory {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const headroom = path === ":memory:" ? null : new Headroom(dirname(path));
  // a start on a full disk gives the reserve back, so its own writes fit; otherwise it is (re)taken
  if (headroom && !headroom.releaseIfFull()) headroom.take();
  const db = openDatabase(path, options);
  const episodes = new Episodes(db);
  const clock = options.clock ?? systemClock;
  return {
    db,
    episodes,
    messages: new Messages(db, episodes, clock, options.episodeIdleGapMs ?? RUNTIME_DEFAULTS.episodeIdleGapMs),
    metrics: new Metrics(db),
    headroom,
    requireRoomForTurn: () => {
      if (headroom && !headroom.roomForTurn()) throw new StorageFull(headroom.free());
    },
    atomically: <T>(fn: () => T): T => db.transaction(fn).immediate(),
    close: () => db.close(),
  };
}
