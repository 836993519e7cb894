/**
 * api-export.test.ts — GET /api/export is what the trainer reads: the real
 * trainer/export_dialogues.py --url against a live server turns it into
 * dialogues (skipped, with a note, where python3 is missing).
 */
import { beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fixtureForTests } from "./server-fixture.ts";

const python = Bun.which("python3");
if (!python) console.warn("api-export: python3 not found; skipping the trainer round trip");
const SCRIPT = resolve(import.meta.dir, "..", "trainer", "export_dialogues.py");

const f = fixtureForTests("export");
beforeAll(async () => {
  for (const text of ["where does the river go", "and the sea", "tell me more"]) await f.session.turn(text);
});

test.skipIf(!python)("export_dialogues.py --url reads the export into one dialogue of three exchanges", async () => {
  const { url } = f.listen();
  const outDir = join(f.root, "data");
  const proc = Bun.spawn([python!, SCRIPT, "--url", url, "--token", f.token, "--exclude-flags", "0", "--out-dir", outDir], {
    stdout: "pipe", stderr: "pipe",
  });
  const [out, err, code] = [await new Response(proc.stdout).text(), await new Response(proc.stderr).text(), await proc.exited];
  expect(err).toBe("");
  expect(code).toBe(0);
  const summary = JSON.parse(out);
  expect(summary.messages_read).toBe(6);
  expect(summary.exchanges).toBe(3);
  const dialogue = JSON.parse(readFileSync(summary.path, "utf8").trim().split("\n")[0]);
  expect(dialogue.messages.filter((m: any) => m.role === "user").map((m: any) => m.text)).toEqual(["where does the river go", "and the sea", "tell me more"]);
});

test("while the session writes, every exported message comes with its episode and its prompt", async () => {
  const writes = Promise.all(["one", "two", "three"].map((t) => f.session.turn(t)));
  const lines = (await (await f.request("/api/export")).text()).trim().split("\n").map((l) => JSON.parse(l));
  await writes;
  const messages = lines.filter((l) => l.type === "message");
  // a snapshot between commits: never a user message's reply without the user message
  const ids = new Set(messages.map((m) => m.id));
  for (const m of messages) if (m.role === "arianna") expect(ids.has(m.id - 1)).toBe(true);
  for (const m of messages) expect(lines.some((l) => l.type === "episode" && l.id === m.episode_id)).toBe(true);
});

test("each reply carries leo's quality and whether leo saved it as a snapshot", async () => {
  const lines = (await (await f.request("/api/export")).text()).trim().split("\n").map((l) => JSON.parse(l));
  const replies = lines.filter((l) => l.type === "message" && l.role === "arianna");
  expect(replies.length).toBeGreaterThan(0);
  for (const r of replies) {
    expect(typeof r.quality).toBe("number");
    const row = f.session.memory.db.query<{ n: number }, [number]>("SELECT COUNT(*) AS n FROM snapshots WHERE message_id = ?").get(r.id);
    expect(r.saved).toBe(row!.n > 0);
  }
  for (const u of lines.filter((l) => l.type === "message" && l.role === "user")) expect(u.quality).toBeNull();
});
