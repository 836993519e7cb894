/**
 * crash.ts — crash safety of the real service (issue 7, item 1).
 *
 *   bun tools/reliability/crash.ts [--turns 200] [--quick] [--seed N] [--no-full-disk] [--full-disk-only]
 *
 * Starts `bun src/main.ts` on a temp ARIANNA_HOME with a tiny generated kernel
 * (models/current -> a versioned directory), sends streamed chat turns with
 * unique texts and SIGKILLs the process at random points:
 *   headers     right after the response status arrived (before any body byte)
 *   generation  after the first streamed byte, or after a random number of tokens
 *   commit      right after the final chunk (the reply has just been stored)
 *   reload      a new kernel dropped into models/current (plain rsync-style
 *               rename into the directory, or a versioned directory + switch of
 *               the `current` link), killed 0-700 ms later: inside the debounce,
 *               the copy, the verification or the swap
 * After each kill: the database (a copy, recovered there) passes
 * PRAGMA integrity_check, every acknowledged user message (a 200 status or a
 * first streamed byte) is in it, the service restarts, serves a kernel, and the
 * next turn succeeds.
 *
 * Full disk: a small tmpfs mounted as ARIANNA_HOME (a loop-mounted ext4 image
 * if tmpfs cannot be mounted) is filled to the last byte while the service
 * runs; turns must get a clear error (status and message are reported), the
 * service must stay up, and after the space is freed the database is intact
 * and turns work again.
 *
 * Prints a JSON summary; exits 1 when anything was lost or broken.
 */
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, renameSync, rmSync, unlinkSync, writeSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  chatTurn, checkDatabase, getJson, poll, rng, startService, switchCurrent, tempDir, TINY, writeKernel, type Service, type TurnResult,
} from "./service.ts";

export type KillKind = "headers" | "generation" | "commit" | "reload";

export interface CrashSummary {
  turns: number;
  kills: Record<KillKind, number>;
  restarts: number;
  acknowledged: number;
  ackByStatusOnly: number;
  verified: number;
  lost: number;
  integrityFailures: number;
  failedTurns: number;
  reloadKernelsAfterRestart: Record<string, number>;
  failures: string[];
  seconds: number;
}

/**
 * One piece on purpose: a single service is killed and restarted across the turns, and every step
 * (the kill kind drawn, the turn raced against it, the check after the restart, the final tally)
 * reads and updates the same state: the live service, the kernel models/current holds, the
 * acknowledged texts. The helpers above it (switchTo, rsyncInto, verifyAfterKill) close over it.
 */
