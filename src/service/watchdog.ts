/**
 * watchdog.ts — the systemd side of the service: READY=1, STATUS=, STOPPING=1
 * and the watchdog keep-alive, all sent by the C core (ar_sd_notify) through
 * engine.notify().
 *
 * The notifications leave from the engine's Worker thread. A thread shares the
 * process id, and the kernel stamps a unix datagram's credentials with that id,
 * so systemd sees them as coming from the main process (NotifyAccess=main is
 * enough). A WATCHDOG=1 only goes out when the engine thread answers
 * (engine.keepAlive: between two tokens of a generation, or at once when
 * idle): a native call stuck in the core, or a dead worker, stops the pings
 * and systemd restarts the service after WatchdogSec, while a long reply never
 * does.
 *
 *   const svc = startServiceNotifier(engine, { log });
 *   await svc.ready(`serving on ${url}`);
 *   ...
 *   await svc.stopping();
 *
 * Without $NOTIFY_SOCKET (not started by systemd) every call is a no-op.
 */
import { log as defaultLog, type Logger } from "./log.ts";

/** What the notifier needs from the Engine. */
export interface Notifying {
  notify(state: string): Promise<number>;
  keepAlive(): "ok" | "pending" | "failed";
}

export interface NotifierOptions {
  log?: Logger;
  /** environment to read NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID from (default process.env) */
  env?: Record<string, string | undefined>;
  /** this process's id, compared with WATCHDOG_PID (default process.pid) */
  pid?: number;
}

export interface ServiceNotifier {
  /** true when started by systemd with a notify socket */
  readonly active: boolean;
  /** the keep-alive period in ms (half of WATCHDOG_USEC), null when the watchdog is off */
  readonly pingMs: number | null;
  /** READY=1 with a STATUS= line, and the watchdog pings; a second call (after a standby) sends only the STATUS= line */
  ready(status?: string): Promise<void>;
  /** STATUS=text, shown by `systemctl status arianna` */
  status(text: string): Promise<void>;
  /** STOPPING=1; stops the watchdog pings */
  stopping(status?: string): Promise<void>;
}

/** The watchdog period systemd asked for, in µs, or null (unset, 0, or meant for another process). */
export function watchdogUsec(env: Record<string, string | undefined>, pid: number): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isSafeInteger(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return null;
  return usec;
}

/** One notification line per field; a newline inside a value would start a new field. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, " ");
}

export function startServiceNotifier(engine: Notifying, opts: NotifierOptions = {}): ServiceNotifier {
  const log = opts.log ?? defaultLog;
  const env = opts.env ?? process.env;
  const active = !!env.NOTIFY_SOCKET;
  const usec = active ? watchdogUsec(env, opts.pid ?? process.pid) : null;
  const pingMs = usec === null ? null : Math.max(1, Math.floor(usec / 2000));
  let timer: ReturnType<typeof setInterval> | null = null;
  let readySent = false;
  let stopped = false;
  let failing = false; // warn once per outage, not on every ping

  const send = async (state: string): Promise<void> => {
    if (!active) return;
    try {
      await engine.notify(state);
      if (failing) log.notice("sd_notify works again");
      failing = false;
    } catch (e) {
      if (!failing) log.warn(`sd_notify ${state.split("\n")[0]} failed: ${(e as Error).message}`);
      failing = true;
    }
  };

  const ping = (): void => {
    const previous = engine.keepAlive();
    if (previous === "pending") {
      log.debug("watchdog: engine busy, previous ping still pending");
    } else if (previous === "failed") {
      if (!failing) log.warn("sd_notify WATCHDOG=1 failed");
      failing = true;
    } else if (failing) {
      log.notice("sd_notify works again");
      failing = false;
    }
  };

  return {
    active,
    pingMs,
    async ready(status = "ready") {
      if (stopped) return;
      if (readySent) return send(`STATUS=${oneLine(status)}`); // ready since a standby (standby.ts)
      readySent = true;
      await send(`READY=1\nSTATUS=${oneLine(status)}`);
      if (pingMs !== null) {
        timer = setInterval(ping, pingMs);
        timer.unref(); // the pings never keep the process alive on their own
        log.info(`watchdog: pinging systemd every ${pingMs} ms`);
      }
    },
    status: (text) => (stopped ? Promise.resolve() : send(`STATUS=${oneLine(text)}`)),
    async stopping(status = "stopping") {
      if (stopped) return;
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      await send(`STOPPING=1\nSTATUS=${oneLine(status)}`);
    },
  };
}
