/**
 * standby.ts — a first start on a disk too full to create the database.
 *
 * A device whose disk filled up after its first start still comes up: the
 * reserve file (src/memory/headroom.ts) gives back room for the start's own
 * writes. A device that has never started has no reserve and no conversation
 * to serve, and exiting would have systemd give up after StartLimitBurst
 * tries, so the device would stay down once its owner frees space. Instead it
 * listens on its address and answers every request with what is wrong and how
 * to fix it (/health: 503, everything else: 507), and goes on to the normal
 * start by itself once the disk has room, on the same port.
 */
import { existsSync } from "node:fs";
import { homePaths, type ServiceSettings } from "../config/runtime.ts";
import { freeBytes, TURN_HEADROOM } from "../memory/index.ts";
import { log } from "./log.ts";
import { listen } from "./startup.ts";
import type { ServiceNotifier } from "./watchdog.ts";

/** how often the disk is looked at while waiting (a statfs: microseconds) */
const POLL_MS = 2_000;

/** null when a start may go ahead; otherwise the free bytes that are too few. */
export function tooFullToStart(home: string): { free: number; needs: number } | null {
  if (existsSync(homePaths(home).database)) return null; // it has a reserve, or history to serve read-only
  const free = freeBytes(home);
  return free >= TURN_HEADROOM ? null : { free, needs: TURN_HEADROOM };
}

/**
 * Wait, serving a notice, while the home's disk is too full for a first start;
 * -> the settings to listen with afterwards (the port the notice had, so
 * clients that found it keep it).
 */
export async function standbyWhileFull(home: string, settings: ServiceSettings, service: ServiceNotifier): Promise<ServiceSettings> {
  const full = tooFullToStart(home);
  if (!full) return settings;
  const problem = () => {
    const now = tooFullToStart(home) ?? full;
    return `the disk under ${home} is full (${now.free >> 10} KiB free; a first start needs ${now.needs >> 10} KiB): ` +
      "nothing is stored yet; free space there and InnerArianna starts by itself";
  };
  const server = listen(settings, (req) => {
    const body = JSON.stringify({ error: problem(), status: "disk-full" });
    const status = new URL(req.url).pathname === "/health" ? 503 : 507;
    return new Response(body, { status, headers: { "content-type": "application/json", "retry-after": String(POLL_MS / 1000) } });
  });
  const port = server.port!;
  const url = `http://${server.hostname}:${port}`;
  log.warn(`InnerArianna listening on ${url} with a notice only: ${problem()}`);
  await service.ready(`waiting for disk space under ${home}`);
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (tooFullToStart(home)) return;
      clearInterval(timer);
      resolve();
    }, POLL_MS);
  });
  server.stop(true);
  log.notice(`the disk under ${home} has room now (${freeBytes(home) >> 10} KiB free): starting`);
  return { ...settings, port };
}
