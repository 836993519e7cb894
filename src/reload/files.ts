/**
 * files.ts — opening a file from the upload side without trusting it.
 *
 * An upload may hold anything: a FIFO (open() blocks until a writer comes,
 * wedging every later reload and SIGTERM), a device, or a symlink to any
 * readable file on the device (whose first bytes a header check would echo
 * into the log and /api/status). So a kernel's files are opened without
 * blocking and without following a final symlink, and only a regular file
 * is read.
 */
import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { basename } from "node:path";

/** A file the runtime refuses to read (not a regular file); the message says what it is. */
export class NotAFileError extends Error {}

const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;

/** Open `path` for reading when it is a regular file (not a symlink, FIFO, socket, device or directory). */
export async function openRegular(path: string): Promise<FileHandle> {
  const name = basename(path);
  let fh: FileHandle;
  try {
    fh = await open(path, FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP" || code === "EMLINK") throw new NotAFileError(`${name} is a symbolic link: upload the file itself`);
    if (code === "ENXIO") throw new NotAFileError(`${name} is a socket or a FIFO, not a file`);
    throw e;
  }
  const s = await fh.stat();
  if (s.isFile()) return fh;
  await fh.close();
  const what = s.isFIFO() ? "a FIFO" : s.isDirectory() ? "a directory" : s.isSocket() ? "a socket" : "a device or other special file";
  throw new NotAFileError(`${name} is ${what}, not a regular file`);
}

/** A small text file (a manifest), read through openRegular and refused above `maxBytes`. */
export async function readSmallText(path: string, maxBytes: number): Promise<string> {
  const fh = await openRegular(path);
  try {
    const { size } = await fh.stat();
    if (size > maxBytes) throw new NotAFileError(`${basename(path)} is ${size} bytes, more than the ${maxBytes} a manifest may have`);
    return await fh.readFile("utf8");
  } finally {
    await fh.close();
  }
}