export async function runCrash(opts: { turns: number; seed?: number; numPredict?: number; log?: (s: string) => void }): Promise<CrashSummary> {
  const t0 = performance.now();
  const say = opts.log ?? (() => {});
  const rand = rng(opts.seed ?? 20261124);
  const root = tempDir("crash");
  const home = join(root, "home");
  const models = join(home, "models");
  mkdirSync(models, { recursive: true });
  // two kernels (A, B) kept outside models/, dropped in by the reload kills
  const kernels = [join(root, "kA"), join(root, "kB")];
  const shas = [await writeKernel(kernels[0]!, TINY, "A"), await writeKernel(kernels[1]!, { ...TINY, seed: 2 }, "B")].map((k) => k.sha256);
  let version = 0;
  const switchTo = (k: number) => {
    // the trainer's deploy: a fresh versioned directory, then an atomic switch of the link
    const dir = join(models, `v${++version}`);
    mkdirSync(dir);
    for (const f of ["model.bin", "tokenizer.bin", "manifest.json"]) copyFileSync(join(kernels[k]!, f), join(dir, f));
    switchCurrent(models, `v${version}`);
  };
  const rsyncInto = (k: number) => {
    // rsync's default mode: a temp file next to the target, renamed over it
    const dir = join(models, "current");
    for (const f of ["tokenizer.bin", "model.bin", "manifest.json"]) {
      const tmp = join(dir, `.${f}.Ab12Cd`);
      copyFileSync(join(kernels[k]!, f), tmp);
      renameSync(tmp, join(dir, f));
    }
  };
  switchTo(0);
  let liveKernel = 0;

  const s: CrashSummary = {
    turns: 0, kills: { headers: 0, generation: 0, commit: 0, reload: 0 }, restarts: 0, acknowledged: 0, ackByStatusOnly: 0,
    verified: 0, lost: 0, integrityFailures: 0, failedTurns: 0, reloadKernelsAfterRestart: {}, failures: [], seconds: 0,
  };
  const acked: string[] = [];
  const fail = (m: string) => { s.failures.push(m); say(`FAIL ${m}`); };
  const tag = `${Date.now().toString(36)}-${Math.floor(rand() * 1e6)}`;
  const numPredict = opts.numPredict ?? 32;

  let svc: Service = await startService(home);
  const verifyAfterKill = async (what: string) => {
    const db = checkDatabase(home);
    if (db.integrity !== "ok") { s.integrityFailures++; fail(`${what}: integrity_check: ${db.integrity}`); }
    let lost = 0;
    for (const text of acked) if (!db.userTexts.has(text)) lost++;
    if (lost) fail(`${what}: ${lost} acknowledged message(s) missing from the database`);
    if (db.orphansUnflagged) fail(`${what}: ${db.orphansUnflagged} user message(s) left without a reply and without the unanswered flag`);
    s.lost = Math.max(s.lost, lost);
    s.verified += acked.length;
    s.restarts++;
    svc = await startService(home).catch((e) => { fail(`${what}: restart failed: ${(e as Error).message}`); throw e; });
  };
  const noteAck = (text: string, r: TurnResult) => {
    if (r.status === 200 || r.firstByte) {
      acked.push(text);
      s.acknowledged++;
      if (!r.firstByte) s.ackByStatusOnly++;
    }
  };

  try {
    for (let i = 0; i < opts.turns; i++) {
      const text = `crash probe ${tag} turn ${i} ${Math.floor(rand() * 1e9).toString(36)}`;
      s.turns++;
      // roughly half the turns end in a kill, spread over the four kinds
      const p = rand();
      const kind: KillKind | null = p < 0.5 ? null : p < 0.6 ? "headers" : p < 0.75 ? "generation" : p < 0.87 ? "commit" : "reload";
      if (kind === "reload") {
        const next = 1 - liveKernel;
        if (rand() < 0.5) switchTo(next); else rsyncInto(next);
        const delay = Math.floor(rand() * 700);
        // a turn races the reload; the kill lands inside the swap window
        const turn = chatTurn(svc.url, text, { numPredict });
        await Bun.sleep(delay);
        await svc.kill("SIGKILL");
        const r = await turn;
        noteAck(text, r);
        s.kills.reload++;
        await verifyAfterKill(`turn ${i} (reload kill after ${delay} ms)`);
        const h = await getJson(`${svc.url}/health`);
        const which = h.body?.sha256 === shas[0] ? "A" : h.body?.sha256 === shas[1] ? "B" : `other:${h.status}`;
        s.reloadKernelsAfterRestart[which] = (s.reloadKernelsAfterRestart[which] ?? 0) + 1;
        if (h.status !== 200 || which.startsWith("other")) fail(`turn ${i}: after a reload kill /health says ${h.status} ${JSON.stringify(h.body)}`);
        liveKernel = next; // models/current now holds `next`; the restart serves it
        // the restart loads models/current; make sure it is the kernel we dropped (a swap killed midway must not stick)
        if (which !== (next === 0 ? "A" : "B")) fail(`turn ${i}: restarted on kernel ${which}, models/current holds ${next === 0 ? "A" : "B"}`);
      } else if (kind) {
        const stopAt = kind === "generation" ? (rand() < 0.4 ? 0 : 1 + Math.floor(rand() * numPredict * 0.8)) : 0;
        const r = await chatTurn(svc.url, text, {
          numPredict,
          onStage: async (stage, n) => {
            const hit = (kind === "headers" && stage === "headers") ||
              (kind === "generation" && ((stopAt === 0 && stage === "first-byte") || (stage === "token" && n >= stopAt) || stage === "done")) ||
              (kind === "commit" && stage === "done");
            if (!hit) return false;
            await svc.kill("SIGKILL");
            return true;
          },
        });
        noteAck(text, r);
        if (svc.proc.signalCode !== "SIGKILL") { await svc.kill("SIGKILL"); }
        s.kills[kind]++;
        await verifyAfterKill(`turn ${i} (${kind} kill)`);
      } else {
        const r = await chatTurn(svc.url, text, { numPredict });
        noteAck(text, r);
        if (r.status !== 200 || !r.done || r.error || r.transportError) {
          s.failedTurns++;
          fail(`turn ${i}: a plain turn failed: ${JSON.stringify({ ...r, text: undefined })}`);
        }
        continue;
      }
      // the session simply continues: the next turn after a restart succeeds
      const cont = `crash probe ${tag} continue ${i}`;
      const r = await chatTurn(svc.url, cont, { numPredict: 8 });
      noteAck(cont, r);
      if (r.status !== 200 || !r.done || r.error || r.transportError) {
        s.failedTurns++;
        fail(`turn ${i}: the turn after the restart failed: ${JSON.stringify({ ...r, text: undefined })}`);
      }
      if (i % 10 === 0) say(`turn ${i}: kills ${JSON.stringify(s.kills)}, acknowledged ${s.acknowledged}`);
    }
    // the final word: a last kill, and every acknowledged message of the run
    await svc.kill("SIGKILL");
    const db = checkDatabase(home);
    if (db.integrity !== "ok") { s.integrityFailures++; fail(`final: integrity_check: ${db.integrity}`); }
    const missing = acked.filter((t) => !db.userTexts.has(t));
    if (missing.length) fail(`final: ${missing.length} acknowledged message(s) missing: ${missing.slice(0, 3).join(" | ")}`);
    s.lost = Math.max(s.lost, missing.length);
    s.verified += acked.length;
  } finally {
    await svc.kill("SIGKILL");
    if (s.failures.length) say(svc.log.slice(-15).join("\n"));
    rmSync(root, { recursive: true, force: true });
  }
  s.seconds = Math.round((performance.now() - t0) / 100) / 10;
  return s;
}

