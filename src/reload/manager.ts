/**
 * manager.ts — the ModelRegistry: decides when a kernel is swapped in.
 *
 * A check resolves `models/current`, snapshots it into the private store,
 * verifies the snapshot (header, exact size, manifest sha256) and hands the
 * private directory to the caller's swap(), which runs between generations.
 * Checks are serialized; whatever fails leaves the live kernel as it was and
 * is recorded with its reason.
 */
import { lstat, readFile } from "node:fs/promises";
import { basename, dirname, join, relative, isAbsolute } from "node:path";
import { realpathSync } from "node:fs";
import type { KernelInfo, ModelRegistry, ReloadEvent, ReloadTrigger } from "./types.ts";
import { hashFile, KernelStore, RejectedUpload, SourceChangedError, type Snapshot } from "./store.ts";
import { resolveSource, signature, uploadInProgress } from "./source.ts";
import { parseManifest, verifyKernel, type Digests } from "./verify.ts";
import { watchModels, type ModelsWatcher } from "./watcher.ts";
import { Serial } from "../shared/serial.ts";

/** lastSig while models/current has no model.bin: reported, and not again until it changes */
const NO_MODEL = "no model.bin";

export interface ModelManagerOptions {
  /** the engine the caller already loaded the first kernel into (only `info` is read) */
  engine: { readonly info: { modelPath: string } | null };
  /** ARIANNA_HOME */
  home: string;
  /** load a model directory and make it live between generations; throws when it cannot */
  swap: (dir: string) => Promise<unknown>;
  /** one journald-style line ("<6>…", "<4>…", "<3>…"); default: console */
  log?: (line: string) => void;
  /** slow stat poll, for file systems without inotify (default 5000) */
  pollMs?: number;
  /** quiet time after the last file event before a check (default 300) */
  debounceMs?: number;
  /** how many events are kept (default 50) */
  maxEvents?: number;
  /** why start-up passed over kernels before the one the engine serves (startup.ts), recorded as rejected start events */
  startProblems?: readonly string[];
}

interface Live {
  info: KernelInfo;
  /** identity of the content: the store's key for both files' digests */
  key: string;
  /** sha256 of tokenizer.bin: an upload without a manifest must keep it */
  tokenizer: string;
}

