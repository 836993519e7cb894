/**
 * long-message.ts — what one long user message costs the disk (issue 15's
 * leftover): the database's growth by table, and the WAL it writes.
 *
 *   bun tools/reliability/long-message.ts [--history 400] [--cooc-tokens N]
 *
 * A fresh resonance.sqlite3 first hears `history` lines of the persona
 * corpus's dialogues (an ordinary conversation, so the vocabulary is not
 * empty), each stored and observed in its own transaction as a turn does.
 * Then trainer/corpus/method.txt (~64 KB of prose, the largest text the HTTP
 * schema takes) is stored and observed as one user message, in one
 * transaction, exactly as a turn's first commit does. Growth is measured
 * after a TRUNCATE checkpoint (pages × page size; dbstat splits it by table),
 * the WAL before it. `--cooc-tokens Infinity` counts co-occurrence over the
 * whole text, as the field did before its cap (the figures before it).
 */
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { withLeoOverrides } from "../../src/config/leo.ts";
import { Leo } from "../../src/leo/index.ts";
import { MessageFlag, openMemory, type Memory } from "../../src/memory/index.ts";
import { ROOT, tempDir } from "./service.ts";

export interface LongMessageSummary {
  messageBytes: number;
  words: number;
  /** database growth after a checkpoint, and its ratio to the message's size */
  dbBytes: number;
  amplification: number;
  walBytes: number;
  /** growth by table or index (dbstat), largest first */
  byTable: Record<string, number>;
  storeMs: number;
}

const tables = (memory: Memory) =>
  new Map(memory.db.query<{ name: string; bytes: number }, []>("SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name").all().map((r) => [r.name, r.bytes]));

const dbBytes = (memory: Memory) => {
  const { page_count } = memory.db.query<{ page_count: number }, []>("PRAGMA page_count").get()!;
  const { page_size } = memory.db.query<{ page_size: number }, []>("PRAGMA page_size").get()!;
  return page_count * page_size;
};

export function measureLongMessage(opts: { history?: number; coocTokens?: number } = {}): LongMessageSummary {
  const home = tempDir("long");
  const path = join(home, "resonance.sqlite3");
  let now = Date.UTC(2026, 0, 1);
  const clock = () => (now += 60_000);
  const memory = openMemory(path, { clock });
  try {
    const config = withLeoOverrides(opts.coocTokens === undefined ? {} : { field: { coocTokens: opts.coocTokens } });
    const leo = new Leo({ db: memory.db, home, clock, config });
    const store = (role: "user" | "arianna", text: string) =>
      memory.atomically(() => {
        leo.observe(memory.messages.append(role, text, role === "user" ? MessageFlag.Unanswered : 0));
        leo.settle();
      });
    const dialogue = readFileSync(join(ROOT, "trainer", "corpus", "dialogues.txt"), "utf8")
      .split("\n")
      .filter((line) => /^(User|Arianna): /.test(line))
      .slice(0, opts.history ?? 400);
    for (const line of dialogue) store(line.startsWith("User") ? "user" : "arianna", line.replace(/^\w+: /, ""));
    const text = readFileSync(join(ROOT, "trainer", "corpus", "method.txt"), "utf8").replace(/\s+/g, " ").trim();
    memory.db.run("PRAGMA wal_checkpoint(TRUNCATE)");
    const before = tables(memory);
    const bytesBefore = dbBytes(memory);
    const t0 = performance.now();
    store("user", text);
    const storeMs = performance.now() - t0;
    const walBytes = statSync(`${path}-wal`).size;
    memory.db.run("PRAGMA wal_checkpoint(TRUNCATE)");
    const grown = dbBytes(memory) - bytesBefore;
    const byTable = [...tables(memory)]
      .map(([name, bytes]) => [name, bytes - (before.get(name) ?? 0)] as const)
      .filter(([, d]) => d !== 0)
      .sort((a, b) => b[1] - a[1]);
    const messageBytes = Buffer.byteLength(text);
    return {
      messageBytes,
      words: text.split(" ").length,
      dbBytes: grown,
      amplification: Math.round((grown / messageBytes) * 10) / 10,
      walBytes,
      byTable: Object.fromEntries(byTable),
      storeMs: Math.round(storeMs),
    };
  } finally {
    memory.close();
    rmSync(home, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Bun.argv.slice(2), options: { history: { type: "string" }, "cooc-tokens": { type: "string" } }, strict: true,
  });
  const number = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  console.log(JSON.stringify(measureLongMessage({ history: number(values.history), coocTokens: number(values["cooc-tokens"]) }), null, 2));
}
