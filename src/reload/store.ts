/**
 * store.ts — the runtime's private copies of kernels, ARIANNA_HOME/models/.live/<key>/.
 *
 * The engine mmaps model.bin. If that file were the uploaded one, a later
 * in-place write (`cp` over it, `rsync --inplace`) would change the pages
 * under the running kernel, and truncating it would SIGBUS the service. So
 * every accepted kernel is first copied (not hard-linked: a link shares the
 * inode, so it would not protect against in-place writes) into a directory
 * only the runtime writes, hashed while copying, and loaded from there.
 */
import { chmod, mkdir, open, readdir, readlink, rename, rm, stat, symlink, type FileHandle } from "node:fs/promises";
import { basename, join } from "node:path";
import { NotAFileError, openRegular, readSmallText } from "./files.ts";
import type { Digests, KernelFiles, Manifest } from "./verify.ts";
import { checkModelHeader, parseManifest } from "./verify.ts";

const CHUNK = 1 << 20;
/** a manifest is a few hundred bytes; anything near this is not one */
const MAX_MANIFEST_BYTES = 1 << 20;
/** the symlink in .live naming the last kernel that served (the start-up fallback) */
const LAST_GOOD = "last-good";

/** A staged copy: `dir` is the staging directory holding it. */
export type Snapshot = KernelFiles;

/** The upload is not a kernel, found before copying it (its header, or a file that is not a file). */
export class RejectedUpload extends Error {}

/** The source changed while it was being copied: an upload is still going on. */
export class SourceChangedError extends Error {}

/** Read a file in chunks, awaiting each (so streaming tokens keep flowing on a Pi). */
async function eachChunk(fh: FileHandle, fn: (chunk: Buffer, offset: number) => Promise<void> | void): Promise<number> {
  const buf = Buffer.allocUnsafe(CHUNK);
  let bytes = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, CHUNK, bytes);
    if (bytesRead === 0) return bytes;
    await fn(buf.subarray(0, bytesRead), bytes);
    bytes += bytesRead;
  }
}

export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const fh = await openRegular(path);
  try {
    const hasher = new Bun.CryptoHasher("sha256");
    const bytes = await eachChunk(fh, (chunk) => void hasher.update(chunk));
    return { sha256: hasher.digest("hex"), bytes };
  } finally {
    await fh.close();
  }
}

/** Copy src to dst, hashing on the way; `precheck` looks at the open source first and may refuse it. */
async function copyHashed(
  src: string,
  dst: string,
  precheck?: (fh: FileHandle) => Promise<string | null>,
): Promise<{ sha256: string; bytes: number }> {
  const from = await openRegular(src).catch((e) => {
    throw e instanceof NotAFileError ? new RejectedUpload(e.message) : e;
  });
  try {
    const problem = await precheck?.(from);
    if (problem) throw new RejectedUpload(problem);
    const before = await from.stat();
    const to = await open(dst, "wx", 0o600);
    const hasher = new Bun.CryptoHasher("sha256");
    let bytes: number;
    try {
      bytes = await eachChunk(from, async (chunk, offset) => {
        hasher.update(chunk);
        await to.write(chunk, 0, chunk.length, offset);
      });
      await to.sync();
    } finally {
      await to.close();
    }
    // The fd pins the inode, so a rename over src is harmless; an in-place write is not.
    const after = await from.stat();
    if (after.size !== before.size || after.mtimeMs !== before.mtimeMs || bytes !== before.size)
      throw new SourceChangedError(`${src} changed while it was being copied`);
    await chmod(dst, 0o444); // nothing, not even a confused operator, should write under the mmap
    return { sha256: hasher.digest("hex"), bytes };
  } finally {
    await from.close();
  }
}

export class KernelStore {
  readonly root: string;
  private seq = 0;

  constructor(modelsDir: string) {
    this.root = join(modelsDir, ".live");
  }

  /** The directory a kernel with these digests lives in once committed. */
  pathFor(d: Digests): string {
    return join(this.root, `${d.model.sha256.slice(0, 16)}-${d.tokenizer.sha256.slice(0, 8)}`);
  }

  /** Copy a model directory's kernel files (and manifest) into a fresh staging directory. */
  async stage(srcDir: string): Promise<Snapshot> {
    await mkdir(this.root, { recursive: true });
    const dir = join(this.root, `.stage-${process.pid}-${++this.seq}`);
    await mkdir(dir);
    try {
      const [model, tokenizer] = [
        await copyHashed(join(srcDir, "model.bin"), join(dir, "model.bin"), checkModelHeader),
        await copyHashed(join(srcDir, "tokenizer.bin"), join(dir, "tokenizer.bin")),
      ];
      let manifest: Snapshot["manifest"] = null;
      const text = await readSmallText(join(srcDir, "manifest.json"), MAX_MANIFEST_BYTES).catch((e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") return null;
        throw e instanceof NotAFileError ? new RejectedUpload(e.message) : e;
      });
      if (text !== null) {
        await Bun.write(join(dir, "manifest.json"), text);
        manifest = parseManifest(text);
      }
      return { dir, digests: { model, tokenizer }, manifest };
    } catch (e) {
      await this.discard(dir);
      throw e;
    }
  }

  /** Move a verified snapshot to its content-addressed place (reusing an identical one). */
  async commit(snap: Snapshot): Promise<string> {
    const dest = this.pathFor(snap.digests);
    if (await stat(dest).then(() => true, () => false)) {
      await this.discard(snap.dir);
      return dest;
    }
    await rename(snap.dir, dest);
    return dest;
  }

  async discard(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
  }

  /** Remember `dir` (one of the store's copies) as the last kernel that served, for the next start. */
  async markGood(dir: string): Promise<void> {
    const tmp = join(this.root, `.${LAST_GOOD}-${process.pid}`);
    await rm(tmp, { force: true });
    await symlink(basename(dir), tmp);
    await rename(tmp, join(this.root, LAST_GOOD));
  }

  /** The copy markGood named last, when it is still there. */
  async lastGood(): Promise<string | null> {
    const name = await readlink(join(this.root, LAST_GOOD)).catch(() => null);
    if (!name || name.includes("/")) return null;
    const dir = join(this.root, name);
    return (await stat(dir).catch(() => null))?.isDirectory() ? dir : null;
  }

  /** Remove every copy but the ones kept (the live kernel, the rollback one, the last good one). */
  async prune(keep: readonly string[]): Promise<string[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const removed: string[] = [];
    for (const name of names) {
      const dir = join(this.root, name);
      if (keep.includes(dir) || name === LAST_GOOD) continue;
      await this.discard(dir);
      removed.push(dir);
    }
    return removed;
  }
}
