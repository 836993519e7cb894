/**
 * load-service.ts — start the real service (`bun src/main.ts`) for the load
 * and security suites: a temp ARIANNA_HOME with a tiny generated kernel in
 * models/current, bound to 127.0.0.1 on a free port, its stdout/stderr kept
 * for inspection. Helpers read the process's RSS and file descriptors from
 * /proc.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { writeModelDir } from "../gen-model.ts";
import { REPO_ROOT as ROOT } from "../../src/config/paths.ts";

export { ROOT };

/** dim 64, 2 layers, vocab 512, seq 256: ~0.1M params, a turn in a few ms. */
export const TINY_MODEL = { dim: 64, hiddenDim: 128, nLayers: 2, nHeads: 4, vocabSize: 512, seqLen: 256, seed: 5 };

export interface Service {
  home: string;
  url: string;
  pid: number;
  /** everything written to stdout and stderr so far */
  stdout(): string;
  stderr(): string;
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
  const host = opts.host ?? "127.0.0.1";
  const home = mkdtempSync(join(opts.parent ?? tmpdir(), `ia-${opts.name ?? "svc"}-`));
  if (opts.kernel) cpSync(opts.kernel, join(home, "models", "current"), { recursive: true });
  else writeModelDir(join(home, "models", "current"), TINY_MODEL);
  const proc = Bun.spawn([...(opts.prefix ?? []), process.execPath, "src/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      ARIANNA_HOME: home, ARIANNA_HOST: host, ARIANNA_PORT: "0", ARIANNA_THREADS: "1",
      ...opts.env,
    },
    stdout: "pipe", stderr: "pipe", stdin: "ignore",
  });
  let out = "";
  let err = "";
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    const dec = new TextDecoder();
    for await (const chunk of s) add(dec.decode(chunk, { stream: true }));
  };
  const pumps = [pump(proc.stdout, (t) => (out += t)), pump(proc.stderr, (t) => (err += t))];
  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  let url: string | undefined;
  while (!url) {
    const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
    if (m) url = m[1];
    else if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`service exited at start (${proc.exitCode}): ${out}\n${err}`);
    else if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`service did not start in time: ${out}\n${err}`);
    }
    else await Bun.sleep(25);
  }
  let stopped: Promise<number | null> | null = null;
  const stop = (timeoutMs = 10_000) =>
    (stopped ??= (async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
      const code = await proc.exited;
      clearTimeout(t);
      await Promise.allSettled(pumps);
      return code;
    })());
  return {
    home, url, pid: proc.pid,
    stdout: () => out, stderr: () => err,
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
