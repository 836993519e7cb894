/**
 * chat.test.ts — `bun run chat` as people use it:
 *
 *  - piped stdin on its own engine (no service on the home): replies stored;
 *  - a client of the running service when one holds the home (the real
 *    `bun src/main.ts`): the turns go through HTTP, /new and /status too;
 *  - another chat with its own engine on the home is refused in one line; a
 *    lock left by a dead process is taken over;
 *  - in a real terminal (a tmux pty): the prompt and the typed text show;
 *    Ctrl-C stops a reply under way (a stand-in model that writes one sentence
 *    and then waits, behind an in-test server): what was shown is what is
 *    stored, and a turn stopped before its first word stores no placeholder.
 *
 * The pty tests are skipped, with a note, where tmux is not installed.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { homePaths, REPO_ROOT } from "../src/config/runtime.ts";
import { TurnCancelled } from "../src/orchestrator/index.ts";
import { acquireHomeLock, LOCK_FILE, type HomeLock } from "../src/service/home-lock.ts";
import { writeModelDir } from "../tools/gen-model.ts";
import { openFixture, type Fixture } from "./server-fixture.ts";
import { holdingModel } from "./support/holding-model.ts";
import { runBun } from "./support/run-bun.ts";
import { serviceForTests } from "./support/service-for-tests.ts";

const TMUX = Bun.which("tmux");
if (!TMUX) console.warn("chat: no tmux (apt-get install tmux); skipping the terminal tests");

let dir: string;
let home: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ia-chat-"));
  home = join(dir, "home");
  writeModelDir(join(home, "models", "current"), { dim: 32, hiddenDim: 64, nLayers: 1, nHeads: 2, vocabSize: 300, seqLen: 128, seed: 5 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `bun src/chat.ts` with `input` piped in, to its end (bounded). */
const chat = (input: string, env: Record<string, string> = {}) =>
  runBun("src/chat.ts", { env: { ARIANNA_HOME: home, ARIANNA_THREADS: "1", ARIANNA_SEED: "7", ...env }, stdin: input, deadlineMs: 60_000 });

/** The stored messages of a home, oldest first. */
function stored(at = home): { role: string; text: string }[] {
  const db = new Database(homePaths(at).database, { readonly: true });
  try {
    return db.query<{ role: string; text: string }, []>("SELECT role, text FROM messages ORDER BY id").all();
  } finally {
    db.close();
  }
}

describe("piped stdin", () => {
  test("on its own engine when no service runs: two turns stored, /status and /new answered", async () => {
    const r = await chat("hello there\n/status\n/new\nwho are you?\n");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("through its own engine");
    expect(r.stdout.match(/^arianna › /gm)).toHaveLength(2);
    expect(r.stdout).toMatch(/^ {2}presence \d\.\d\d/m);
    expect(r.stdout).toMatch(/^ {2}trauma \d\.\d\d · wounded words/m);
    expect(r.stdout).toContain("a new episode begins");
    const messages = stored();
    expect(messages.map((m) => m.role)).toEqual(["user", "arianna", "user", "arianna"]);
    expect(messages[2]!.text).toBe("who are you?");
  }, 60_000);

  test("a lock left by a dead process is taken over", async () => {
    writeFileSync(join(home, LOCK_FILE), JSON.stringify({ pid: 2 ** 22 + 1, role: "service", startedAt: 1, url: "http://127.0.0.1:9" }));
    const before = stored().length;
    const r = await chat("still here?\n");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("through its own engine");
    expect(stored().length).toBe(before + 2);
  }, 60_000);

  test("another chat with its own engine on the home: refused in one line", async () => {
    const lock = acquireHomeLock(home, "chat") as HomeLock;
    try {
      const r = await chat("hello\n");
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.trimEnd().split("\n")).toEqual([
        `<3>ARIANNA_HOME=${home} is in use by a \`bun run chat\` with its own engine, pid ${process.pid}: one engine per home; stop it, or set another ARIANNA_HOME`,
      ]);
    } finally {
      lock.release();
    }
  }, 60_000);

  describe("with the service running on the home", () => {
    const svc = serviceForTests(() => home, { env: { ARIANNA_LOG: "access" }, stop: "SIGTERM" });

    test("the chat is its client: turns, /new and /status go over HTTP", async () => {
      const before = stored().length;
      const r = await chat("through the service\n/new\n/status\n");
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`through the service at ${svc.url}`);
      expect(r.stdout).toMatch(/^ {2}presence \d\.\d\d/m);
      const history = await (await fetch(`${svc.url}/api/history?limit=2`)).json();
      expect(history.messages.map((m: { role: string }) => m.role)).toEqual(["arianna", "user"]);
      expect(history.messages[1].text).toBe("through the service");
      expect(stored().length).toBe(before + 2);
      for (const request of ["POST /api/chat 200", "POST /api/episodes 201", "GET /api/status 200"])
        expect(svc.log.some((l) => l.includes(request))).toBe(true);
    }, 60_000);
  });
});

