/**
 * source.ts — cheap looks at the upload side, ARIANNA_HOME/models/current,
 * before anything is copied or hashed.
 */
import { readdir, realpath, stat } from "node:fs/promises";
import { join } from "node:path";

const WATCHED = ["model.bin", "tokenizer.bin", "manifest.json"];
// rsync writes `.<name>.XXXXXX` next to the file (default mode) or into
// `.~tmp~/` (--delay-updates), then renames: while either exists, more is coming.
const RSYNC_TEMP = /^\..+\.[A-Za-z0-9]{6}$/;
const DELAY_DIR = ".~tmp~";
// A temp file untouched this long is debris from an aborted upload, not progress.
const STALE_MS = 60_000;

/** Where `current` resolves to, or null when it is missing or has no model.bin. */
export async function resolveSource(currentPath: string): Promise<string | null> {
  const dir = await realpath(currentPath).catch(() => null);
  if (!dir) return null;
  return (await stat(join(dir, "model.bin")).catch(() => null))?.isFile() ? dir : null;
}

/** Identity of what is there now (path, inode, size, mtime of each file): unchanged means nothing new to check. */
export async function signature(dir: string): Promise<string> {
  const parts = await Promise.all(
    WATCHED.map(async (f) => {
      const s = await stat(join(dir, f)).catch(() => null);
      return s ? `${f}:${s.ino}:${s.size}:${s.mtimeMs}` : `${f}:-`;
    }),
  );
  return [dir, ...parts].join("|");
}

/** True while an rsync into `dir` looks unfinished. */
export async function uploadInProgress(dir: string, now = Date.now()): Promise<boolean> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (name === DELAY_DIR ? await newestMtime(join(dir, name)) > now - STALE_MS : RSYNC_TEMP.test(name) && (await mtime(join(dir, name))) > now - STALE_MS)
      return true;
  }
  return false;
}

const mtime = async (path: string) => (await stat(path).catch(() => null))?.mtimeMs ?? 0;

// A file being written inside `.~tmp~` does not touch the directory's own mtime.
async function newestMtime(dir: string): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const times = await Promise.all([dir, ...names.map((n) => join(dir, n))].map(mtime));
  return Math.max(...times);
}
