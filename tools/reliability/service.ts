/**
 * service.ts — what the reliability suites share: a real `bun src/main.ts`
 * child on a temp ARIANNA_HOME (loopback, a port of its own), a streaming chat
 * client that reports each stage of a turn, and an offline look at the
 * database (a copy, so the check never writes to the service's files).
 */
import { Database } from "bun:sqlite";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { writeModelDir, type ModelOptions } from "../gen-model.ts";
import { REPO_ROOT as ROOT } from "../../src/config/paths.ts";

export { ROOT };

/** The tiny kernel the suites serve (fast on 2 shared cores). */
export const TINY: ModelOptions = { dim: 64, hiddenDim: 128, nLayers: 2, nHeads: 4, vocabSize: 512, seqLen: 256, seed: 1 };

/** A kernel directory with a manifest.json holding both sha256 values. */
export async function writeKernel(dir: string, opts: ModelOptions, name = "tiny"): Promise<{ sha256: string; tokSha256: string }> {
  writeModelDir(dir, opts);
  const sha = async (f: string) => new Bun.CryptoHasher("sha256").update(await Bun.file(join(dir, f)).arrayBuffer()).digest("hex");
  const sha256 = await sha("model.bin");
  const tokSha256 = await sha("tokenizer.bin");
  writeFileSync(join(dir, "manifest.json"), JSON.stringify({ name, version: "1", sha256: { model: sha256, tokenizer: tokSha256 } }));
  return { sha256, tokSha256 };
}

/**
 * Point `models`/current at `target` (a name inside `models`) in one step, as the trainer's deploy
 * does: a new link under a temporary name, renamed over the old one.
 */
export function switchCurrent(models: string, target: string): void {
  const tmp = join(models, `.current-${target}`);
  symlinkSync(target, tmp);
  renameSync(tmp, join(models, "current"));
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `ia-rel-${prefix}-`));
}

