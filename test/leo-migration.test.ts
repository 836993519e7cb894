// Migration 003 (leo version 2): a v1 device's leo state carried forward, nothing dropped
// (docs/leo.md §10). The figures v2 cannot recompute are set aside, not deleted.
// Migration 004: the field observes a turn after its reply; what v3 stored is all observed.
// Migration 005: the full-text index is rebuilt over the user's messages only.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Leo } from "../src/leo/index.ts";
import { openMemory, schemaVersion, SCHEMA_VERSION } from "../src/memory/index.ts";
import { oldDevice } from "./support/old-device.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
/** a fresh home: its directory and the database path in it */
function tempHome() {
  const dir = mkdtempSync(join(tmpdir(), "ia-leo-migration-"));
  dirs.push(dir);
  return { dir, path: join(dir, "resonance.sqlite3") };
}

describe("migration 003: leo version 2", () => {
  test("spoken counts come from the stored messages, rings left out; v1 trauma and metrics are kept aside", () => {
    const { dir, path } = tempHome();
    const v2 = oldDevice(path, 2, [["user", "The river, the river and the well-known stone"], ["arianna", "Река помнит камень"]]);
    v2.run("INSERT INTO rings (message_id, ts, kind, text) VALUES (2, 1002, 'meta', 'river photood')");
    // the v1 field: rings counted like speech
    const words: [string, number][] = [["river", 3], ["stone", 1], ["well-known", 1], ["река", 1], ["photood", 1], ["the", 3]];
    for (const [word, count] of words) v2.run("INSERT INTO vocab (word, count) VALUES (?, ?)", [word, count]);
    v2.run("INSERT INTO cooc VALUES (1, 2, 7)");
    v2.run("INSERT INTO metrics (message_id, ts, entropy, trauma, model_sha256) VALUES (2, 1001, 0.55, 1.0, 'ab')");
    v2.run("INSERT INTO trauma_words VALUES ('small', 3.5, 1001)");
    v2.run("INSERT INTO trauma_events (ts, message_id, score, level, words) VALUES (1001, 2, 1.0, 1.0, '[\"small\"]')");
    v2.run("INSERT INTO leo_state VALUES ('trauma.level', 0.9, 1001)");
    v2.run("INSERT INTO leo_state VALUES ('field.observations', 3, 1002)");
    v2.close();

    const memory = openMemory(path);
    const db = memory.db;
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    const spoken = Object.fromEntries(
      db.query<{ word: string; count: number; count_spoken: number }, []>("SELECT word, count, count_spoken FROM vocab").all().map((r) => [r.word, [r.count, r.count_spoken]]),
    );
    expect(spoken).toEqual({
      river: [3, 2], // two in the user's message, one in a ring
      stone: [1, 1],
      "well-known": [1, 1], // the full-text index splits it: its v1 count is kept
      река: [1, 1],
      photood: [1, 0], // only a ring ever wrote it
      the: [3, 3],
    });
    // the field itself is untouched
    expect(db.query("SELECT n FROM cooc").get()).toEqual({ n: 7 });
    expect(db.query("SELECT value FROM leo_state WHERE key = 'field.observations'").get()).toEqual({ value: 3 });
    // v1 trauma: set aside, not read by v2, not lost
    expect(db.query("SELECT count(*) AS n FROM trauma_words").get()).toEqual({ n: 0 });
    expect(db.query("SELECT word, weight FROM trauma_words_v1").all()).toEqual([{ word: "small", weight: 3.5 }]);
    expect(db.query("SELECT key, value FROM leo_state WHERE key LIKE 'trauma.%'").all()).toEqual([{ key: "trauma.level.v1", value: 0.9 }]);
    expect(db.query("SELECT count(*) AS n FROM trauma_events").get()).toEqual({ n: 1 });
    // v1 metrics rows are marked: their nucleus entropy stays out of the kernel's band
    const row = memory.metrics.forMessage(2)!;
    expect(row.entropy).toBe(0.55);
    expect([row.nonWordShare, row.entropyBand, row.highlights, row.emptyRings]).toEqual([null, null, null, 0]);
    expect(db.query("SELECT leo_version FROM metrics").get()).toEqual({ leo_version: 1 });
    memory.close();
  });
});

describe("migration 004: the field settles after the reply", () => {
  test("a v3 device's messages count as observed: opening leo on it counts none of them again", () => {
    const { dir, path } = tempHome();
    const v3 = oldDevice(path, 3, [["user", "the river"], ["arianna", "The river runs."]]);
    // v3 observed each message in its own commit
    for (const [word, count] of [["the", 2], ["river", 2], ["runs", 1], [".", 1]] as const) {
      v3.run("INSERT INTO vocab (word, count, count_spoken) VALUES (?, ?, ?)", [word, count, count]);
    }
    v3.run("INSERT INTO leo_state VALUES ('field.observations', 2, 1001)");
    v3.close();

    const memory = openMemory(path);
    expect(schemaVersion(memory.db)).toBe(SCHEMA_VERSION);
    expect(memory.db.query("SELECT value FROM leo_state WHERE key = 'field.through'").get()).toEqual({ value: 2 });
    const leo = new Leo({ db: memory.db, home: dir });
    expect(leo.field.wordCount("river")).toBe(2);
    expect(leo.field.observations()).toBe(2);
    memory.close();
  });
});

describe("migration 005: full-text recall over the user's messages", () => {
  test("a v4 device's user messages are found after the upgrade, her replies are not, new ones are indexed", () => {
    const { path } = tempHome();
    const v4 = oldDevice(path, 4, [["user", "my cat is called Basil"], ["arianna", "Basil is a fine name for a cat"]]);
    v4.close();

    const memory = openMemory(path);
    expect(schemaVersion(memory.db)).toBe(SCHEMA_VERSION);
    const found = (word: string) => memory.messages.search([{ word, weight: 1 }], 5).map((h) => h.message.id);
    expect(found("basil")).toEqual([1]);
    expect(found("name")).toEqual([]);
    const later = memory.atomically(() => memory.messages.append("user", "how is Basil today"));
    memory.atomically(() => memory.messages.append("arianna", "Basil sleeps"));
    expect(found("basil")).toEqual([later.id, 1]);
    expect(found("sleeps")).toEqual([]);
    memory.close();
  });
});
