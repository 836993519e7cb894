import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessageFlag, openDatabase, openMemory, SCHEMA_VERSION, schemaVersion } from "../src/memory/index.ts";
import { oldDevice } from "./support/old-device.ts";

const dirs: string[] = [];
const tempDb = () => {
  const dir = mkdtempSync(join(tmpdir(), "ia-memory-"));
  dirs.push(dir);
  return join(dir, "resonance.sqlite3");
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const MINUTE = 60_000;
const T0 = Date.UTC(2025, 0, 1);

describe("database", () => {
  test("durability pragmas: WAL, synchronous=FULL, busy timeout, current schema", () => {
    const db = openDatabase(tempDb());
    expect(db.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    expect(db.query("PRAGMA synchronous").get()).toEqual({ synchronous: 2 });
    expect((db.query("PRAGMA busy_timeout").get() as { timeout: number }).timeout).toBeGreaterThan(0);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    db.close();
  });

  test("upgrading from v1 keeps every row and indexes the old history", () => {
    const path = tempDb();
    const v1 = oldDevice(path, 1, [["user", "the lantern by the river"], ["arianna", "I keep the lantern lit"]]);
    expect(schemaVersion(v1)).toBe(1);
    v1.run("UPDATE episodes SET title = 'first light' WHERE id = 1");
    v1.run("INSERT INTO metrics (message_id, ts, entropy, novelty, trauma, presence_pulse) VALUES (2, 1001, 0.4, 0.9, 0.1, 0.5)");
    v1.run("INSERT INTO bins (topic, path_to_bin, created_at, last_used_at, decay_level) VALUES ('old', 'bins/x.iabn', 1, 1, 0.2)");
    v1.run("INSERT INTO snapshots (message_id, ts, text) VALUES (2, 1001, 'I keep the lantern lit')");
    v1.close();

    const memory = openMemory(path);
    expect(schemaVersion(memory.db)).toBe(SCHEMA_VERSION);
    expect(existsSync(`${path}.bak`)).toBe(true);
    expect(memory.messages.count()).toBe(2);
    expect(memory.episodes.latest()).toEqual({ id: 1, startedAt: 1000, title: "first light" });
    expect(memory.db.query("SELECT entropy, novelty, trauma, presence_pulse FROM metrics").get()).toEqual({
      entropy: 0.4, novelty: 0.9, trauma: 0.1, presence_pulse: 0.5,
    });
    expect(memory.db.query("SELECT topic, decay_level FROM bins").get()).toEqual({ topic: "old", decay_level: 0.2 });
    expect(memory.db.query("SELECT text, uses FROM snapshots").get()).toEqual({ text: "I keep the lantern lit", uses: 0 });
    // the full-text index holds the user's messages (migration 005): her reply is no hit
    expect(memory.messages.search([{ word: "lantern", weight: 1 }], 5).map((h) => h.message.id)).toEqual([1]);
    memory.close();
  });

  test("a database from a newer runtime is refused, not touched", () => {
    const path = tempDb();
    const db = new Database(path);
    db.run("PRAGMA user_version = 999");
    db.close();
    expect(() => openDatabase(path)).toThrow(/newer/);
  });
});

describe("messages and episodes", () => {
  test("a long silence opens a new episode; a reply stays with its prompt; episodes open on request", () => {
    let now = T0;
    const memory = openMemory(tempDb(), { clock: () => now, episodeIdleGapMs: 30 * MINUTE });
    const a = memory.messages.append("user", "good morning");
    now += 29 * MINUTE;
    const b = memory.messages.append("user", "still here");
    now += 45 * MINUTE; // the reply took its time: it still belongs with b's episode
    const reply = memory.messages.append("arianna", "so am I", MessageFlag.Trimmed);
    const c = memory.messages.append("user", "go on"); // the gap counts from the last message (the reply)
    expect(b.episodeId).toBe(a.episodeId);
    expect(reply.episodeId).toBe(a.episodeId);
    expect(reply.flags).toBe(MessageFlag.Trimmed);
    expect(c.episodeId).toBe(a.episodeId);
    now += 31 * MINUTE;
    const d = memory.messages.append("user", "evening");
    expect(d.episodeId).toBe(a.episodeId + 1);
    const requested = memory.episodes.open(now);
    expect(memory.episodes.open(now).id).toBe(requested.id); // an empty episode is reused
    const e = memory.messages.append("user", "a new chapter");
    expect(e.episodeId).toBe(requested.id);
    expect(memory.episodes.list().map((x) => x.messages)).toEqual([1, 1, 4]);
    memory.close();
  });

  test("recent turns and full-text search over the user's whole history", () => {
    const memory = openMemory(tempDb());
    memory.atomically(() => {
      memory.messages.append("user", "tell me about the lighthouse keeper");
      for (let i = 0; i < 50; i++) memory.messages.append(i % 2 ? "arianna" : "user", `filler line ${i}`);
      memory.messages.append("user", 'a "quoted" word and an apostrophe\'s edge');
    });
    expect(memory.messages.recent(3).map((m) => m.text)).toEqual([
      'a "quoted" word and an apostrophe\'s edge',
      "filler line 49",
      "filler line 48",
    ]);
    const terms = (...words: string[]) => words.map((word) => ({ word, weight: 1 }));
    expect(memory.messages.search(terms("lighthouse", "nothing"), 3).map((h) => h.message.id)).toEqual([1]);
    // hits stay out of the recent window
    expect(memory.messages.search(terms("lighthouse"), 3, 1)).toEqual([]);
    // words are quoted for FTS5: syntax characters are harmless
    expect(memory.messages.search(terms('"quoted"', "apostrophe's", "OR", "NEAR("), 3).length).toBe(1);
    // more (and heavier) matching words rank higher; newer first on ties; her lines (odd) are no hits
    expect(memory.messages.search([{ word: "filler", weight: 1 }, { word: "8", weight: 5 }], 3).map((h) => h.message.text)).toEqual([
      "filler line 8",
      "filler line 48",
      "filler line 46",
    ]);
    expect(memory.messages.search(terms("49"), 3)).toEqual([]);
    memory.close();
  });

  test("the idle merge keeps the full-text index at a few segments and every search's hits as they were", () => {
    // one segment per user message's commit, as turns write them; one database merged after each, one not
    const merged = openMemory(tempDb());
    const unmerged = openMemory(tempDb());
    const segments = (memory: typeof merged) =>
      (memory.db.query("SELECT count(DISTINCT id >> 37) AS n FROM user_messages_fts_data WHERE id >= 1 << 37").get() as { n: number }).n;
    const words = ["lantern", "river", "stone", "bread", "winter", "letter", "garden", "quiet"];
    for (let i = 0; i < 120; i++) {
      const text = `${words[i % 8]} ${words[(i * 3) % 8]} line ${i}`;
      for (const memory of [merged, unmerged]) memory.atomically(() => memory.messages.append(i % 2 ? "arianna" : "user", text));
      merged.messages.mergeIndex();
    }
    expect(segments(unmerged)).toBeGreaterThan(5);
    expect(segments(merged)).toBeLessThanOrEqual(3);
    for (const query of [["lantern"], ["river", "quiet"], ["stone", "8", "bread"], ["line", "winter"]]) {
      const terms = query.map((word, i) => ({ word, weight: i + 1 }));
      for (const before of [undefined, 60, 7]) {
        const ids = (memory: typeof merged) => memory.messages.search(terms, 4, before, { perTerm: 5 }).map((h) => h.message.id);
        expect(ids(merged)).toEqual(ids(unmerged));
      }
    }
    merged.close();
    unmerged.close();
  });

  test("everything survives closing and reopening the file", () => {
    const path = tempDb();
    const first = openMemory(path);
    first.messages.append("user", "remember the blue door");
    first.close();
    const second = openMemory(path);
    expect(second.messages.recent(1)[0].text).toBe("remember the blue door");
    expect(second.messages.search([{ word: "door", weight: 1 }], 1).length).toBe(1);
    second.close();
  });
});
