/**
 * turn-truth.test.ts — a turn that cannot store its reply says so, and such
 * turns never become training data. On the real engine and a real SQLite
 * file: the reply's commit is made to fail between the user message's commit
 * and the reply's (another connection holds the write lock: SQLITE_BUSY; the
 * full-disk form, SQLITE_FULL on a small tmpfs, is in tools/reliability/crash.ts),
 * and clients hang up before and during a reply.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { loadRuntimeConfig } from "../src/config/runtime.ts";
import { Engine } from "../src/engine/index.ts";
import { exportPages, MessageFlag } from "../src/memory/index.ts";
import { openSession, TurnCancelled } from "../src/orchestrator/index.ts";
import { writeModelDir } from "../tools/gen-model.ts";
import { ndjson, openFixture, type Fixture } from "./server-fixture.ts";

/** Runs once when the next generation starts: after the user message's commit, before the reply's. */
let trap: (() => void) | null = null;
const trapped = (engine: Engine) =>
  new Proxy(engine, {
    get(target, prop) {
      if (prop === "generate")
        return (...args: Parameters<Engine["generate"]>) => {
          const spring = trap;
          trap = null;
          spring?.();
          return target.generate(...args);
        };
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });

let fx: Fixture;
let db: Database;
beforeAll(async () => {
  fx = await openFixture("turn-truth", { wrap: trapped });
  db = fx.session.memory.db;
});
afterAll(() => fx.close());

const chat = (content: string, stream: boolean) =>
  fx.post("/api/chat", { messages: [{ role: "user", content }], stream, options: { num_predict: 8 } });
const userRow = (text: string) => db.query<{ id: number; flags: number }, [string]>("SELECT id, flags FROM messages WHERE role = 'user' AND text = ?").get(text);
const replyAfter = (id: number) => db.query<{ text: string; flags: number }, [number]>("SELECT text, flags FROM messages WHERE id = ? AND role = 'arianna'").get(id + 1);

describe("a reply that cannot be stored", () => {
  test("streamed: the in-band error says the message was stored", async () => {
    const other = new Database(db.filename);
    try {
      trap = () => other.run("BEGIN IMMEDIATE");
      const res = await chat("question two, reply blocked", true);
      const lines = await ndjson(res);
      other.run("ROLLBACK");
      expect(res.status).toBe(200);
      expect(lines.at(-1).error).toMatch(/your message was stored .* do not send it again/);
      expect(userRow("question two, reply blocked")!.flags & MessageFlag.Unanswered).toBeTruthy();
    } finally {
      other.close();
    }
  }, 30_000);

  test("a turn that stores its reply clears the flag", async () => {
    const res = await chat("an ordinary question", false);
    expect(res.status).toBe(200);
    const user = userRow("an ordinary question")!;
    expect(user.flags & (MessageFlag.Unanswered | MessageFlag.Cancelled)).toBe(0);
    expect(replyAfter(user.id)).not.toBeNull();
  }, 30_000);

  test("non-streamed, a writer lock held past the busy timeout: 503 with Retry-After, and the truth about what was stored", async () => {
    const other = new Database(db.filename);
    try {
      // held from before the request: nothing is stored
      other.run("BEGIN IMMEDIATE");
      let res = await chat("blocked before it was stored", false);
      other.run("ROLLBACK");
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("5");
      expect(((await res.json()) as { error: string }).error).toMatch(/nothing was stored/);
      expect(userRow("blocked before it was stored")).toBeNull();
      // taken while the reply is generated: the message is stored, the reply is not
      trap = () => other.run("BEGIN IMMEDIATE");
      res = await chat("blocked before its reply", false);
      other.run("ROLLBACK");
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("5");
      expect(((await res.json()) as { error: string }).error).toMatch(/your message was stored/);
      expect(userRow("blocked before its reply")!.flags & MessageFlag.Unanswered).toBeTruthy();
    } finally {
      other.close();
    }
  }, 40_000);
});

describe("a client that hangs up", () => {
  test("before the first word: no placeholder reply is stored", async () => {
    const abort = new AbortController();
    const failed = await fx.session.turn("goodbye before a word", { signal: abort.signal, onStored: () => abort.abort() })
      .then(() => null, (e: Error) => e);
    expect(failed).toBeInstanceOf(TurnCancelled);
    const user = userRow("goodbye before a word")!;
    expect(user.flags & MessageFlag.Unanswered).toBeTruthy();
    expect(replyAfter(user.id)).toBeNull();
    expect(db.query("SELECT 1 FROM messages WHERE role = 'arianna' AND text = '…'").get()).toBeNull();
  }, 30_000);

  test("mid-reply: the partial reply and its user message are flagged cancelled, and not exported", async () => {
    // a kernel slow enough (~1 ms a token) that the hang-up lands mid-reply, not after it
    const dir = join(fx.root, "slower-model");
    writeModelDir(dir, { dim: 256, hiddenDim: 768, nLayers: 4, nHeads: 8, vocabSize: 512, seqLen: 512, seed: 2 });
    const engine = await Engine.open({ threads: 1 });
    await engine.load(dir);
    const session = await openSession({ model: engine, modelDir: dir, config: loadRuntimeConfig({ ARIANNA_HOME: join(fx.root, "slower-home") }), overthink: false });
    try {
      const abort = new AbortController();
      const r = await session.turn("goodbye mid-reply", { signal: abort.signal, onToken: () => abort.abort() });
      expect(r.stats.stopReason).toBe("cancelled");
      expect(r.text).not.toBe("…");
      const rows = session.memory.messages.recent(2);
      expect(rows.map((m) => m.role)).toEqual(["arianna", "user"]);
      for (const m of rows) expect(m.flags & MessageFlag.Cancelled).toBeTruthy();
      expect(rows[1]!.flags & MessageFlag.Unanswered).toBe(0);
      expect([...exportPages(session.memory.db.filename)].join("")).not.toContain("goodbye mid-reply");
    } finally {
      await session.close();
      await engine.close();
    }
  }, 60_000);

  test("/api/export leaves out unanswered and cancelled turns", async () => {
    const lines = await ndjson(await fx.request("/api/export"));
    const texts = lines.filter((l) => l.type === "message").map((l) => l.text as string);
    expect(texts).toContain("an ordinary question");
    for (const t of ["question two, reply blocked", "blocked before its reply", "goodbye before a word"])
      expect(texts).not.toContain(t);
    for (const l of lines.filter((l) => l.type === "message")) expect(l.flags & (MessageFlag.Unanswered | MessageFlag.Cancelled)).toBe(0);
  }, 30_000);
});
