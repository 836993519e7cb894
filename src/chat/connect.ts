/**
 * connect.ts — which backend the terminal chat gets: the running service when
 * one holds this home's lock, else its own engine (taking the lock, so a
 * service started meanwhile is refused instead of writing into the same
 * database). Another chat with its own engine on the home is refused.
 */
import type { LiveSession } from "../orchestrator/index.ts";
import { lockHolder, type Holder } from "../service/home-lock.ts";
import { inUse, refuse, takeHome } from "../service/startup.ts";
import { localBackend, type ChatBackend } from "./backend.ts";
import { remoteBackend } from "./remote.ts";

export interface ConnectOptions {
  /** opens the engine and session (only when no service runs) */
  open(): Promise<LiveSession>;
  /** how long to wait for a service that holds the home but does not listen yet (loading its kernel) */
  waitMs?: number;
  /** told once when the chat waits for a starting service */
  onWait?(holder: Holder): void;
}

export async function connect(home: string, opts: ConnectOptions): Promise<ChatBackend> {
  const deadline = Date.now() + (opts.waitMs ?? 60_000);
  let told = false;
  for (;;) {
    const taken = takeHome(home, "chat");
    if (!("holder" in taken)) {
      try {
        return localBackend(await opts.open(), () => taken.release());
      } catch (e) {
        taken.release();
        throw e;
      }
    }
    let holder: Holder | null = taken.holder;
    // a service between taking the lock and listening: wait for its URL (or its end)
    while (holder && holder.role === "service" && !holder.url && Date.now() < deadline) {
      if (!told) opts.onWait?.(holder);
      told = true;
      await Bun.sleep(200);
      holder = lockHolder(home);
    }
    if (!holder) continue; // it went away: the home is free again
    if (holder.role === "service" && holder.url) return remoteBackend(holder.url, home);
    refuse(inUse(home, holder));
  }
}
