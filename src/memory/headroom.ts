/**
 * headroom.ts — room on the disk for the next turn, and a reserve for a full one.
 *
 * A turn writes ~200 KB of WAL before a checkpoint folds it back, so a turn
 * started on a nearly full SD card can store its user message and then fail
 * to store the reply. So a turn is only taken while TURN_HEADROOM is free. And
 * a device whose disk filled up must still start (to let its owner read and
 * export the history): RESERVE bytes are held in a file beside the database,
 * given back when a start finds the disk full, and taken again once space is
 * freed. While the reserve is not held, turns are refused: the device serves
 * history and export only.
 */
import { closeSync, existsSync, openSync, renameSync, rmSync, statfsSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";

/** free space a turn needs before it starts (its WAL, the bins, with room to spare) */
export const TURN_HEADROOM = 1 << 20;
/** what the reserve file holds back for a start on a full disk (the bins, leo's state, a checkpoint) */
export const RESERVE = 2 << 20;
const RESERVE_FILE = ".headroom";

/** Bytes this process may still write on the file system that holds `path`, or its nearest existing parent. */
export function freeBytes(path: string): number {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  const s = statfsSync(p);
  return Number(s.bavail) * Number(s.bsize);
}

export class Headroom {
  private readonly reserve: string;

  constructor(private readonly dir: string) {
    this.reserve = join(dir, RESERVE_FILE);
  }

  /** Bytes this process may still write there. */
  free(): number {
    return freeBytes(this.dir);
  }

  /** Whether the reserve is held (then turns may run). */
  get held(): boolean {
    return existsSync(this.reserve);
  }

  /** At start: on a full disk give the reserve back, so the start's own writes fit. Returns whether it did. */
  releaseIfFull(): boolean {
    if (!this.held || this.free() >= TURN_HEADROOM) return false;
    rmSync(this.reserve, { force: true });
    return true;
  }

  /**
   * May a turn start now? It takes the reserve back first when it is not held
   * and there is room for both; without the reserve no turn runs.
   */
  roomForTurn(): boolean {
    if (!this.held && !this.take()) return false;
    return this.free() >= TURN_HEADROOM;
  }

  /** Hold the reserve when the disk has room for it and a turn besides. */
  take(): boolean {
    if (this.held) return true;
    if (this.free() < RESERVE + TURN_HEADROOM) return false;
    const tmp = `${this.reserve}.tmp`;
    try {
      const fd = openSync(tmp, "w", 0o600);
      try {
        const zeros = Buffer.alloc(1 << 16);
        for (let n = 0; n < RESERVE; n += zeros.length) writeSync(fd, zeros); // real blocks: a sparse file reserves nothing
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.reserve);
      return true;
    } catch {
      rmSync(tmp, { force: true });
      return false;
    }
  }
}

/** A turn refused before anything was written: the disk is below its headroom (app.ts answers 507). */
export class StorageFull extends Error {
  readonly code = "ENOSPC";
  constructor(free: number) {
    super(`the disk is full: ${Math.floor(free / 1024)} KiB free, a turn needs ${TURN_HEADROOM >> 10} KiB besides a ${RESERVE >> 10} KiB reserve`);
  }
}