// ---------------------------------------------------------------------------
// A real terminal

/** What the stand-in model writes (then it waits until it is stopped). */
let sentence = "";

// ---- tmux: a real pty, typed into and read back
const socket = `ia-chat-test-${process.pid}`;
const tmux = (...args: string[]) => Bun.spawnSync([TMUX!, "-L", socket, ...args], { env: { ...process.env, TERM: "xterm-256color" } });
/** the screen, without the blank rows below the cursor and the prompt's trailing space */
const pane = (name: string) => tmux("capture-pane", "-p", "-J", "-t", name).stdout.toString().trimEnd();
async function waitFor(name: string, pattern: RegExp, ms = 30_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const text = pane(name);
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`the pane never showed ${pattern}:\n${text}`);
    await Bun.sleep(50);
  }
}
const open = (name: string, chatHome: string) =>
  tmux("new-session", "-d", "-s", name, "-x", "160", "-y", "40",
    `cd ${REPO_ROOT} && ARIANNA_HOME=${chatHome} ARIANNA_THREADS=1 ${process.execPath} src/chat.ts; echo "chat exited $?"; sleep 60`);

afterAll(() => TMUX && tmux("kill-server"));

test.skipIf(!TMUX)("in a real terminal: the prompt and the typed text show; Ctrl-C at the prompt leaves", async () => {
  open("own", home);
  await waitFor("own", /\nyou ›$/);
  tmux("send-keys", "-t", "own", "-l", "can you see me typing");
  await waitFor("own", /^you › can you see me typing$/m); // echoed as it is typed
  tmux("send-keys", "-t", "own", "Enter");
  const shown = await waitFor("own", /presence \d\.\d\d[^\n]*\nyou ›$/);
  expect(shown).toMatch(/^you › can you see me typing\narianna › .+\n  presence/m);
  expect(stored().at(-2)).toEqual({ role: "user", text: "can you see me typing" });
  tmux("send-keys", "-t", "own", "C-c");
  await waitFor("own", /chat exited 0/);
}, 60_000);

describe("Ctrl-C while she writes (a client of a service whose model waits)", () => {
  let f: Fixture;
  let lock: HomeLock;
  beforeAll(async () => {
    f = await openFixture("chat-stop", { wrap: (engine) => holdingModel(engine, () => sentence) });
    const fixtureHome = f.session.config.home;
    lock = acquireHomeLock(fixtureHome, "service") as HomeLock;
    lock.publish(f.listen().url);
  });
  afterAll(async () => {
    lock.release();
    await f.close();
  });

  test.skipIf(!TMUX)("in a real terminal, Ctrl-C stops the reply: what was shown is what is stored", async () => {
    sentence = "I am here with you. ";
    open("stop", f.session.config.home);
    await waitFor("stop", /\nyou ›$/);
    tmux("send-keys", "-t", "stop", "-l", "say something");
    tmux("send-keys", "-t", "stop", "Enter");
    await waitFor("stop", /^arianna › I am here with you\.$/m);
    tmux("send-keys", "-t", "stop", "C-c");
    await waitFor("stop", /\n {2}\(stopped: what she wrote is kept\)\nyou ›$/);
    // the session commits after the generation ends: wait for the reply row
    const deadline = Date.now() + 10_000;
    while (f.session.memory.messages.recent(1)[0]?.role !== "arianna" && Date.now() < deadline) await Bun.sleep(20);
    expect(f.session.memory.messages.recent(2).map((m) => [m.role, m.text]).reverse()).toEqual([
      ["user", "say something"], ["arianna", "I am here with you."],
    ]);
    tmux("send-keys", "-t", "stop", "-l", "/quit");
    tmux("send-keys", "-t", "stop", "Enter");
    await waitFor("stop", /chat exited 0/);
  }, 60_000);

  test("a turn stopped before its first word stores the user message and no placeholder", async () => {
    sentence = "";
    const abort = new AbortController();
    const before = f.session.memory.messages.count();
    const turn = f.session.turn("are you there?", { signal: abort.signal, onStored: () => abort.abort() });
    expect(await turn.catch((e) => e)).toBeInstanceOf(TurnCancelled);
    expect(f.session.memory.messages.count()).toBe(before + 1);
    expect(f.session.memory.messages.recent(1)[0]).toMatchObject({ role: "user", text: "are you there?" });
  }, 30_000);
});
