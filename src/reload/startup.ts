/**
 * startup.ts — which kernel a fresh start serves.
 *
 * A reboot must come back even when models/current holds an upload that hot
 * reload rightly refused (truncated, a manifest that is not JSON, a wrong
 * sha256, a template without {text}, seq_len 8). So start-up applies the same
 * checks: models/current is copied into the private store and verified there,
 * then loaded and given a smoke turn. When it fails, the last kernel that
 * served (models/.live, verified again against its content address), then the
 * bundled kernel, are tried in turn. An unverified upload is never served.
 */
import { lstat, readFile, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { readSmallText } from "./files.ts";
import { resolveSource } from "./source.ts";
import { hashFile, KernelStore } from "./store.ts";
import { checkModelFile, parseManifest, verifyKernel } from "./verify.ts";

export interface StartOptions {
  /** ARIANNA_HOME */
  home: string;
  /** the bundled kernel: the last resort */
  bundled: string;
  /** load a directory into the engine and prove it serves (template, load, smoke turn); throws why not */
  load: (dir: string) => Promise<void>;
}

export interface StartKernel {
  /** the directory the engine now serves */
  dir: string;
  /** why each kernel before it was passed over, in order ("models/current: …") */
  problems: string[];
  /** one line for the journal when anything was passed over, else null */
  warning: string | null;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Load the first kernel that passes, in the order models/current, the last good copy, the bundled one; throws when none does. */
export async function loadStartKernel(opts: StartOptions): Promise<StartKernel> {
  const models = join(opts.home, "models");
  const store = new KernelStore(models);
  const good = await store.lastGood();
  const problems: string[] = [];
  const attempt = async (what: string, prepare: () => Promise<string>): Promise<string | null> => {
    try {
      const dir = await prepare();
      await opts.load(dir);
      return dir;
    } catch (e) {
      problems.push(`${what}: ${message(e)}`);
      return null;
    }
  };
  const done = (dir: string, what: string): StartKernel => ({
    dir, problems,
    warning: problems.length ? `start: ${problems.join("; ")}; serving ${what} instead` : null,
  });

  /** One of the store's copies, checked again: its content address, header, tokenizer, manifest (its own, or the upload's text). */
  const verifiedCopy = async (dir: string, manifest?: string | null): Promise<string> => {
    const digests = { model: await hashFile(join(dir, "model.bin")), tokenizer: await hashFile(join(dir, "tokenizer.bin")) };
    if (store.pathFor(digests) !== dir) throw new Error("its files no longer match their sha256");
    const text = manifest !== undefined ? manifest : await readFile(join(dir, "manifest.json"), "utf8").catch(() => null);
    const reason = await verifyKernel({ dir, digests, manifest: text === null ? null : parseManifest(text) });
    if (reason) throw new Error(reason);
    return dir;
  };

  const current = join(models, "current");
  if (await lstat(current).catch(() => null)) {
    const dir = await attempt("models/current", async () => {
      const src = await resolveSource(current);
      if (!src) throw new Error("no model.bin there");
      // the bytes already in the store (a plain restart) are not copied again: no SD wear, and no
      // write at all, so a full disk still starts on them
      const header = await checkModelFile(join(src, "model.bin"));
      if (header) throw new Error(header);
      const stored = store.pathFor({ model: await hashFile(join(src, "model.bin")), tokenizer: await hashFile(join(src, "tokenizer.bin")) });
      if (await stat(stored).then((s) => s.isDirectory(), () => false)) {
        // the upload's own manifest must still vouch for them, as on a hot reload
        const text = await readSmallText(join(src, "manifest.json"), 1 << 20).catch((e: NodeJS.ErrnoException) => {
          if (e.code === "ENOENT") return null;
          throw e;
        });
        return verifiedCopy(stored, text);
      }
      const snap = await store.stage(src);
      const reason = await verifyKernel(snap, good && (await hashFile(join(good, "tokenizer.bin"))).sha256);
      if (reason) {
        await store.discard(snap.dir);
        throw new Error(reason);
      }
      return store.commit(snap);
    });
    if (dir) return done(dir, "it");
  }
  if (good) {
    const where = relative(opts.home, good);
    const dir = await attempt(`the last good kernel ${where}`, () => verifiedCopy(good));
    if (dir) return done(dir, `the last good kernel ${where}`);
  }
  const dir = await attempt(`the bundled kernel ${opts.bundled}`, async () => opts.bundled);
  if (dir) return done(dir, `the bundled kernel ${opts.bundled}`);
  throw new Error(`no kernel can serve: ${problems.join("; ")}`);
}