// ---------------------------------------------------------------------------
// Full disk

export interface FullDiskSummary {
  mount: "tmpfs" | "ext4-loop" | "none";
  /** why no mount was possible (mount: "none") */
  unavailable?: string;
  fullTurns: { stream: boolean; status: number | null; error: string | null; transportError: string | null }[];
  serviceAliveWhileFull: boolean;
  /** restarted while the disk was full: it came up, served /api/history and /api/export, refused turns with 507 */
  restartWhileFull: { started: boolean; history: number; export: number; exportHasAcked: boolean; turn: number | null };
  /** every user message without a stored reply carries the unanswered flag (8) */
  orphansUnflagged: number;
  integrityAfter: string;
  turnsAfterFreeing: number;
  ackedLost: number;
  failures: string[];
  seconds: number;
}

function sh(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? r.error.message : ""}`.trim() };
}

/** Mount a small file system at `dir`: tmpfs, else a loop-mounted ext4 image. */
export function mountSmall(dir: string, sizeMiB: number): { kind: "tmpfs" | "ext4-loop"; unmount(): void } | { kind: "none"; why: string } {
  mkdirSync(dir, { recursive: true });
  const t = sh("mount", ["-t", "tmpfs", "-o", `size=${sizeMiB}m,mode=0700`, "tmpfs", dir]);
  if (t.ok) return { kind: "tmpfs", unmount: () => void sh("umount", ["-l", dir]) };
  const img = `${dir}.img`;
  const steps: [string, string[]][] = [["truncate", ["-s", `${sizeMiB}M`, img]], ["mkfs.ext4", ["-q", "-F", img]], ["mount", ["-o", "loop", img, dir]]];
  for (const [c, a] of steps) {
    const r = sh(c, a);
    if (!r.ok) {
      rmSync(img, { force: true });
      return { kind: "none", why: `tmpfs: ${t.out || "mount failed"}; ext4 loop (${c}): ${r.out || "failed"}` };
    }
  }
  return { kind: "ext4-loop", unmount: () => { sh("umount", ["-l", dir]); rmSync(img, { force: true }); } };
}

/** Write zeros into `path` until the file system refuses (ENOSPC). */
export function fill(path: string): number {
  const fd = openSync(path, "w");
  let total = 0;
  try {
    for (const size of [1 << 20, 64 << 10, 4096, 512, 1]) {
      const buf = Buffer.alloc(size);
      for (;;) {
        try { total += writeSync(fd, buf); } catch { break; }
      }
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

/** What both full-disk runs report besides their own figures. */
interface SmallDiskRun {
  mount: "tmpfs" | "ext4-loop" | "none";
  unavailable?: string;
  failures: string[];
  seconds: number;
}

/**
 * `body` on a fresh ARIANNA_HOME mounted as a small disk (`s.unavailable` says why when none can be
 * mounted). The services it starts through `start` are killed, the disk unmounted and removed
 * afterwards, whatever happened; a failure shows the last service's log.
 */
async function onSmallDisk<S extends SmallDiskRun>(
  run: { dir: string; label: string; sizeMiB: number; say: (x: string) => void },
  s: S,
  body: (home: string, start: (opts?: { timeoutMs?: number }) => Promise<Service>, fail: (x: string) => void) => Promise<void>,
): Promise<S> {
  const t0 = performance.now();
  const root = tempDir(run.dir);
  const home = join(root, "home");
  const m = mountSmall(home, run.sizeMiB);
  s.mount = m.kind;
  if (m.kind === "none") {
    s.unavailable = m.why;
    rmSync(root, { recursive: true, force: true });
    return s;
  }
  const fail = (x: string) => { s.failures.push(x); run.say(`FAIL ${x}`); };
  const services: Service[] = [];
  const start = async (opts: { timeoutMs?: number } = {}) => {
    const svc = await startService(home, opts);
    services.push(svc);
    return svc;
  };
  try {
    await body(home, start, fail);
  } catch (e) {
    fail(`${run.label}: ${(e as Error).stack ?? e}`);
  } finally {
    for (const svc of services) await svc.kill("SIGKILL");
    if (s.failures.length && services.length) run.say(services.at(-1)!.log.slice(-15).join("\n"));
    m.unmount();
    rmSync(root, { recursive: true, force: true });
  }
  s.seconds = Math.round((performance.now() - t0) / 100) / 10;
  return s;
}

export async function runFullDisk(opts: { log?: (s: string) => void; sizeMiB?: number } = {}): Promise<FullDiskSummary> {
  const say = opts.log ?? (() => {});
  const s: FullDiskSummary = {
    mount: "none", fullTurns: [], serviceAliveWhileFull: false, orphansUnflagged: 0,
    restartWhileFull: { started: false, history: 0, export: 0, exportHasAcked: false, turn: null }, integrityAfter: "", turnsAfterFreeing: 0, ackedLost: 0, failures: [], seconds: 0,
  };
  return onSmallDisk({ dir: "disk", label: "full disk", sizeMiB: opts.sizeMiB ?? 8, say }, s, async (home, start, fail) => {
    const acked: string[] = [];
    await writeKernel(join(home, "models", "current"), TINY);
    let svc: Service | null = await start();
    for (let i = 0; i < 3; i++) {
      const r = await chatTurn(svc.url, `disk warmup ${i}`, { numPredict: 16 });
      if (r.status !== 200 || !r.done || r.error) fail(`warm-up turn ${i}: ${JSON.stringify({ ...r, text: undefined })}`);
      else acked.push(`disk warmup ${i}`);
    }
    const filler = join(home, "filler");
    const bytes = fill(filler);
    say(`filled ${bytes} bytes`);
    for (let i = 0; i < 6; i++) {
      const stream = i % 2 === 0;
      const content = `disk full turn ${i} ${"x".repeat(i * 200)}`;
      let r: TurnResult;
      if (stream) {
        r = await chatTurn(svc.url, content, { numPredict: 16 });
      } else {
        r = { status: null, firstByte: false, done: false, error: null, transportError: null, text: "" };
        try {
          const res = await fetch(`${svc.url}/api/chat`, {
            method: "POST", headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(30_000),
            body: JSON.stringify({ messages: [{ role: "user", content }], stream: false, options: { num_predict: 16 } }),
          });
          r.status = res.status;
          const body = await res.json().catch(() => null);
          r.error = body?.error ?? null;
          r.done = res.ok;
        } catch (e) { r.transportError = (e as Error).message; }
      }
      s.fullTurns.push({ stream, status: r.status, error: r.error, transportError: r.transportError });
      // a 200, even one whose stream then reports an error, means the user message was stored: it must survive
      if (r.status === 200) acked.push(content);
      if (r.transportError) fail(`full-disk turn ${i}: transport error ${r.transportError}`);
      else if (r.status === 200 && !r.error && !r.done) fail(`full-disk turn ${i}: no error and no final chunk`);
      else if (!r.error && r.status !== 200) fail(`full-disk turn ${i}: status ${r.status} without an error message`);
    }
    const h = await getJson(`${svc.url}/health`).catch(() => ({ status: 0, body: null }));
    s.serviceAliveWhileFull = h.status === 200 && svc.proc.exitCode === null;
    if (!s.serviceAliveWhileFull) fail(`the service is not healthy while the disk is full: ${h.status}`);
    // a reboot while the disk is still full: it must come up to serve the history (issue 15, case 2)
    await svc.kill("SIGTERM");
    svc = null;
    try {
      svc = await start({ timeoutMs: 30_000 });
      s.restartWhileFull.started = true;
      s.restartWhileFull.history = (await getJson(`${svc.url}/api/history`)).status;
      const ex = await fetch(`${svc.url}/api/export`);
      s.restartWhileFull.export = ex.status;
      const exported = await ex.text();
      s.restartWhileFull.exportHasAcked = acked.every((t) => exported.includes(JSON.stringify(t)));
      s.restartWhileFull.turn = (await chatTurn(svc.url, "a turn on a full disk after the restart", { numPredict: 8 })).status;
    } catch (e) {
      fail(`restart while full: ${(e as Error).message}`);
    }
    const rf = s.restartWhileFull;
    if (!rf.started || rf.history !== 200 || rf.export !== 200 || !rf.exportHasAcked || rf.turn !== 507)
      fail(`restart while full: ${JSON.stringify(rf)}`);
    unlinkSync(filler);
    svc ??= await start();
    // after freeing space turns work again (bounded retries: SQLite may need one turn to recover its WAL)
    let ok = 0;
    for (let i = 0; i < 3; i++) {
      const text = `disk freed turn ${i}`;
      const r = await chatTurn(svc.url, text, { numPredict: 16 });
      if (r.status === 200 && r.done && !r.error) { ok++; acked.push(text); }
      else fail(`turn ${i} after freeing space: ${JSON.stringify({ ...r, text: undefined })}`);
    }
    s.turnsAfterFreeing = ok;
    await svc.kill("SIGKILL");
    const db = checkDatabase(home);
    s.integrityAfter = db.integrity;
    if (db.integrity !== "ok") fail(`integrity_check after the full disk: ${db.integrity}`);
    s.ackedLost = acked.filter((t) => !db.userTexts.has(t)).length;
    if (s.ackedLost) fail(`${s.ackedLost} acknowledged message(s) lost`);
    s.orphansUnflagged = db.orphansUnflagged;
    if (s.orphansUnflagged) fail(`${s.orphansUnflagged} user message(s) without a reply and without the unanswered flag`);
    // and it restarts on that database
    svc = await start();
    const r = await chatTurn(svc.url, "disk restart turn", { numPredict: 8 });
    if (r.status !== 200 || !r.done || r.error) fail(`turn after restart: ${JSON.stringify({ ...r, text: undefined })}`);
  });
}

/** What a first-ever start on an already full disk did (no database, no reserve file yet). */
export interface FirstStartFullSummary {
  mount: "tmpfs" | "ext4-loop" | "none";
  unavailable?: string;
  /** it listened while the disk was full */
  listened: boolean;
  /** /health and a chat turn while full, with the error they said */
  health: number | null;
  turn: number | null;
  error: string | null;
  /** once space was freed, without a restart: /health, a turn, the port kept */
  healthAfter: number | null;
  turnAfter: number | null;
  samePort: boolean;
  failures: string[];
  seconds: number;
}

/**
 * A device that never started, on a full disk: it must come up with a notice
 * (not exit and exhaust systemd's restarts), then start by itself once space
 * is freed (src/service/standby.ts).
 */
export async function runFirstStartFull(opts: { log?: (s: string) => void } = {}): Promise<FirstStartFullSummary> {
  const say = opts.log ?? (() => {});
  const s: FirstStartFullSummary = {
    mount: "none", listened: false, health: null, turn: null, error: null, healthAfter: null, turnAfter: null,
    samePort: false, failures: [], seconds: 0,
  };
  return onSmallDisk({ dir: "first", label: "first start full", sizeMiB: 4, say }, s, async (home, start, fail) => {
    const filler = join(home, "filler");
    say(`filled ${fill(filler)} bytes`);
    const svc = await start({ timeoutMs: 30_000 }); // the bundled kernel: nothing of the home is needed
    s.listened = true;
    const h = await getJson(`${svc.url}/health`);
    s.health = h.status;
    const r = await fetch(`${svc.url}/api/chat`, {
      method: "POST", headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(10_000),
      body: JSON.stringify({ messages: [{ role: "user", content: "hello on a full disk" }], stream: false }),
    });
    s.turn = r.status;
    s.error = ((await r.json().catch(() => null)) as { error?: string } | null)?.error ?? null;
    if (s.health !== 503 || s.turn !== 507 || !s.error?.includes("full")) fail(`while full: ${JSON.stringify(s)}`);
    unlinkSync(filler);
    const url = svc.url;
    const started = await poll(async () => (await getJson(`${url}/health`, 2_000).catch(() => null))?.status === 200, 30_000, 200);
    s.healthAfter = started ? 200 : (await getJson(`${url}/health`).catch(() => ({ status: 0 }))).status;
    s.samePort = !!started;
    const after = await chatTurn(url, "hello once there is room", { numPredict: 8 });
    s.turnAfter = after.status;
    if (!started || after.status !== 200 || !after.done || after.error) fail(`after freeing: ${JSON.stringify({ ...after, text: undefined })}`);
  });
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      turns: { type: "string" }, quick: { type: "boolean", default: false }, seed: { type: "string" },
      "no-full-disk": { type: "boolean", default: false }, "full-disk-only": { type: "boolean", default: false },
    },
    strict: true,
  });
  const turns = Number(values.turns ?? (values.quick ? 30 : 200));
  const log = (x: string) => console.error(x);
  let failed = false;
  if (!values["full-disk-only"]) {
    const c = await runCrash({ turns, seed: values.seed ? Number(values.seed) : undefined, log });
    console.log(JSON.stringify({ crash: c }, null, 2));
    failed ||= c.failures.length > 0 || c.lost > 0;
  }
  if (!values["no-full-disk"]) {
    const d = await runFullDisk({ log });
    console.log(JSON.stringify({ fullDisk: d }, null, 2));
    failed ||= d.failures.length > 0 || (d.mount === "none" && !!process.env.CI && process.env.CI !== "false");
    const f = await runFirstStartFull({ log });
    console.log(JSON.stringify({ firstStartFull: f }, null, 2));
    failed ||= f.failures.length > 0;
  }
  process.exit(failed ? 1 : 0);
}