const defaultLog = (line: string) => (/^<[0-4]>/.test(line) ? console.error(line) : console.log(line));
const short = (sha: string | null | undefined) => (sha ? sha.slice(0, 12) : "none");
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class ModelManager implements ModelRegistry {
  private live: Live | null = null;
  private prev: Live | null = null;
  private readonly history: ReloadEvent[] = [];
  private count = 0;
  private readonly listeners = new Set<(e: ReloadEvent) => void>();
  private readonly store: KernelStore;
  private readonly modelsDir: string;
  private readonly currentPath: string;
  private readonly log: (line: string) => void;
  private readonly checks = new Serial();
  private watchQueued = false;
  private lastSig: string | null = null;
  private watcher: ModelsWatcher | null = null;
  private closed = false;

  constructor(private readonly opts: ModelManagerOptions) {
    this.modelsDir = join(opts.home, "models");
    this.currentPath = join(this.modelsDir, "current");
    this.store = new KernelStore(this.modelsDir);
    this.log = opts.log ?? defaultLog;
  }

  get current(): KernelInfo | null {
    return this.live?.info ?? null;
  }
  get previous(): KernelInfo | null {
    return this.prev?.info ?? null;
  }
  get events(): readonly ReloadEvent[] {
    return this.history;
  }
  get reloads(): number {
    return this.count;
  }

  /** Adopt the kernel the caller loaded, then start watching. */
  async start(): Promise<void> {
    await this.serial(() => this.adoptInitial());
    this.watcher = watchModels(this.modelsDir, () => this.onWatch(), {
      debounceMs: this.opts.debounceMs ?? 300,
      pollMs: this.opts.pollMs ?? 5000,
      ignore: [basename(this.store.root)],
    });
  }

  reload(options: { rollback?: boolean; trigger?: ReloadTrigger } = {}): Promise<ReloadEvent> {
    const trigger: ReloadTrigger = options.rollback ? "rollback" : (options.trigger ?? "api");
    return this.serial(async () => {
      if (this.closed) return this.record({ trigger, ok: false, dir: this.currentPath, reason: "the reload manager is closed" });
      if (trigger === "rollback") return this.rollback();
      return (await this.check(trigger)) as ReloadEvent; // only "watch" checks may return null
    });
  }

  onReload(listener: (event: ReloadEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    await this.checks.idle();
  }

  // -------------------------------------------------------------------------

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.checks.run(fn);
  }

  private onWatch(): void {
    if (this.watchQueued || this.closed) return; // one pending check covers any number of events
    this.watchQueued = true;
    void this.serial(async () => {
      this.watchQueued = false;
      if (!this.closed) await this.check("watch");
    }).catch((e) => this.log(`<3>reload: watch check crashed: ${message(e)}`));
  }

  /**
   * The engine already serves a kernel. When it came from models/ (an upload
   * area), move it onto a private copy so no later write can reach its mmap;
   * the bundled default is left where it is.
   */
  private async adoptInitial(): Promise<void> {
    const loaded = this.opts.engine.info ? dirname(this.opts.engine.info.modelPath) : null;
    const src = await resolveSource(this.currentPath);
    this.lastSig = src ? await signature(src) : null;
    for (const reason of this.opts.startProblems ?? []) this.reject("start", this.currentPath, reason);
    if (!loaded) {
      await this.check("start");
      return;
    }
    if (isInside(this.store.root, loaded) || !isInside(this.modelsDir, loaded)) {
      // One of our own copies (a restart) or the bundled default: nothing uploads there.
      const digests = { model: await hashFile(join(loaded, "model.bin")), tokenizer: await hashFile(join(loaded, "tokenizer.bin")) };
      const manifest = await readManifest(loaded);
      this.live = { info: kernelInfo(loaded, loaded, digests, manifest), key: this.store.pathFor(digests), tokenizer: digests.tokenizer.sha256 };
      this.record({ trigger: "start", ok: true, from: null, to: digests.model.sha256, dir: loaded });
      if (isInside(this.store.root, loaded)) await this.markGood(loaded);
      await this.prune();
      return;
    }
    const snap = await this.store.stage(loaded);
    const reason = await verifyKernel(snap);
    if (reason) {
      // It loaded, so it serves; but it stays on the upload's bytes. Say so.
      await this.store.discard(snap.dir);
      this.live = { info: kernelInfo(loaded, loaded, snap.digests, snap.manifest), key: this.store.pathFor(snap.digests), tokenizer: snap.digests.tokenizer.sha256 };
      this.record({ trigger: "start", ok: true, from: null, to: snap.digests.model.sha256, dir: loaded,
        reason: `serving ${loaded} in place, its snapshot failed verification: ${reason}` });
      return;
    }
    const event = await this.swapTo("start", snap, loaded);
    // The private copy would not load: the engine still serves what the caller loaded.
    if (!event.ok) this.live = { info: kernelInfo(loaded, loaded, snap.digests, snap.manifest), key: this.store.pathFor(snap.digests), tokenizer: snap.digests.tokenizer.sha256 };
  }

  /** Look at models/current and swap it in when it is new, complete and verified. */
  private async check(trigger: ReloadTrigger): Promise<ReloadEvent | null> {
    const quiet = trigger === "watch";
    const src = await resolveSource(this.currentPath);
    if (!src) {
      // The watcher reports a broken upload (a dangling link, a folder without model.bin) once;
      // no models/current at all, or an rsync still writing into it, is nothing to report.
      if (quiet && (this.lastSig === NO_MODEL || !(await lstat(this.currentPath).catch(() => null)) || (await uploadInProgress(this.currentPath))))
        return null;
      this.lastSig = NO_MODEL;
      return this.reject(trigger, this.currentPath, "no model.bin at models/current");
    }
    const sig = await signature(src);
    if (quiet && (sig === this.lastSig || (await uploadInProgress(src)))) return null;
    this.lastSig = sig;
    let snap: Snapshot;
    try {
      snap = await this.store.stage(src);
    } catch (e) {
      if (e instanceof SourceChangedError) this.lastSig = null; // look again when the writes stop
      if (quiet && e instanceof SourceChangedError) return null;
      if (e instanceof RejectedUpload) return this.reject(trigger, src, e.message);
      return this.reject(trigger, src, `cannot copy the kernel: ${message(e)}`);
    }
    const reason = await verifyKernel(snap, this.live?.tokenizer);
    if (reason) {
      await this.store.discard(snap.dir);
      return this.reject(trigger, src, reason);
    }
    if (this.store.pathFor(snap.digests) === this.live?.key) {
      await this.store.discard(snap.dir);
      if (quiet) return null;
      const sha = this.live.info.sha256;
      return this.record({ trigger, ok: true, from: sha, to: sha, dir: src, reason: "unchanged: already live" });
    }
    return this.swapTo(trigger, snap, src);
  }

  private async swapTo(trigger: ReloadTrigger, snap: Snapshot, src: string): Promise<ReloadEvent> {
    const dir = await this.store.commit(snap);
    const from = this.live?.info.sha256 ?? null;
    const t0 = performance.now();
    try {
      await this.opts.swap(dir);
    } catch (e) {
      const swapMs = performance.now() - t0;
      if (dir !== this.prev?.info.dir && dir !== this.live?.info.dir) await this.store.discard(dir);
      return this.record({ trigger, ok: false, from, to: from, dir: src, swapMs, reason: `load failed: ${message(e)}` });
    }
    const swapMs = performance.now() - t0;
    const at = Date.now(); // when it took effect, before the pruning below
    this.prev = this.live;
    this.live = { info: kernelInfo(dir, src, snap.digests, snap.manifest), key: this.store.pathFor(snap.digests), tokenizer: snap.digests.tokenizer.sha256 };
    if (trigger !== "start") this.count++;
    await this.markGood(dir);
    await this.prune();
    return this.record({ at, trigger, ok: true, from, to: snap.digests.model.sha256, dir: src, swapMs });
  }

  private async rollback(): Promise<ReloadEvent> {
    const back = this.prev;
    if (!back || !this.live) return this.reject("rollback", this.currentPath, "no previous kernel to roll back to");
    const from = this.live.info.sha256;
    const t0 = performance.now();
    try {
      await this.opts.swap(back.info.dir);
    } catch (e) {
      return this.record({ trigger: "rollback", ok: false, from, to: from, dir: back.info.dir,
        swapMs: performance.now() - t0, reason: `load failed: ${message(e)}` });
    }
    const swapMs = performance.now() - t0;
    this.prev = this.live;
    this.live = { ...back, info: { ...back.info, loadedAt: Date.now() } };
    this.count++;
    if (isInside(this.store.root, back.info.dir)) await this.markGood(back.info.dir);
    return this.record({ trigger: "rollback", ok: true, from, to: back.info.sha256, dir: back.info.dir, swapMs });
  }

  /** The next start falls back to this copy when models/current will not serve. */
  private async markGood(dir: string): Promise<void> {
    await this.store.markGood(dir).catch((e) => this.log(`<4>reload: cannot mark ${dir} as the last good kernel: ${message(e)}`));
  }

  private async prune(): Promise<void> {
    const keep = [this.live?.info.dir, this.prev?.info.dir, await this.store.lastGood()].filter((d): d is string => !!d);
    const removed = await this.store.prune(keep).catch((e) => {
      this.log(`<4>reload: pruning ${this.store.root} failed: ${message(e)}`);
      return [];
    });
    if (removed.length) this.log(`<7>reload: pruned ${removed.join(", ")}`);
  }

  private reject(trigger: ReloadTrigger, dir: string, reason: string): ReloadEvent {
    const sha = this.live?.info.sha256 ?? null;
    return this.record({ trigger, ok: false, from: sha, to: sha, dir, reason });
  }

  private record(e: Omit<ReloadEvent, "at" | "from" | "to"> & Partial<Pick<ReloadEvent, "at" | "from" | "to">>): ReloadEvent {
    const event: ReloadEvent = { ...e, at: e.at ?? Date.now(), from: e.from ?? null, to: e.to ?? null };
    this.history.push(event);
    if (this.history.length > (this.opts.maxEvents ?? 50)) this.history.shift();
    const ms = event.swapMs === undefined ? "" : ` in ${Math.round(event.swapMs)} ms`;
    if (event.ok && event.from !== event.to)
      this.log(`<6>reload (${event.trigger}): ${short(event.from)} -> ${short(event.to)} from ${event.dir}${ms}`);
    else if (event.ok) this.log(`<6>reload (${event.trigger}): ${event.reason ?? "kernel kept"} (${short(event.to)})`);
    else this.log(`<${event.reason?.startsWith("load failed") ? 3 : 4}>reload (${event.trigger}) rejected ${event.dir}: ${event.reason}; still serving ${short(event.from)}`);
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        this.log(`<4>reload: a listener threw: ${message(err)}`);
      }
    }
    return event;
  }
}

function kernelInfo(dir: string, src: string, d: Digests, manifest: Snapshot["manifest"]): KernelInfo {
  const name = typeof manifest === "object" && manifest?.name ? manifest.name : basename(src);
  return { dir, sha256: d.model.sha256, name, loadedAt: Date.now() };
}

async function readManifest(dir: string): Promise<Snapshot["manifest"]> {
  const text = await readFile(join(dir, "manifest.json"), "utf8").catch(() => null);
  return text === null ? null : parseManifest(text);
}

function isInside(parent: string, child: string): boolean {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return p;
    }
  };
  const rel = relative(real(parent), real(child));
  return rel === "" || (!!rel && !rel.startsWith("..") && !isAbsolute(rel));
}
