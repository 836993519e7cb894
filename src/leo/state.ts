/**
 * state.ts — named numbers of the leo layer (counters, trauma level) in the leo_state table.
 */
import type { Database } from "bun:sqlite";

export interface StateValue {
  value: number;
  updatedAt: number;
}

export class LeoState {
  private readonly getQuery;
  private readonly setQuery;
  private readonly incrementQuery;

  constructor(db: Database) {
    this.getQuery = db.query<{ value: number; updated_at: number }, [string]>(
      "SELECT value, updated_at FROM leo_state WHERE key = ?",
    );
    this.setQuery = db.query<never, [string, number, number]>(
      `INSERT INTO leo_state (key, value, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    );
    this.incrementQuery = db.query<{ value: number }, [string, number]>(
      `INSERT INTO leo_state (key, value, updated_at) VALUES (?, 1, ?)
       ON CONFLICT (key) DO UPDATE SET value = value + 1, updated_at = excluded.updated_at RETURNING value`,
    );
  }

  get(key: string): StateValue | undefined {
    const row = this.getQuery.get(key);
    return row ? { value: row.value, updatedAt: row.updated_at } : undefined;
  }

  value(key: string, fallback = 0): number {
    return this.getQuery.get(key)?.value ?? fallback;
  }

  set(key: string, value: number, updatedAt: number): void {
    this.setQuery.run(key, value, updatedAt);
  }

  /** Add one (an absent key counts from 0) and return the new count, in one statement. */
  increment(key: string, updatedAt: number): number {
    return this.incrementQuery.get(key, updatedAt)!.value;
  }
}
