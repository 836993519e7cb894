/**
 * load-service.ts — the real service for the load and security suites: a temp
 * ARIANNA_HOME with a kernel in models/current (a tiny generated one unless
 * told), started by service.ts's startService (the one harness that spawns
 * `bun src/main.ts`), stopped with SIGTERM. Helpers read the process's RSS and
 * file descriptors from /proc.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeModelDir } from "../gen-model.ts";
import { startService as startChild } from "./service.ts";
import { REPO_ROOT as ROOT } from "../../src/config/paths.ts";

export { ROOT };

/** dim 64, 2 layers, vocab 512, seq 256: ~0.1M params, a turn in a few ms. */
export const TINY_MODEL = { dim: 64, hiddenDim: 128, nLayers: 2, nHeads: 4, vocabSize: 512, seqLen: 256, seed: 5 };

export interface Service {
  home: string;
  url: string;
  pid: number;
  /** everything written to stdout and stderr so far, line by line as it came */
  log(): string;
  token(): string;
  /** SIGTERM, wait (kill after timeoutMs); returns the exit code */
  stop(timeoutMs?: number): Promise<number | null>;
  /** stop and remove the temp home */
  dispose(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  name?: string;
  startTimeoutMs?: number;
  /** ARIANNA_HOST (default 127.0.0.1) */
  host?: string;
  /** where the temp ARIANNA_HOME is made (default os.tmpdir()) */
  parent?: string;
  /** a kernel directory to serve (copied in; default: the tiny generated kernel) */
  kernel?: string;
  /** a command the service is exec'd through (e.g. unshare -n ...); it must exec, keeping the pid */
  prefix?: string[];
}

export async function startService(opts: StartOptions = {}): Promise<Service> {
  const home = mkdtempSync(join(opts.parent ?? tmpdir(), `ia-${opts.name ?? "svc"}-`));
  if (opts.kernel) cpSync(opts.kernel, join(home, "models", "current"), { recursive: true });
  else writeModelDir(join(home, "models", "current"), TINY_MODEL);
  const child = await startChild(home, {
    env: { ARIANNA_HOST: opts.host ?? "127.0.0.1", ...opts.env }, timeoutMs: opts.startTimeoutMs ?? 30_000, prefix: opts.prefix,
  });
  let stopped: Promise<number | null> | null = null;
  const stop = (timeoutMs = 10_000) =>
    (stopped ??= (async () => {
      const t = setTimeout(() => void child.kill("SIGKILL"), timeoutMs);
      await child.kill("SIGTERM");
      clearTimeout(t);
      return child.exited;
    })());
  return {
    home, url: child.url, pid: child.proc.pid,
    log: () => child.log.join("\n"),
    token: () => readFileSync(join(home, "api-token"), "utf8").trim(),
    stop,
    async dispose() {
      await stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** VmRSS of a process in KiB. */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

/** Open file descriptors of a process, by kind (socket, pipe, anon_inode, file). */
export function fds(pid: number): { total: number; sockets: number; files: number; other: number; list: string[] } {
  const list: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      list.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed while listing
    }
  }
  const sockets = list.filter((l) => l.startsWith("socket:")).length;
  const files = list.filter((l) => l.startsWith("/")).length;
  return { total: list.length, sockets, files, other: list.length - sockets - files, list };
}
