/**
 * reload.test.ts — hot reload end to end: a real Engine, real rsync, the
 * trainer's deploy, real files in a temporary ARIANNA_HOME. The tests run in
 * order and share one engine and one manager, as a running service would.
 *
 * Which kernel served a generation is told by its tokens: every generation is
 * greedy with EOS masked, so each kernel has one reference sequence, and a
 * generation that matches one exactly ran wholly on that kernel.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync,
  statSync, symlinkSync, readlinkSync, writeFileSync, writeSync, closeSync, ftruncateSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../src/engine/index.ts";
import { REPO_ROOT } from "../src/engine/library.ts";
import { resolveModelDir } from "../src/config/runtime.ts";
import { createModelManager, type ModelRegistry, type ReloadEvent } from "../src/reload/index.ts";
import { benchReload } from "../tools/bench/reload.ts";
import { expectedModelSize } from "../src/reload/verify.ts";
import { writeModelDir } from "../tools/gen-model.ts";
import { waitFor } from "./support/wait.ts";

// Big enough that a generation (~0.3 s on one thread) is still running when a swap is asked for.
const DIMS = { dim: 256, hiddenDim: 768, nLayers: 4, nHeads: 8, nKvHeads: 8, vocabSize: 512, seqLen: 1024 };
const TOKENS = 300;
const NO_EOS = { ids: [1, 2], weights: [-1000, -1000] };
const PROMPT = "Once upon a time, the sea";
const TRAINER_PY = join(REPO_ROOT, "trainer", ".venv", "bin", "python");

let root: string;
let home: string;
let models: string;
let current: string;
let engine: Engine;
let manager: ModelRegistry;
const logs: string[] = [];
const src: Record<string, string> = {};
const sha: Record<string, string> = {};
const ref: Record<string, number[]> = {};

const sha256 = (path: string) => new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");

function writeManifest(dir: string, name: string): void {
  const files = Object.fromEntries(
    ["model.bin", "tokenizer.bin"].map((f) => [f, { bytes: statSync(join(dir, f)).size, sha256: sha256(join(dir, f)) }]),
  );
  const manifest = {
    manifest_version: 1, name, version: name, format: "ak42-v1-fp32", format_version: 1,
    dims: {
      dim: DIMS.dim, hidden_dim: DIMS.hiddenDim, n_layers: DIMS.nLayers, n_heads: DIMS.nHeads, n_kv_heads: DIMS.nKvHeads,
      vocab_size: DIMS.vocabSize, seq_len: DIMS.seqLen, shared_classifier: true,
    },
    files, sha256: { model: files["model.bin"].sha256, tokenizer: files["tokenizer.bin"].sha256 },
  };
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
}

/** A variant of a source kernel, written by `edit` (then the manifest is rewritten unless told not to). */
function variant(name: string, from: string, edit: (dir: string) => void, remanifest = true): string {
  const dir = join(root, "src", name);
  cpSync(src[from], dir, { recursive: true });
  edit(dir);
  if (remanifest) writeManifest(dir, name);
  return dir;
}

async function generate(): Promise<number[]> {
  const ids: number[] = [];
  for await (const ev of engine.generate(PROMPT, { temperature: 0, maxTokens: TOKENS, bias: NO_EOS })) ids.push(ev.id);
  return ids;
}

const kernelOf = (ids: number[]) => Object.keys(ref).find((k) => Bun.deepEquals(ref[k], ids)) ?? "mixed";

/** A client streaming generation after generation, as a chat would; records what served each. */
function streamingClient() {
  const runs: { start: number; end: number; kernel: string; error?: string }[] = [];
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const start = Date.now();
      try {
        runs.push({ start, kernel: kernelOf(await generate()), end: Date.now() });
      } catch (e) {
        runs.push({ start, end: Date.now(), kernel: "error", error: String(e) });
      }
    }
  })();
  return {
    runs,
    /** Finish after one more complete generation. */
    async stop() {
      const n = runs.length;
      await waitFor(() => runs.length >= n + 1, "one more complete generation");
      stop = true;
      await done;
      return runs;
    },
  };
}

