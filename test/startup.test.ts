/**
 * startup.test.ts — `bun run start` as an operator meets it: every wrong
 * setting is one `error` line and exit status 2 (no stack trace), `--help`
 * lists every setting, the README's table names them all, the access log
 * comes when asked, and ARIANNA_HOME has one engine at a time (a second
 * start is refused, a dead holder's lock is taken over).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ENVIRONMENT, REPO_ROOT } from "../src/config/runtime.ts";
import { LOCK_FILE } from "../src/service/home-lock.ts";
import { startService } from "../tools/reliability/service.ts";
import { writeModelDir } from "../tools/gen-model.ts";
import { runBun } from "./support/run-bun.ts";
import { serviceForTests } from "./support/service-for-tests.ts";

let dir: string;
let home: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ia-startup-"));
  home = join(dir, "home");
  writeModelDir(join(home, "models", "current"), { dim: 32, hiddenDim: 64, nLayers: 1, nHeads: 2, vocabSize: 300, seqLen: 64 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `bun src/main.ts` to its end (bounded): exit status and what it wrote. */
const start = (env: Record<string, string>, args: string[] = []) =>
  runBun("src/main.ts", {
    args,
    env: { ARIANNA_HOME: home, ARIANNA_HOST: "127.0.0.1", ARIANNA_PORT: "0", ARIANNA_THREADS: "1", NOTIFY_SOCKET: "", ...env },
    deadlineMs: 30_000,
  });

/** The refusal: exit 2, exactly one line on stderr (journald's error priority), no stack. */
function expectOneLine(r: { code: number; stderr: string }, pattern: RegExp) {
  expect(r.code).toBe(2);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^<3>/);
  expect(lines[0]).toMatch(pattern);
}

describe("configuration errors: one line each", () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ["a port that is not a number", { ARIANNA_PORT: "abc" }, /ARIANNA_PORT="abc": expected a port number/],
    ["a port out of range", { ARIANNA_PORT: "70000" }, /ARIANNA_PORT="70000"/],
    ["threads that are not a number", { ARIANNA_THREADS: "lots" }, /ARIANNA_THREADS="lots": expected a whole number/],
    ["zero threads", { ARIANNA_THREADS: "0" }, /ARIANNA_THREADS="0"/],
    ["a seed that is not a whole number", { ARIANNA_SEED: "1.5" }, /ARIANNA_SEED="1.5"/],
    ["an unknown log level", { ARIANNA_LOG: "verbose" }, /ARIANNA_LOG="verbose": expected error, warn, notice, info, debug and\/or access/],
    ["a home that is a file", { ARIANNA_HOME: "FILE" }, /ARIANNA_HOME=.*: cannot write there \(it is a file, not a directory\)/],
    ["a library that does not exist", { ARIANNA_LIB: "/nonexistent/libarianna.so" }, /cannot start the engine: ARIANNA_LIB=\/nonexistent\/libarianna.so: no such file/],
  ];
  for (const [what, env, pattern] of cases) {
    test(what, async () => {
      if (env.ARIANNA_HOME === "FILE") writeFileSync((env.ARIANNA_HOME = join(dir, "a-file")), "");
      expectOneLine(await start(env), pattern);
    }, 40_000);
  }

  test("an unknown argument", async () => {
    expectOneLine(await start({}, ["--port", "3"]), /unknown argument "--port" \(try --help\)/);
  }, 40_000);
});

test("--help prints every setting and exits without starting", async () => {
  const r = await start({ ARIANNA_PORT: "abc" }, ["--help"]); // help wins over a bad setting
  expect(r.code).toBe(0);
  expect(r.stdout).toStartWith("usage: bun run start");
  for (const e of ENVIRONMENT) expect(r.stdout).toContain(e.name);
  expect(r.stdout).not.toContain("listening");
});

test("the README's settings table names every environment variable the runtime reads", () => {
  const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  const table = readme.split("\n").filter((l) => l.startsWith("| `ARIANNA_")).join("\n");
  for (const e of ENVIRONMENT) expect(table).toContain(`\`${e.name}\``);
});

describe("the running service", () => {
  const svc = serviceForTests(() => home, { env: { ARIANNA_LOG: "access" }, stop: "SIGKILL" });

  test("ARIANNA_LOG=access writes method, path, status and milliseconds for each request", async () => {
    expect((await fetch(`${svc.url}/health`)).status).toBe(200);
    expect((await fetch(`${svc.url}/no/such/route?x=1`)).status).toBe(404);
    const deadline = Date.now() + 5_000;
    while (!svc.log.some((l) => l.includes("/no/such/route")) && Date.now() < deadline) await Bun.sleep(20);
    expect(svc.log).toContainEqual(expect.stringMatching(/^<6>GET \/health 200 \d+\.\dms$/));
    expect(svc.log).toContainEqual(expect.stringMatching(/^<6>GET \/no\/such\/route 404 \d+\.\dms$/)); // no query string
  });

  test("a second engine on the same home is refused, naming the holder", async () => {
    const lock = JSON.parse(readFileSync(join(home, LOCK_FILE), "utf8"));
    expect(lock).toMatchObject({ pid: svc.proc.pid, role: "service", url: svc.url });
    expectOneLine(await start({}), new RegExp(`is in use by the service at ${svc.url}, pid ${svc.proc.pid}: one engine per home`));
  }, 40_000);

  test("a port in use is one line", async () => {
    const port = new URL(svc.url).port;
    expectOneLine(await start({ ARIANNA_HOME: join(dir, "other-home"), ARIANNA_PORT: port }), new RegExp(`cannot listen on 127.0.0.1:${port}: the port is in use`));
  }, 40_000);

  test("the lock of a killed service is taken over by the next start", async () => {
    await svc.kill("SIGKILL");
    Object.assign(svc, await startService(home));
    expect(JSON.parse(readFileSync(join(home, LOCK_FILE), "utf8")).pid).toBe(svc.proc.pid);
  }, 60_000);
});
