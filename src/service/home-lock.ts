/**
 * home-lock.ts — one engine per ARIANNA_HOME.
 *
 * The service (and `bun run chat` when it runs its own engine) holds an
 * exclusive flock(2) on ARIANNA_HOME/arianna.lock for as long as it lives. The
 * kernel drops the lock when the process dies, however it dies, so a lock file
 * left by a dead pid is simply taken over: no pid guessing, no stale files to
 * clean. The file's content says who holds it (pid, role, and the service's
 * URL once it listens), which is how `bun run chat` finds the running service.
 */
import { dlopen } from "bun:ffi";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const LOCK_FILE = "arianna.lock";

const LOCK_EX = 2;
const LOCK_NB = 4;

let libc: { flock(fd: number, op: number): number } | undefined;
function flock(fd: number, op: number): number {
  libc ??= dlopen("libc.so.6", { flock: { args: ["i32", "i32"], returns: "i32" } }).symbols;
  return libc.flock(fd, op);
}

export type Holder = {
  pid: number;
  /** "service": `bun run start`; "chat": a terminal chat with its own engine */
  role: "service" | "chat";
  startedAt: number;
  /** where the service answers, from this machine (loopback for a wildcard address) */
  url?: string;
};

export interface HomeLock {
  readonly path: string;
  /** record the URL clients on this machine should use */
  publish(url: string): void;
  release(): void;
}

/** Who holds the home: null when nobody does (a lock file from a dead process counts as nobody). */
export function lockHolder(home: string): Holder | null {
  const path = join(home, LOCK_FILE);
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return null; // no lock file: never started here
  }
  try {
    if (flock(fd, LOCK_EX | LOCK_NB) === 0) return null; // free (we let go at once when the fd closes)
    return readHolder(path);
  } finally {
    closeSync(fd);
  }
}

/** The holder's record; between a start and its first write it may still be empty. */
function readHolder(path: string): Holder {
  try {
    const h = JSON.parse(readFileSync(path, "utf8")) as Holder;
    if (typeof h.pid === "number") return h;
  } catch {}
  return { pid: 0, role: "service", startedAt: 0 };
}

/**
 * Take the home for this process, or get `{ holder }` when another live process has it.
 * Throws only when the file cannot be created (ARIANNA_HOME not writable).
 */
export function acquireHomeLock(home: string, role: Holder["role"]): HomeLock | { holder: Holder } {
  mkdirSync(home, { recursive: true });
  const path = join(home, LOCK_FILE);
  const fd = openSync(path, "a+"); // never truncate: the holder's record stays readable until we own it
  if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    closeSync(fd);
    return { holder: readHolder(path) };
  }
  const record: Holder = { pid: process.pid, role, startedAt: Date.now() };
  // readers only read after failing to lock, and we hold it: a plain rewrite is safe
  const write = () => writeFileSync(path, JSON.stringify(record) + "\n");
  write();
  let held = true;
  return {
    path,
    publish(url) {
      record.url = url;
      write();
    },
    release() {
      if (held) closeSync(fd); // closing the descriptor drops the flock
      held = false;
    },
  };
}

/** One line naming who holds the home, for refusals. */
export function describeHolder(h: Holder): string {
  const who = h.role === "chat" ? "a `bun run chat` with its own engine" : h.url ? `the service at ${h.url}` : "the service (starting)";
  return `${who}${h.pid ? `, pid ${h.pid}` : ""}`;
}
