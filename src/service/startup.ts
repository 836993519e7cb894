/**
 * startup.ts — what can go wrong before the service serves, said in one line.
 *
 * A wrong setting, a port in use or a home taken by another engine is the
 * operator's to fix: they get one `error:` line naming the setting and the
 * fix, and exit status 2 (systemd shows it; journald keeps the line). Anything
 * else is a bug and keeps its stack trace.
 */
import { ConfigError, loadRuntimeConfig, loadServiceSettings, parseStartArgs, usage, type RuntimeConfig, type ServiceSettings } from "../config/runtime.ts";
import { EngineError } from "../engine/errors.ts";
import { IDLE_TIMEOUT_S } from "../server/auth.ts";
import { acquireHomeLock, describeHolder, type Holder, type HomeLock } from "./home-lock.ts";
import { log } from "./log.ts";

/** The exit status of a start-up refused for a setting (EX_USAGE would be 64; 2 is what shells use). */
export const EXIT_CONFIG = 2;

export function refuse(message: string): never {
  log.error(message);
  process.exit(EXIT_CONFIG);
}

/** The settings of `bun run start`; `--help` prints the usage and exits. */
export function startupSettings(argv = process.argv.slice(2), env = process.env): { config: RuntimeConfig; settings: ServiceSettings } {
  return setting(() => {
    if (parseStartArgs(argv).help) {
      process.stdout.write(usage());
      process.exit(0);
    }
    const settings = loadServiceSettings(env);
    log.configure(settings.log);
    return { config: loadRuntimeConfig(env), settings };
  });
}

const SYSTEM_ERRORS: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "not permitted",
  EROFS: "a read-only file system",
  ENOTDIR: "a path in it is a file, not a directory",
  EEXIST: "it is a file, not a directory",
  ENOENT: "it cannot be created here",
  ENOSPC: "the disk is full",
};

/** Try to take ARIANNA_HOME: the lock, or who holds it; an unwritable home is refused in one line. */
export function takeHome(home: string, role: Holder["role"]): HomeLock | { holder: Holder } {
  try {
    return acquireHomeLock(home, role);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    if (code in SYSTEM_ERRORS) refuse(`ARIANNA_HOME=${home}: cannot write there (${SYSTEM_ERRORS[code]})`);
    throw e;
  }
}

/** This process takes ARIANNA_HOME; a live holder (the service, or a chat with its own engine) means no. */
export function holdHome(home: string, role: Holder["role"]): HomeLock {
  const taken = takeHome(home, role);
  if ("holder" in taken) refuse(inUse(home, taken.holder));
  return taken;
}

export const inUse = (home: string, holder: Holder) =>
  `ARIANNA_HOME=${home} is in use by ${describeHolder(holder)}: one engine per home; stop it, or set another ARIANNA_HOME`;

/** A setting read (by `bun run start` or the chat): one line when it is wrong. */
export function setting<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof ConfigError) refuse(e.message);
    throw e;
  }
}

/** An engine failure at start-up that is a setting (ARIANNA_LIB, no library for this CPU): one line. */
export async function engineStep<T>(what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (e instanceof EngineError) refuse(`${what}: ${e.message}`);
    throw e;
  }
}

const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: "the port is in use (another InnerArianna, or another server: set ARIANNA_PORT)",
  EACCES: "permission denied (ports below 1024 need privileges: set ARIANNA_PORT)",
  EADDRNOTAVAIL: "this machine has no such address (check ARIANNA_HOST)",
  EINVAL: "not a valid address (check ARIANNA_HOST)",
  ENOTFOUND: "no such host name (check ARIANNA_HOST)",
};

/** Bun.serve on the configured address, or one line saying why not. */
export function listen(settings: ServiceSettings, fetch: (req: Request) => Response | Promise<Response>): ReturnType<typeof Bun.serve> {
  try {
    return Bun.serve({ hostname: settings.host, port: settings.port, fetch, idleTimeout: IDLE_TIMEOUT_S });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    if (code in LISTEN_ERRORS) refuse(`cannot listen on ${settings.host}:${settings.port}: ${LISTEN_ERRORS[code]}`);
    throw e;
  }
}

/** The URL a client on this machine uses for a server bound to `hostname` (a wildcard means loopback). */
export function localUrl(hostname: string, port: number): string {
  const host = hostname === "0.0.0.0" ? "127.0.0.1" : hostname === "::" || hostname === "[::]" ? "[::1]" : hostname.includes(":") && !hostname.startsWith("[") ? `[${hostname}]` : hostname;
  return `http://${host}:${port}`;
}
