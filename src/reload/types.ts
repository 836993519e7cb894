/**
 * types.ts — the contract between the hot-reload manager (src/reload) and its
 * users (the server, main.ts): which kernel is live, what happened at each
 * reload, and how to ask for one.
 */

/** One kernel the runtime has loaded. */
export interface KernelInfo {
  /** the directory it was loaded from (a resolved, versioned path) */
  dir: string;
  /** sha256 of model.bin */
  sha256: string;
  /** the manifest's name, else the directory's */
  name: string;
  /** unix ms */
  loadedAt: number;
}

export type ReloadTrigger = "start" | "watch" | "api" | "signal" | "rollback";

/** What one reload attempt did; rejected and failed attempts are recorded too. */
export interface ReloadEvent {
  /** unix ms */
  at: number;
  trigger: ReloadTrigger;
  ok: boolean;
  /** sha256 of the kernel before and after (after = before when it failed) */
  from: string | null;
  to: string | null;
  dir: string;
  /** why a candidate was rejected or failed to load */
  reason?: string;
  /** how long the swap itself took (load + switch), ms */
  swapMs?: number;
}

export interface ModelRegistry {
  readonly current: KernelInfo | null;
  /** the kernel before the current one, kept for rollback */
  readonly previous: KernelInfo | null;
  /** recent reload attempts, oldest first (bounded) */
  readonly events: readonly ReloadEvent[];
  /** successful swaps since start */
  readonly reloads: number;
  /** Load the live kernel again (or the previous one) and swap it in between generations. */
  reload(options?: { rollback?: boolean; trigger?: ReloadTrigger }): Promise<ReloadEvent>;
  /** Called after every attempt; returns an unsubscribe function. */
  onReload(listener: (event: ReloadEvent) => void): () => void;
  close(): Promise<void>;
}