/** The next event (after those already recorded) that matches. */
function nextEvent(match: (e: ReloadEvent) => boolean, timeoutMs = 60_000): Promise<ReloadEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching reload event in ${timeoutMs} ms; events: ${JSON.stringify(manager.events.slice(-4))}`));
    }, timeoutMs);
    const off = manager.onReload((e) => {
      if (!match(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

/** Run a command without blocking the event loop (tokens and file events must keep flowing). */
async function run(cmd: string[]): Promise<void> {
  const p = Bun.spawn(cmd, { stdout: "ignore", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`${cmd.join(" ")} failed: ${await new Response(p.stderr).text()}`);
}

// -I: the test kernels share sizes and (to the second) mtimes, which rsync's quick check would skip.
const rsync = (from: string, ...flags: string[]) => run(["rsync", "-a", "-I", ...flags, from + "/", current + "/"]);

/** When the last of the kernel's files was renamed into place (rename sets ctime). */
const lastRename = (dir: string) =>
  Math.max(...["model.bin", "tokenizer.bin", "manifest.json"].filter((f) => existsSync(join(dir, f))).map((f) => statSync(join(dir, f)).ctimeMs));

/** The trainer's deploy: versions/<v>/ then an atomic rename of the `current` symlink. */
async function deploy(name: string): Promise<void> {
  if (existsSync(TRAINER_PY)) return run([TRAINER_PY, join(REPO_ROOT, "trainer", "deploy.py"), src[name], home]);
  // No trainer environment here: the same steps by hand (deploy.py's 1 and 3).
  await run(["rsync", "-a", "--delay-updates", src[name] + "/", join(models, "versions", name) + "/"]);
  rmSync(join(models, "current.tmp"), { force: true });
  symlinkSync(join("versions", name), join(models, "current.tmp"));
  renameSync(join(models, "current.tmp"), current);
}

/**
 * Bring the manager to a known state (serving the last name, the one before it
 * as previous) through the API path, so each test also runs alone (`-t`).
 * In the file's own order every test already finds its state and this does nothing.
 */
async function given(...names: string[]) {
  const [prev, cur] = names.length > 1 ? names.slice(-2) : [null, names[0]];
  if (manager.current?.sha256 === sha[cur] && (!prev || manager.previous?.sha256 === sha[prev])) return;
  for (const name of names) {
    if (manager.current?.sha256 === sha[name]) continue;
    await rsync(src[name]);
    expect(await manager.reload({ trigger: "api" })).toMatchObject({ ok: true, to: sha[name] });
  }
  expectServing(cur);
}

function expectServing(name: string) {
  expect(manager.current?.sha256).toBe(sha[name]);
  expect(engine.info?.modelPath).toBe(join(manager.current!.dir, "model.bin"));
}

/** Streams through `upload`, then checks the swap: in time, no failures, old then new kernel. */
async function hotReload(from: string, to: string, upload: () => Promise<void>, renamedAt: () => number) {
  await given(from);
  const client = streamingClient();
  await waitFor(() => client.runs.length >= 1, "a first streamed generation");
  const swapped = nextEvent((e) => e.ok && e.to === sha[to]);
  await upload();
  const event = await swapped;
  const runs = await client.stop();
  const latency = event.at - renamedAt(); // printed, not asserted: speed is the benchmark's business (bun run bench)
  expect(runs.filter((r) => r.error)).toEqual([]);
  expect(runs.every((r) => r.kernel === from || r.kernel === to)).toBe(true);
  // Whatever started after the swap ran on the new kernel; the last one did too.
  expect(runs.filter((r) => r.start > event.at).every((r) => r.kernel === to)).toBe(true);
  expect(runs.at(-1)!.kernel).toBe(to);
  expect(runs[0].kernel).toBe(from);
  // The swap was asked for while a generation ran; that one finished, whole, on the old kernel.
  const swapAsked = event.at - (event.swapMs ?? 0);
  expect(runs.some((r) => r.start <= swapAsked + 1 && r.end >= swapAsked - 1 && r.kernel === from)).toBe(true);
  expectServing(to);
  return { event, latency, runs };
}

beforeAll(async () => {
  const mk = Bun.spawnSync(["make", "-s", "-C", join(REPO_ROOT, "csrc"), "../build/host/libarianna.so"]);
  if (mk.exitCode !== 0) throw new Error(`building libarianna.so failed:\n${mk.stderr.toString()}`);
  root = mkdtempSync(join(tmpdir(), "arianna-reload-"));
  home = join(root, "home");
  models = join(home, "models");
  current = join(models, "current");
  engine = await Engine.open({ threads: 1 });
  for (const [name, seed] of [["a", 1], ["b", 2], ["c", 3]] as const) {
    src[name] = join(root, "src", name);
    writeModelDir(src[name], { ...DIMS, format: 1, seed });
    writeManifest(src[name], name);
    sha[name] = sha256(join(src[name], "model.bin"));
    await engine.load(src[name]);
    ref[name] = await generate();
  }
  expect(new Set(Object.values(ref).map(String)).size).toBe(3);
  // The first install, as deploy.py leaves it; the service loads what it finds.
  mkdirSync(join(models, "versions"), { recursive: true });
  cpSync(src.a, join(models, "versions", "a"), { recursive: true });
  symlinkSync(join("versions", "a"), current);
  await engine.load(resolveModelDir(home));
  manager = await createModelManager({ engine, home, swap: (dir) => engine.swap(dir), log: (l) => logs.push(l) });
}, 120_000);

afterAll(async () => {
  await manager?.close();
  await engine?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe("hot reload", () => {
  test("adopts the loaded kernel onto a private copy", () => {
    expect(manager.events).toHaveLength(1);
    expect(manager.events[0]).toMatchObject({ trigger: "start", ok: true, from: null, to: sha.a });
    expectServing("a");
    expect(manager.current!.dir.startsWith(join(models, ".live") + "/")).toBe(true);
    expect(manager.current!.name).toBe("a");
    expect(manager.reloads).toBe(0);
  });

  test("the trainer's deploy (versioned dir + symlink switch) while a client streams", async () => {
    const { event, latency } = await hotReload("a", "b", () => deploy("b"), () => lstatSync(current).ctimeMs);
    expect(event.trigger).toBe("watch");
    expect(event.dir).toBe(join(models, "versions", "b"));
    expect(manager.previous?.sha256).toBe(sha.a);
    expect(manager.reloads).toBe(1);
    console.log(`deploy: swap ${latency.toFixed(0)} ms after the rename (swapMs ${event.swapMs?.toFixed(0)})`);
  }, 120_000);

  test("plain rsync into a real current/ directory, default mode", async () => {
    await given("b");
    // An operator replaces the symlink with a real directory holding the live kernel: a no-op.
    const before = manager.events.length;
    cpSync(src.b, join(models, "current.new"), { recursive: true });
    rmSync(current);
    renameSync(join(models, "current.new"), current);
    await Bun.sleep(700); // a window for an unwanted event (past the 300 ms debounce): it can only hide a bug, never fail a good run
    expect(manager.events.length).toBe(before);
    const { event, latency } = await hotReload("b", "c", () => rsync(src.c), () => lastRename(current));
    expect(event.dir).toBe(current);
    console.log(`rsync: swap ${latency.toFixed(0)} ms after the last rename`);
  }, 120_000);

  test("plain rsync --delay-updates", async () => {
    const { latency } = await hotReload("c", "a", () => rsync(src.a, "--delay-updates"), () => lastRename(current));
    expect(manager.previous?.sha256).toBe(sha.c);
    console.log(`rsync --delay-updates: swap ${latency.toFixed(0)} ms after the last rename`);
  }, 120_000);

  test("a wrong sha256 in the manifest is rejected and the old kernel keeps serving", async () => {
    await given("a");
    const bad = variant("bad-sha", "b", (d) => {
      const m = JSON.parse(readFileSync(join(d, "manifest.json"), "utf8"));
      m.sha256.model = m.files["model.bin"].sha256 = "0".repeat(64);
      writeFileSync(join(d, "manifest.json"), JSON.stringify(m));
    }, false);
    const rejected = nextEvent((e) => !e.ok);
    await rsync(bad);
    const e = await rejected;
    expect(e).toMatchObject({ trigger: "watch", from: sha.a, to: sha.a });
    expect(e.reason).toMatch(/model\.bin: sha256 .* does not match the manifest/);
    expect(logs.some((l) => l.startsWith("<4>") && l.includes("does not match the manifest"))).toBe(true);
    expectServing("a");
    expect(kernelOf(await generate())).toBe("a");
  }, 120_000);

  test("a wrong magic is rejected", async () => {
    await given("a");
    const bad = variant("bad-magic", "b", (d) => {
      const fd = openSync(join(d, "model.bin"), "r+");
      writeSync(fd, Buffer.from("ak43"), 0, 4, 0);
      closeSync(fd);
    });
    const rejected = nextEvent((e) => !e.ok);
    await rsync(bad);
    expect((await rejected).reason).toMatch(/^model\.bin: /);
    expectServing("a");
  }, 120_000);

  test("a truncated upload is rejected; completing it is accepted", async () => {
    await given("a");
    const bad = variant("truncated", "b", (d) => {
      const size = statSync(join(d, "model.bin")).size;
      writeFileSync(join(d, "model.bin"), readFileSync(join(d, "model.bin")).subarray(0, size >> 1));
    }, false);
    const rejected = nextEvent((e) => !e.ok);
    await rsync(bad);
    expect((await rejected).reason).toMatch(/truncated/);
    expectServing("a");
    expect(kernelOf(await generate())).toBe("a");
    const accepted = nextEvent((e) => e.ok);
    await rsync(src.b);
    expect(await accepted).toMatchObject({ trigger: "watch", from: sha.a, to: sha.b });
    expectServing("b");
  }, 120_000);

  test("a kernel the engine cannot load is recorded as failed and the old one keeps serving", async () => {
    await given("b");
    // Valid model and manifest, the right number of tokenizer pieces, but a max_token_length of 0,
    // which the C loader refuses: only the load can tell.
    const bad = variant("bad-tokenizer", "c", (d) => {
      const tok = readFileSync(join(d, "tokenizer.bin"));
      tok.writeUInt32LE(0, 0);
      writeFileSync(join(d, "tokenizer.bin"), tok);
    });
    const failed = nextEvent((e) => !e.ok);
    await rsync(bad);
    const e = await failed;
    expect(e.reason).toMatch(/^load failed: /);
    expect(e.swapMs).toBeGreaterThanOrEqual(0);
    expect(logs.some((l) => l.startsWith("<3>") && l.includes("load failed"))).toBe(true);
    expectServing("b");
    expect(kernelOf(await generate())).toBe("b");
    // Only the live and the previous kernel stay in the private store, and the link to the last good one (the live).
    expect(readdirSync(join(models, ".live")).sort()).toEqual(
      [manager.current!.dir, manager.previous!.dir].map((d) => d.split("/").at(-1)!).concat("last-good").sort(),
    );
    expect(readlinkSync(join(models, ".live", "last-good"))).toBe(manager.current!.dir.split("/").at(-1)!);
  }, 120_000);

  test("rollback goes back to the previous kernel and forth again", async () => {
    await given("a", "b");
    const reloads = manager.reloads;
    const back = await manager.reload({ rollback: true });
    expect(back).toMatchObject({ trigger: "rollback", ok: true, from: sha.b, to: sha.a });
    expectServing("a");
    expect(kernelOf(await generate())).toBe("a");
    expect(manager.previous?.sha256).toBe(sha.b);
    const forth = await manager.reload({ rollback: true });
    expect(forth).toMatchObject({ ok: true, from: sha.a, to: sha.b });
    expectServing("b");
    expect(manager.reloads).toBe(reloads + 2);
  }, 120_000);

  test("an in-place overwrite of the uploaded files never reaches the live kernel", async () => {
    await given("b");
    const rejected = nextEvent((e) => !e.ok);
    // What `cp` over the file or `rsync --inplace` does: same inode, new bytes, then a shorter file.
    const path = join(current, "model.bin");
    const size = statSync(path).size;
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.alloc(1 << 20, 0x7f), 0, 1 << 20, size >> 2);
    ftruncateSync(fd, size >> 1);
    closeSync(fd);
    expect(kernelOf(await generate())).toBe("b"); // on a mapping of the upload this would SIGBUS or differ
    expect((await rejected).reason).toMatch(/truncated/);
    expect(kernelOf(await generate())).toBe("b");
    expect(sha256(join(manager.current!.dir, "model.bin"))).toBe(sha.b);
  }, 120_000);

  test("SIGHUP / API reload re-checks: unchanged is a no-op, a new upload is swapped in", async () => {
    await given("b");
    await rsync(src.b); // the same bytes again: a check finds nothing new, whether the watcher's or ours
    const reloads = manager.reloads;
    const same = await manager.reload({ trigger: "signal" });
    expect(same).toMatchObject({ trigger: "signal", ok: true, from: sha.b, to: sha.b });
    expect(manager.reloads).toBe(reloads);
    const seen: ReloadEvent[] = [];
    const off = manager.onReload((e) => seen.push(e));
    await rsync(src.c);
    const next = await manager.reload({ trigger: "api" });
    off();
    expect(next).toMatchObject({ trigger: "api", ok: true, from: sha.b, to: sha.c });
    expect(seen[0]).toBe(next);
    expectServing("c");
    expect(manager.events.at(-1)).toBe(next);
  }, 120_000);

  test("models/current without a model.bin is reported once, unasked; the old kernel keeps serving", async () => {
    await given("c");
    const before = manager.events.length;
    const reported = nextEvent((e) => !e.ok);
    const stash = join(root, "stashed-model.bin");
    renameSync(join(current, "model.bin"), stash); // what a half-finished manual copy leaves
    const e = await reported;
    expect(e).toMatchObject({ trigger: "watch", from: sha.c, to: sha.c, dir: current, reason: "no model.bin at models/current" });
    expect(logs.some((l) => l.startsWith("<4>") && l.includes("no model.bin at models/current"))).toBe(true);
    await Bun.sleep(1500); // a window for a second report (more file events and polls): it can only hide a bug, never fail a good run
    expect(manager.events.length).toBe(before + 1);
    expect(kernelOf(await generate())).toBe("c");
    renameSync(stash, join(current, "model.bin"));
    expect(await manager.reload({ trigger: "api" })).toMatchObject({ ok: true, from: sha.c, to: sha.c });
    expectServing("c");
  }, 120_000);

  test("the header pre-check agrees with the files the generator writes", () => {
    for (const f of [0, 1, 2] as const) {
      const dir = join(root, `fmt${f}`);
      writeModelDir(dir, { dim: 64, hiddenDim: 192, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 300, seqLen: 64, format: f, sharedClassifier: f !== 1 });
      const bytes = readFileSync(join(dir, "model.bin"));
      expect(expectedModelSize(bytes.subarray(0, 256))).toBe(bytes.length);
    }
  });
});

describe("benchReload", () => {
  test("measures the token gap and RSS across reloads", async () => {
    const r = await benchReload({ models: [src.a, src.b], engine: { threads: 1 }, reloads: 2, baselineMs: 400 });
    expect(r.reloadGapMs).toHaveLength(2);
    expect(r.swapMs).toHaveLength(2);
    expect(r.rssPeakBytes).toBeGreaterThanOrEqual(r.rssBaselineBytes);
    console.log(`bench: normal gap max ${r.normalMaxGapMs.toFixed(1)} ms (median ${r.normalMedianGapMs.toFixed(2)}), ` +
      `across a reload ${r.reloadGapMs.map((g) => g.toFixed(1)).join(", ")} ms; swap ${r.swapMs.map((s) => s.toFixed(0)).join(", ")} ms; ` +
      `RSS ${(r.rssBaselineBytes / 2 ** 20).toFixed(0)} -> peak ${(r.rssPeakBytes / 2 ** 20).toFixed(0)} MiB`);
  }, 120_000);
});
