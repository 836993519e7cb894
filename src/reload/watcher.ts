/**
 * watcher.ts — tell the manager when ARIANNA_HOME/models may hold a new kernel.
 *
 * inotify (fs.watch) on `models` (sees the deploy's rename of the `current`
 * symlink) and on the directory `current` resolves to (sees rsync's renames
 * into it); the second watch is re-armed whenever `current` points elsewhere.
 * Events are debounced: the callback runs after `debounceMs` of quiet, so one
 * upload of three files is one check. A slow poll covers file systems where
 * inotify says nothing (NFS, some bind mounts); the manager's own signature
 * check makes a poll with nothing new cheap.
 */
import { watch, type FSWatcher } from "node:fs";
import { realpath } from "node:fs/promises";
import { join } from "node:path";

export interface WatchOptions {
  debounceMs: number;
  pollMs: number;
  /** names directly under `models` whose changes are not uploads (the runtime's own store) */
  ignore: readonly string[];
}

export interface ModelsWatcher {
  close(): void;
}

export function watchModels(modelsDir: string, onChange: () => void, opts: WatchOptions): ModelsWatcher {
  const current = join(modelsDir, "current");
  let timer: ReturnType<typeof setTimeout> | null = null;
  let closed = false;
  let top: FSWatcher | null = null;
  let inner: { path: string; w: FSWatcher } | null = null;

  const fire = () => {
    timer = null;
    if (closed) return;
    void rearm();
    onChange();
  };
  const bump = () => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, opts.debounceMs);
  };

  const tryWatch = (path: string, listener: (event: string, name: string | null) => void): FSWatcher | null => {
    try {
      const w = watch(path, { persistent: false }, listener);
      w.on("error", () => {}); // the directory went away: rearm() replaces it
      return w;
    } catch {
      return null;
    }
  };

  // Point the inner watch at whatever `current` resolves to now (or nothing).
  const rearm = async () => {
    const path = await realpath(current).catch(() => null);
    if (closed || inner?.path === path) return;
    inner?.w.close();
    inner = null;
    const w = path ? tryWatch(path, bump) : null;
    if (w && path) inner = { path, w };
  };

  const armTop = () => {
    top ??= tryWatch(modelsDir, (_event, name) => {
      if (name && opts.ignore.includes(name)) return;
      bump();
    });
  };

  armTop();
  void rearm();
  const poll = setInterval(() => {
    armTop(); // `models` may not have existed at start
    bump();
  }, opts.pollMs);
  poll.unref?.();

  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      clearInterval(poll);
      top?.close();
      inner?.w.close();
    },
  };
}
