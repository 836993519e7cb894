/**
 * db-refusal.test.ts — a start never silently replaces, adopts or runs on a
 * broken conversation (issue 15, cases 4 and 5), on real SQLite files: a
 * 0-byte database beside its WAL, a backup restored beside a stale WAL, a
 * foreign SQLite file, a file that is not SQLite, and a migration backup cut
 * short. The service itself says each in one line and exits.
 */
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseRefused, openDatabase, openMemory, SCHEMA_VERSION } from "../src/memory/index.ts";
import { tempDir } from "../tools/reliability/service.ts";
import { runBun } from "./support/run-bun.ts";

const root = tempDir("dbref");
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const home = () => {
  const h = join(root, `h${++n}`);
  mkdirSync(h, { recursive: true });
  return h;
};
const dbIn = (h: string) => join(h, "resonance.sqlite3");

/** A conversation of `messages` user lines, left open so its WAL still holds them; returns the connection. */
function conversation(path: string, messages: number): ReturnType<typeof openMemory> {
  const memory = openMemory(path);
  memory.db.run("PRAGMA wal_autocheckpoint = 0");
  for (let i = 0; i < messages; i++) memory.atomically(() => memory.messages.append("user", `message ${i}`));
  return memory;
}

const refusal = (path: string) => {
  try {
    openMemory(path).close();
    return null;
  } catch (e) {
    return e as Error;
  }
};

describe("a start refuses, in one line, instead of losing or adopting", () => {
  test("a 0-byte database beside a WAL holding the conversation is refused, and both are left as they were", () => {
    const h = home();
    const live = conversation(join(h, "live.sqlite3"), 20);
    writeFileSync(dbIn(h), "");
    copyFileSync(join(h, "live.sqlite3-wal"), dbIn(h) + "-wal");
    live.close();
    const walBytes = statSync(dbIn(h) + "-wal").size;
    const e = refusal(dbIn(h));
    expect(e).toBeInstanceOf(DatabaseRefused);
    expect(e!.message).toContain(dbIn(h));
    expect(e!.message).toMatch(/is empty but resonance\.sqlite3-wal .* holds \d+ bytes/);
    expect(statSync(dbIn(h)).size).toBe(0);
    expect(statSync(dbIn(h) + "-wal").size).toBe(walBytes);
  });

  test("a 0-byte database beside its backup is refused", () => {
    const h = home();
    writeFileSync(dbIn(h), "");
    writeFileSync(dbIn(h) + ".bak", "x");
    expect(refusal(dbIn(h))?.message).toMatch(/is empty but resonance\.sqlite3\.bak exists/);
  });

  test("a backup restored beside a stale WAL fails quick_check and is refused", () => {
    const h = home();
    const memory = conversation(dbIn(h), 5);
    memory.db.run("PRAGMA wal_checkpoint(TRUNCATE)");
    memory.db.run(`VACUUM INTO '${dbIn(h)}.bak'`);
    // the conversation goes on (its pages in the WAL), then the backup is restored over the file, the WAL left behind
    for (let i = 0; i < 300; i++) memory.atomically(() => memory.messages.append("user", `later message ${i} ${"x".repeat(200)}`));
    copyFileSync(dbIn(h) + "-wal", join(h, "stale-wal"));
    memory.close();
    copyFileSync(dbIn(h) + ".bak", dbIn(h));
    copyFileSync(join(h, "stale-wal"), dbIn(h) + "-wal");
    rmSync(dbIn(h) + "-shm", { force: true });
    const e = refusal(dbIn(h));
    expect(e).toBeInstanceOf(DatabaseRefused);
    // (how far SQLite gets before it notices depends on the page size: the table list, or quick_check)
    expect(e!.message).toMatch(/(fails its quick_check|is not a readable SQLite database) .*move resonance\.sqlite3-wal and resonance\.sqlite3-shm aside/);
  });

  test("a foreign SQLite file is not adopted", () => {
    const h = home();
    const foreign = new Database(dbIn(h));
    foreign.run("CREATE TABLE cookies (host TEXT, value TEXT)");
    foreign.run("INSERT INTO cookies VALUES ('a', 'b')");
    foreign.close();
    const e = refusal(dbIn(h));
    expect(e).toBeInstanceOf(DatabaseRefused);
    expect(e!.message).toMatch(/an SQLite database of something else \(tables cookies\)/);
    const check = new Database(dbIn(h), { readonly: true });
    expect(check.query("SELECT name FROM sqlite_master WHERE type = 'table'").all()).toEqual([{ name: "cookies" }]);
    check.close();
  });

  test("a file that is not SQLite is refused", () => {
    const h = home();
    writeFileSync(dbIn(h), "this is not a database, it is a shopping list\n".repeat(100));
    const e = refusal(dbIn(h));
    expect(e).toBeInstanceOf(DatabaseRefused);
    expect(e!.message).toContain(dbIn(h));
  });

  test("a migration backup cut short (a partial .bak, a stray temp file) is replaced by a whole one before migrating", () => {
    const h = home();
    const old = openDatabase(dbIn(h), { schemaVersion: 1 });
    old.run("INSERT INTO episodes (id, started_at) VALUES (1, 0)");
    old.run("INSERT INTO messages (ts, role, text, episode_id) VALUES (0, 'user', 'before the upgrade', 1)");
    old.close();
    writeFileSync(dbIn(h) + ".bak", "SQLite format 3\0 partial");
    writeFileSync(dbIn(h) + ".bak.tmp", "half a VACUUM INTO");
    const upgraded = openMemory(dbIn(h));
    upgraded.close();
    expect(existsSync(dbIn(h) + ".bak.tmp")).toBe(false);
    const bak = new Database(dbIn(h) + ".bak", { readonly: true });
    expect((bak.query("PRAGMA user_version").get() as { user_version: number }).user_version).toBe(1);
    expect(bak.query("SELECT text FROM messages").all()).toEqual([{ text: "before the upgrade" }]);
    bak.close();
    expect(SCHEMA_VERSION).toBeGreaterThan(1);
  });

  test("the service says it in one line naming the file, and exits", async () => {
    const h = home();
    const foreign = new Database(dbIn(h));
    foreign.run("CREATE TABLE cookies (host TEXT)");
    foreign.close();
    const r = await runBun("src/main.ts", {
      env: { ARIANNA_HOME: h, ARIANNA_HOST: "127.0.0.1", ARIANNA_PORT: "0", ARIANNA_THREADS: "1", NOTIFY_SOCKET: "", WATCHDOG_USEC: "" },
      deadlineMs: 30_000,
    });
    const out = r.stdout + r.stderr;
    expect(r.code).toBe(2);
    const errors = out.split("\n").filter((l) => /^<3>|error/i.test(l));
    expect(errors.length).toBe(1);
    expect(errors[0]).toContain(dbIn(h));
    expect(out).not.toMatch(/\bat .*\.ts:\d+/); // no stack, no source excerpt
  }, 40_000);
});