export interface Service {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  url: string;
  /** everything the process wrote, stdout and stderr interleaved */
  log: string[];
  exited: Promise<number>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Start `bun src/main.ts` on ARIANNA_HOME=home and wait until it listens (bounded). */
export async function startService(
  home: string,
  opts: {
    timeoutMs?: number;
    env?: Record<string, string>;
    /** another checkout: the same suite against another version */
    root?: string;
    /** a command the service is exec'd through (e.g. ip netns exec ...); it must exec, keeping the pid */
    prefix?: string[];
  } = {},
): Promise<Service> {
  const root = opts.root ?? ROOT;
  const proc = Bun.spawn([...(opts.prefix ?? []), process.execPath, join(root, "src", "main.ts")], {
    cwd: root,
    env: {
      ...process.env, ARIANNA_HOME: home, ARIANNA_HOST: "127.0.0.1", ARIANNA_PORT: "0", ARIANNA_THREADS: "1",
      NOTIFY_SOCKET: "", WATCHDOG_USEC: "", ...opts.env,
    },
    stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
  const log: string[] = [];
  let url: string | null = null;
  let wake: (() => void) | null = null;
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    let rest = "";
    for await (const chunk of stream) {
      rest += dec.decode(chunk, { stream: true });
      const lines = rest.split("\n");
      rest = lines.pop()!;
      for (const l of lines) {
        log.push(l);
        const m = /listening on (http:\/\/\S+)/.exec(l);
        if (m) { url = m[1]!; wake?.(); }
      }
    }
    if (rest) log.push(rest);
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  const exited = proc.exited;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ok = await Promise.race([
    new Promise<boolean>((r) => { wake = () => r(true); if (url) r(true); }),
    exited.then(() => false),
    new Promise<boolean>((r) => { timer = setTimeout(() => r(false), timeoutMs); }),
  ]);
  clearTimeout(timer);
  if (!ok || !url) {
    proc.kill("SIGKILL");
    await exited;
    throw new Error(`the service did not start within ${timeoutMs} ms (exit ${proc.exitCode}):\n${log.slice(-20).join("\n")}`);
  }
  return {
    proc, url: url!, log, exited,
    async kill(signal = "SIGKILL") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

export interface TurnResult {
  /** the HTTP status, when one came */
  status: number | null;
  /** a first body byte came */
  firstByte: boolean;
  /** the final chunk (done: true) came */
  done: boolean;
  /** an in-band {error} line or a JSON error body */
  error: string | null;
  /** the request failed at the transport level (connection reset: the process died) */
  transportError: string | null;
  text: string;
}

export type Stage = "headers" | "first-byte" | "token" | "done";

/**
 * POST /api/chat (stream) with one user message. `onStage` runs at each stage
 * (awaited, so a caller may kill the service right there); it returns true to
 * stop reading.
 */
export async function chatTurn(
  url: string,
  content: string,
  opts: { numPredict?: number; timeoutMs?: number; onStage?: (s: Stage, n: number) => Promise<boolean | void> | boolean | void } = {},
): Promise<TurnResult> {
  const r: TurnResult = { status: null, firstByte: false, done: false, error: null, transportError: null, text: "" };
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error("turn timed out")), opts.timeoutMs ?? 60_000);
  try {
    const res = await fetch(`${url}/api/chat`, {
      method: "POST", signal: ac.signal,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content }], stream: true, options: { num_predict: opts.numPredict ?? 16, seed: 7 } }),
    });
    r.status = res.status;
    if (await opts.onStage?.("headers", 0)) return r;
    if (!res.ok || !res.body) {
      const t = await res.text().catch(() => "");
      try { r.error = JSON.parse(t).error ?? t; } catch { r.error = t || `HTTP ${res.status}`; }
      return r;
    }
    const dec = new TextDecoder();
    let buf = "";
    let n = 0;
    for await (const chunk of res.body) {
      if (!r.firstByte) {
        r.firstByte = true;
        if (await opts.onStage?.("first-byte", 0)) return r;
      }
      buf += dec.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.trim()) continue;
        const o = JSON.parse(line);
        if (o.error) r.error = String(o.error);
        if (o.message?.content) r.text += o.message.content;
        if (o.done) {
          r.done = true;
          if (await opts.onStage?.("done", n)) return r;
        } else if (!o.error) {
          n++;
          if (await opts.onStage?.("token", n)) return r;
        }
      }
    }
    return r;
  } catch (e) {
    r.transportError = (e as Error).message;
    return r;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

export interface DbCheck {
  integrity: string;
  userTexts: Set<string>;
  messages: number;
  /** user messages with no reply stored after them that lack the unanswered flag (8): a split turn nobody can see */
  orphansUnflagged: number;
}

/**
 * Open a copy of the database (with its -wal and -shm) and run
 * integrity_check there: recovery happens on the copy, never on the
 * service's own files.
 */
export function checkDatabase(home: string): DbCheck {
  const src = join(home, "resonance.sqlite3");
  const dir = mkdtempSync(join(tmpdir(), "ia-rel-db-"));
  try {
    for (const suffix of ["", "-wal", "-shm"]) if (existsSync(src + suffix)) copyFileSync(src + suffix, join(dir, "db" + suffix));
    const db = new Database(join(dir, "db"));
    try {
      const integrity = db.query<{ integrity_check: string }, []>("PRAGMA integrity_check").all().map((r) => r.integrity_check).join("; ");
      const rows = db.query<{ text: string }, []>("SELECT text FROM messages WHERE role = 'user'").all();
      const messages = db.query<{ n: number }, []>("SELECT count(*) AS n FROM messages").get()!.n;
      const orphansUnflagged = db.query<{ n: number }, []>(
        `SELECT count(*) AS n FROM messages u WHERE u.role = 'user' AND (u.flags & 8) = 0
         AND NOT EXISTS (SELECT 1 FROM messages r WHERE r.id = (SELECT min(id) FROM messages WHERE id > u.id) AND r.role = 'arianna')`,
      ).get()!.n;
      return { integrity, userTexts: new Set(rows.map((r) => r.text)), messages, orphansUnflagged };
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A small seeded PRNG (mulberry32), so a run can be replayed with --seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function getJson(url: string, timeoutMs = 10_000): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: any = text;
  try { body = JSON.parse(text); } catch {}
  return { status: res.status, body };
}

/** Poll `fn` until it returns a truthy value or the time is up (then null). */
export async function poll<T>(fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs: number, everyMs = 50): Promise<T | null> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > end) return null;
    await Bun.sleep(everyMs);
  }
}

export function ensureDir(d: string): string {
  mkdirSync(d, { recursive: true });
  return d;
}
