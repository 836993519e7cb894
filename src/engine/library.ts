/**
 * library.ts — which libarianna.so to load on this CPU.
 *
 * Order: $ARIANNA_LIB; then the host build (built here, for this very CPU);
 * then the cross builds: x86_64 (needs avx2 + fma), aarch64-cortex_a76 (needs
 * the dotprod extension, `asimddp`), aarch64-cortex_a72 (any aarch64). When
 * nothing fits, the host library is built once with `make -s -C csrc host`.
 * A host build older than csrc/ (a `git pull` since it was made) is rebuilt
 * before use: it would lack symbols the engine binds, and dlopen would refuse
 * it, so the service would not start.
 * Nothing happens at import time.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { E_LIBRARY, EngineError } from "./errors.ts";
import { REPO_ROOT } from "../config/paths.ts";
export { REPO_ROOT };

export const LIB_NAME = "libarianna.so";


export interface LibraryChoice {
  path: string;
  /** "env", "host", "x86_64", "aarch64-cortex_a76", "aarch64-cortex_a72" */
  variant: string;
  /** true when this call had to build it */
  built: boolean;
}

export interface ResolveOptions {
  /** repository root holding build/ and csrc/ (default: this checkout) */
  root?: string;
  /** environment to read ARIANNA_LIB from (default: process.env) */
  env?: Record<string, string | undefined>;
  /** /proc/cpuinfo text (default: read it) */
  cpuinfo?: string;
  /** process.arch value (default: the running one) */
  arch?: string;
  /** build the host library when nothing fits (default true) */
  build?: boolean;
  /** where the build notice goes (default: console.error) */
  log?: (line: string) => void;
}

function readCpuinfo(): string {
  try {
    return readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return "";
  }
}

/** The feature words /proc/cpuinfo lists ("flags" on x86, "Features" on arm). */
export function cpuFeatures(cpuinfo: string): Set<string> {
  const out = new Set<string>();
  for (const line of cpuinfo.split("\n")) {
    const m = /^(flags|features)\s*:\s*(.*)$/i.exec(line);
    if (m) for (const w of m[2].split(/\s+/)) if (w) out.add(w.toLowerCase());
  }
  return out;
}

/** The library candidates for this CPU, best first (existing or not). */
export function libraryCandidates(opts: ResolveOptions = {}): { path: string; variant: string }[] {
  const root = opts.root ?? REPO_ROOT;
  const arch = opts.arch ?? process.arch;
  const lib = (dir: string) => ({ path: join(root, "build", dir, LIB_NAME), variant: dir });
  const out = [lib("host")];
  const feats = cpuFeatures(opts.cpuinfo ?? readCpuinfo());
  if (arch === "x64") {
    if (feats.has("avx2") && feats.has("fma")) out.push(lib("x86_64"));
  } else if (arch === "arm64") {
    if (feats.has("asimddp")) out.push(lib("aarch64-cortex_a76"));
    out.push(lib("aarch64-cortex_a72"));
  }
  return out;
}

/**
 * Pick (and if need be build) the library for this CPU. Throws an
 * EngineError(E_LIBRARY) when ARIANNA_LIB names a missing file or the build fails.
 */
export function resolveLibrary(opts: ResolveOptions = {}): LibraryChoice {
  const env = opts.env ?? process.env;
  const root = opts.root ?? REPO_ROOT;
  const override = env.ARIANNA_LIB;
  if (override) {
    const p = resolve(override);
    if (!existsSync(p)) throw new EngineError(E_LIBRARY, `ARIANNA_LIB=${override}: no such file`);
    return { path: p, variant: "env", built: false };
  }
  const build = opts.build !== false;
  const log = opts.log ?? ((l: string) => console.error(l));
  for (const c of libraryCandidates(opts)) {
    if (!existsSync(c.path)) continue;
    if (c.variant === "host" && build && hostIsStale(root)) return buildHost(root, log, `${c.path} is older than csrc/`);
    return { ...c, built: false };
  }
  if (!build) throw new EngineError(E_LIBRARY, `no ${LIB_NAME} for this CPU under ${join(root, "build")}`);
  return buildHost(root, log, `no ${LIB_NAME} for this CPU yet`);
}

/**
 * Whether make would rebuild the host library from this checkout's csrc/
 * (`make -q`, ~10 ms). A tree without csrc/ or without make (a deployed
 * device) is never stale: its libraries came built.
 */
function hostIsStale(root: string): boolean {
  const csrc = join(root, "csrc");
  if (!existsSync(join(csrc, "Makefile"))) return false;
  try {
    return Bun.spawnSync(["make", "-q", "-s", "-C", csrc, "host"], { stdout: "ignore", stderr: "ignore" }).exitCode === 1;
  } catch {
    return false;
  }
}

function buildHost(root: string, log: (line: string) => void, why: string): LibraryChoice {
  const host = join(root, "build", "host", LIB_NAME);
  log(`arianna: ${why}; building ${host} (make -s -C csrc host) ...`);
  const r = Bun.spawnSync(["make", "-s", "-C", join(root, "csrc"), "host"], { stdout: "pipe", stderr: "pipe" });
  const err = r.stderr.toString().trim().split("\n").slice(-20).join("\n");
  if (!existsSync(host)) {
    throw new EngineError(E_LIBRARY, `building ${LIB_NAME} failed (make exit ${r.exitCode}):\n${err}`);
  }
  // The library is all the engine needs; a failure elsewhere (the runner) is only reported.
  log(r.exitCode === 0 ? `arianna: built ${host}` : `arianna: built ${host}; make exited ${r.exitCode}:\n${err}`);
  return { path: host, variant: "host", built: true };
}
