/**
 * service.test.ts — src/service: the journald logger and the systemd notifier.
 *
 * The end-to-end part plays systemd: a python3 helper binds a unix datagram
 * socket (Bun has none), reads each notification with its SCM_CREDENTIALS
 * (the sender's pid, as systemd checks it for NotifyAccess=main), and prints
 * them as JSON lines. A Bun child process started with $NOTIFY_SOCKET and
 * WATCHDOG_USEC=400000 opens a real Engine on a tiny generated model, sends
 * READY=1, is pinged from the engine Worker every 200 ms, generates in
 * between, and ends with STOPPING=1. Last, the real service: `bun src/main.ts`
 * gets the same treatment and is stopped with SIGTERM, as systemd would.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, type Level } from "../src/service/log.ts";
import { startServiceNotifier, watchdogUsec, type Notifying } from "../src/service/watchdog.ts";
import { writeModelDir } from "../tools/gen-model.ts";
import { waitFor } from "./support/wait.ts";
import { REPO_ROOT as ROOT } from "../src/config/paths.ts";

const CI = !!process.env.CI && process.env.CI !== "false";
const PYTHON = Bun.which("python3");

const quiet = createLogger({ write: () => {} });

describe("log", () => {
  function capture(opts: { prefix?: boolean; debug?: boolean }) {
    const lines: [Level, string][] = [];
    const log = createLogger({ ...opts, write: (line, level) => lines.push([level, line]) });
    return { log, lines };
  }

  test("sd-daemon priority prefixes, one per line", () => {
    const { log, lines } = capture({ prefix: true, debug: true });
    log.error("boom");
    log.warn("careful");
    log.notice("note");
    log.info("two\nlines");
    log.debug("dbg");
    expect(lines).toEqual([
      ["error", "<3>boom\n"], ["warn", "<4>careful\n"], ["notice", "<5>note\n"],
      ["info", "<6>two\n<6>lines\n"], ["debug", "<7>dbg\n"],
    ]);
  });

  test("plain on a terminal; debug only when asked", () => {
    const { log, lines } = capture({ prefix: false, debug: false });
    log.info("hello");
    log.warn("careful");
    log.debug("hidden");
    expect(lines).toEqual([["info", "hello\n"], ["warn", "warn: careful\n"]]);
  });
});

describe("watchdog (fake engine)", () => {
  function fake(answer = true) {
    const sent: string[] = [];
    const waiting: (() => void)[] = [];
    let pingPending = false;
    const engine: Notifying = {
      notify(state) {
        sent.push(state);
        if (answer) return Promise.resolve(1);
        return new Promise((r) => waiting.push(() => r(1))); // a stuck engine thread
      },
      keepAlive() {
        if (pingPending) return "pending";
        sent.push("WATCHDOG=1");
        pingPending = !answer;
        if (pingPending) waiting.push(() => (pingPending = false));
        return "ok";
      },
    };
    return { engine, sent, release: () => waiting.splice(0).forEach((w) => w()) };
  }

  test("WATCHDOG_USEC and WATCHDOG_PID", () => {
    expect(watchdogUsec({}, 7)).toBeNull();
    expect(watchdogUsec({ WATCHDOG_USEC: "0" }, 7)).toBeNull();
    expect(watchdogUsec({ WATCHDOG_USEC: "junk" }, 7)).toBeNull();
    expect(watchdogUsec({ WATCHDOG_USEC: "30000000" }, 7)).toBe(30_000_000);
    expect(watchdogUsec({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "7" }, 7)).toBe(30_000_000);
    expect(watchdogUsec({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "8" }, 7)).toBeNull();
  });

  test("a no-op without NOTIFY_SOCKET", async () => {
    const { engine, sent } = fake();
    const svc = startServiceNotifier(engine, { log: quiet, env: { WATCHDOG_USEC: "20000" } });
    expect(svc.active).toBe(false);
    expect(svc.pingMs).toBeNull();
    await svc.ready("x");
    await svc.status("y");
    await Bun.sleep(30);
    await svc.stopping();
    expect(sent).toEqual([]);
  });

  test("no pings when WATCHDOG_PID names another process", async () => {
    const { engine, sent } = fake();
    const env = { NOTIFY_SOCKET: "/nowhere", WATCHDOG_USEC: "20000", WATCHDOG_PID: "1" };
    const svc = startServiceNotifier(engine, { log: quiet, env, pid: 4242 });
    expect(svc.pingMs).toBeNull();
    await svc.ready("up");
    await Bun.sleep(50);
    await svc.stopping("bye");
    expect(sent).toEqual(["READY=1\nSTATUS=up", "STOPPING=1\nSTATUS=bye"]);
  });

  test("a stuck engine gets no more pings queued behind it, and stopping ends them", async () => {
    const { engine, sent, release } = fake(false);
    const env = { NOTIFY_SOCKET: "/nowhere", WATCHDOG_USEC: "20000" };
    const svc = startServiceNotifier(engine, { log: quiet, env });
    expect(svc.pingMs).toBe(10);
    void svc.ready("multi\nline status");
    await Bun.sleep(80);
    // READY=1 itself is waiting: nothing else may pile up behind it
    expect(sent).toEqual(["READY=1\nSTATUS=multi line status"]);
    const pings = () => sent.filter((s) => s === "WATCHDOG=1").length;
    release();
    await waitFor(() => pings() === 1, "the first ping after READY=1");
    release();
    await waitFor(() => pings() >= 2, "the next ping");
    release();
    void svc.stopping();
    release();
    const n = sent.length;
    await Bun.sleep(40);
    expect(sent.length).toBe(n);
    expect(sent.at(-1)).toBe("STOPPING=1\nSTATUS=stopping");
  });

  test("a failing notify is logged, not thrown", async () => {
    const warned: string[] = [];
    const log = createLogger({ write: (l, lv) => lv === "warn" && warned.push(l) });
    const engine: Notifying = { notify: () => Promise.reject(new Error("ECONNREFUSED")), keepAlive: () => "ok" };
    const svc = startServiceNotifier(engine, { log, env: { NOTIFY_SOCKET: "/nowhere" } });
    await svc.ready();
    expect(warned.join("")).toContain("READY=1 failed: ECONNREFUSED");
  });
});

// ---- end to end: a real socket, a real engine --------------------------------

// Binds argv[1] ('@name' = abstract), prints "listening", then one JSON line
// per datagram {t, pid, msg} until STOPPING=1 or argv[2] seconds of silence.
const LISTENER = `
import json, socket, struct, sys, time
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind("\\0" + addr[1:] if addr.startswith("@") else addr)
s.settimeout(float(sys.argv[2]))
print("listening", flush=True)
t0 = time.monotonic()
try:
    while True:
        data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = next((struct.unpack("iII", d[:12])[0] for lv, ty, d in anc
                    if lv == socket.SOL_SOCKET and ty == socket.SCM_CREDENTIALS), None)
        print(json.dumps({"t": time.monotonic() - t0, "pid": pid, "msg": data.decode()}), flush=True)
        if data.startswith(b"STOPPING=1"):
            break
except socket.timeout:
    pass
`;

// The service side: what src/main.ts does around the server.
const CHILD = `
import { Engine } from ${JSON.stringify(join(ROOT, "src/engine/index.ts"))};
import { startServiceNotifier } from ${JSON.stringify(join(ROOT, "src/service/index.ts"))};
const engine = await Engine.open({ threads: 1 });
await engine.load(process.argv[2]);
const svc = startServiceNotifier(engine);
if (svc.pingMs !== 500) throw new Error("pingMs " + svc.pingMs);
await svc.ready("serving test");
await Bun.sleep(1200);
await svc.status("generating");
// A reply that spans several ping periods on any host: pings must not wait for it to end.
// It could run 8191 tokens (EOS masked); it is cut after 2.5 s, so a fast host cannot make it short.
const started = performance.now();
const cut = AbortSignal.timeout(2500);
const gen = engine.generate("hello", { temperature: 0, maxTokens: 8191, bias: { ids: [1, 2], weights: [-1000, -1000] } }, cut);
for await (const _ of gen) {}
await svc.status("generated in " + Math.round(performance.now() - started) + " ms");
await Bun.sleep(1200);
await svc.stopping("bye");
await engine.close();
`;

interface Note { t: number; pid: number | null; msg: string }

const describeE2E = PYTHON ? describe : describe.skip;
if (!PYTHON) {
  if (CI) throw new Error("service tests: python3 is required");
  console.warn("service tests: python3 not found; skipping the notify-socket harness");
}

describeE2E("watchdog over a real $NOTIFY_SOCKET", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "arianna-svc-"));
    writeModelDir(join(dir, "model"), { dim: 256, hiddenDim: 768, nLayers: 4, nHeads: 4, vocabSize: 2000, seqLen: 8192 });
    writeFileSync(join(dir, "listener.py"), LISTENER);
    writeFileSync(join(dir, "child.ts"), CHILD);
    mkdirSync(join(dir, "run"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * Listen on socketAddr, run cmd with systemd's variables, and collect what
   * arrives. stopAfterReadyMs: send SIGTERM that long after READY=1 (as
   * systemd stops a service); otherwise the command ends by itself.
   */
  async function session(
    socketAddr: string, cmd: string[], env: Record<string, string> = {}, stopAfterReadyMs?: number,
  ): Promise<{ notes: Note[]; pid: number }> {
    const listener = Bun.spawn([PYTHON!, join(dir, "listener.py"), socketAddr, "20"], {
      stdout: "pipe", stderr: "inherit",
    });
    const reader = listener.stdout.getReader();
    const dec = new TextDecoder();
    let out = "";
    while (!out.includes("listening\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("listener exited before binding");
      out += dec.decode(value, { stream: true });
    }
    const child = Bun.spawn(cmd, {
      cwd: ROOT,
      env: { ...process.env, NOTIFY_SOCKET: socketAddr, WATCHDOG_USEC: "1000000", WATCHDOG_PID: "", ...env },
      stdout: "pipe", stderr: "pipe",
    });
    const stderr = new Response(child.stderr).text();
    let stopping = false;
    const collect = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        out += dec.decode(value, { stream: true });
        if (stopAfterReadyMs !== undefined && !stopping && out.includes('"msg": "READY=1')) {
          stopping = true;
          setTimeout(() => child.kill("SIGTERM"), stopAfterReadyMs);
        }
      }
    })();
    const code = await child.exited;
    if (code !== 0) {
      listener.kill();
      throw new Error(`${cmd.join(" ")} exited ${code}: ${await stderr}`);
    }
    await collect;
    await listener.exited;
    const notes = out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Note);
    return { notes, pid: child.pid };
  }

  const childCmd = () => [process.execPath, join(dir, "child.ts"), join(dir, "model")];

  function check({ notes, pid }: { notes: Note[]; pid: number }): void {
    const msgs = notes.map((n) => n.msg);
    expect(msgs[0]).toBe("READY=1\nSTATUS=serving test");
    expect(msgs).toContain("STATUS=generating");
    expect(msgs.at(-1)).toBe("STOPPING=1\nSTATUS=bye");
    // from the Worker thread, yet stamped with the process id: NotifyAccess=main accepts it
    for (const n of notes) expect(n.pid).toBe(pid);
    const pings = notes.filter((n) => n.msg === "WATCHDOG=1").map((n) => n.t);
    // ~2.4 s of idling plus the generation between READY and STOPPING, one ping per 500 ms
    // (WATCHDOG_USEC is 1 s: wide enough that a busy host's scheduling cannot fake a missed ping)
    expect(pings.length).toBeGreaterThanOrEqual(4);
    const genStart = notes.find((n) => n.msg === "STATUS=generating")!.t;
    const genMs = Number(/generated in (\d+) ms/.exec(msgs.find((m) => m.includes("generated in"))!)![1]);
    expect(genMs).toBeGreaterThan(2000); // the reply spans several ping periods ...
    const during = pings.filter((t) => t > genStart && t < genStart + genMs / 1000);
    expect(during.length).toBeGreaterThanOrEqual(Math.floor(genMs / 1000)); // ... and the pings go on through it
    const gaps = pings.slice(1).map((t, i) => t - pings[i]);
    expect(Math.max(...gaps)).toBeLessThan(1.0); // every one inside WATCHDOG_USEC
    const after = notes.findIndex((n) => n.msg.startsWith("STOPPING"));
    expect(notes.slice(after + 1)).toEqual([]);
  }

  test("path socket: READY=1, periodic WATCHDOG=1 from the engine, STOPPING=1", async () => {
    check(await session(join(dir, "run", "notify.sock"), childCmd()));
  }, 30_000);

  test("abstract socket ('@name')", async () => {
    check(await session(`@arianna-test-${process.pid}`, childCmd()));
  }, 30_000);

  // The real service as systemd runs it: bun src/main.ts, stopped with SIGTERM.
  test("src/main.ts: READY=1 once serving, pings, STOPPING=1 on SIGTERM", async () => {
    const home = join(dir, "home");
    writeModelDir(join(home, "models", "current"), { dim: 32, hiddenDim: 64, nLayers: 1, nHeads: 2, vocabSize: 300, seqLen: 64 });
    const { notes, pid } = await session(join(dir, "run", "main.sock"), [process.execPath, "src/main.ts"], {
      ARIANNA_HOME: home, ARIANNA_HOST: "127.0.0.1", ARIANNA_PORT: "0",
    }, 2000);
    const msgs = notes.map((n) => n.msg);
    expect(msgs[0]).toMatch(/^READY=1\nSTATUS=serving on http:\/\/127\.0\.0\.1:\d+$/);
    expect(msgs.filter((m) => m === "WATCHDOG=1").length).toBeGreaterThanOrEqual(2);
    expect(msgs.at(-1)).toMatch(/^STOPPING=1/);
    for (const n of notes) expect(n.pid).toBe(pid);
  }, 30_000);
});
