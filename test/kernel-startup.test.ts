/**
 * kernel-startup.test.ts — a restart never serves what hot reload refused, and always
 * comes back: the real service (`bun src/main.ts`) is restarted over broken
 * uploads left in models/current, and must serve the last good kernel (or the
 * bundled one when there is none) with one warning line. While it runs, the
 * upload checks that must not block or copy first are driven through
 * POST /api/reload: a FIFO, a symlinked model.bin, a 64 MiB junk file.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, copyFileSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { KernelStore, RejectedUpload } from "../src/reload/store.ts";
import { getJson, startService, tempDir, TINY, writeKernel, type Service } from "../tools/reliability/service.ts";
import { REPO_ROOT } from "../src/config/runtime.ts";

const root = tempDir("startup");
const home = join(root, "home");
const models = join(home, "models");
const current = join(models, "current");
afterAll(() => rmSync(root, { recursive: true, force: true }));

const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
const BUNDLED_SHA = JSON.parse(readFileSync(join(REPO_ROOT, "models", "default", "manifest.json"), "utf8")).sha256.model as string;

/** Fill models/current (a plain directory, as rsync leaves it) with these files. */
function upload(files: Record<string, Uint8Array | string | null>): void {
  rmSync(current, { recursive: true, force: true });
  mkdirSync(current, { recursive: true });
  for (const [name, data] of Object.entries(files)) if (data !== null) writeFileSync(join(current, name), data);
}

const reload = async (url: string) => {
  const res = await fetch(`${url}/api/reload`, { method: "POST", body: "{}", headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(20_000) });
  return { status: res.status, body: (await res.json()) as { error?: string } };
};

async function stop(s: Service): Promise<number> {
  s.proc.kill("SIGTERM");
  const code = await Promise.race([s.exited, Bun.sleep(15_000).then(() => "hung" as const)]);
  if (code === "hung") await s.kill("SIGKILL");
  return code === "hung" ? -1 : code;
}

/** `check` the service started over `files` in models/current; then SIGTERM must stop it cleanly (exit 0). */
async function servingAfter(files: Record<string, Uint8Array | string | null>, check: (s: Service) => Promise<void>) {
  upload(files);
  const s = await startService(home);
  try {
    await check(s);
  } finally {
    expect(await stop(s)).toBe(0);
  }
}

/** The sha256 of the model the service serves. */
const served = async (s: Service) => (await getJson(`${s.url}/health`)).body.sha256;

describe("start-up verifies like hot reload and falls back", async () => {
  const A = await writeKernel(join(root, "A"), TINY, "A");
  const a = Object.fromEntries(["model.bin", "tokenizer.bin", "manifest.json"].map((f) => [f, new Uint8Array(readFileSync(join(root, "A", f)))]));
  const manifestFor = (model: Uint8Array, extra: object = {}) =>
    JSON.stringify({ name: "bad", sha256: { model: sha256(model), tokenizer: sha256(a["tokenizer.bin"]!) }, ...extra });

  test("a good upload serves and becomes the last good kernel", async () => {
    await servingAfter(a, async (s) => {
      expect(await served(s)).toBe(A.sha256);
      expect(s.log.filter((l) => l.includes("start:"))).toEqual([]);
    });
  }, 60_000);

  const half = a["model.bin"]!.slice(0, a["model.bin"]!.length >> 1);
  const seq8Dir = join(root, "seq8");
  const otherDir = join(root, "other");
  const broken: [string, () => Promise<Record<string, Uint8Array | string | null>>, RegExp][] = [
    ["a truncated model.bin", async () => ({ ...a, "model.bin": half }), /truncated/],
    ["a manifest that is not JSON", async () => ({ ...a, "manifest.json": '{"name": ' }), /manifest\.json/],
    ["a model.bin that fails its sha256", async () => {
      const m = a["model.bin"]!.slice();
      m[m.length - 1]! ^= 0xff;
      return { ...a, "model.bin": m };
    }, /sha256/],
    ["a chat template without {text}", async () => {
      // another kernel's bytes: the same ones would just be the last good kernel again
      await writeKernel(otherDir, { ...TINY, seed: 3 }, "other");
      const model = new Uint8Array(readFileSync(join(otherDir, "model.bin")));
      return { ...a, "model.bin": model, "manifest.json": manifestFor(model, { chat_template: { system: "S", user: "U", assistant: "A" } }) };
    }, /\{text\}/],
    ["a kernel with seq_len 8", async () => {
      await writeKernel(seq8Dir, { ...TINY, seqLen: 8 }, "seq8");
      return Object.fromEntries(["model.bin", "tokenizer.bin", "manifest.json"].map((f) => [f, new Uint8Array(readFileSync(join(seq8Dir, f)))]));
    }, /seq_len 8/],
  ];
  for (const [what, files, reason] of broken) {
    test(`a restart over ${what} serves the last good kernel, with one warning`, async () => {
      await servingAfter(await files(), async (s) => {
        expect(await served(s)).toBe(A.sha256);
        const warnings = s.log.filter((l) => l.includes("start:"));
        expect(warnings.length).toBe(1);
        expect(warnings[0]).toMatch(reason);
        expect(warnings[0]).toMatch(/serving the last good kernel models\/\.live\//);
        const events = (await getJson(`${s.url}/api/status`)).body.reload_events as { trigger: string; ok: boolean; reason?: string }[];
        expect(events.some((e) => e.trigger === "start" && !e.ok && reason.test(e.reason ?? ""))).toBe(true);
        // the same upload is refused again on request, the good kernel stays
        const r = await reload(s.url);
        expect(r.status).toBe(409);
        expect(r.body.error).toMatch(reason);
      });
    }, 60_000);
  }

  test("without a last good copy a rejected upload falls back to the bundled kernel", async () => {
    rmSync(join(models, ".live"), { recursive: true, force: true });
    await servingAfter({ ...a, "model.bin": half }, async (s) => {
      expect(await served(s)).toBe(BUNDLED_SHA);
      const warnings = s.log.filter((l) => l.includes("start:"));
      expect(warnings.length).toBe(1);
      expect(warnings[0]).toMatch(/truncated.*serving the bundled kernel/);
    });
  }, 60_000);

  test("uploads that are not plain files are refused at once: a FIFO, a symlink; SIGTERM still stops the service", async () => {
    await servingAfter(a, async (s) => {
      expect(await served(s)).toBe(A.sha256);
      for (const name of ["tokenizer.bin", "manifest.json", "model.bin"]) {
        upload({ ...a, [name]: null });
        expect(spawnSync("mkfifo", [join(current, name)]).status).toBe(0);
        const r = await reload(s.url);
        expect(r.status).toBe(409);
        expect(r.body.error).toMatch(name === "model.bin" ? /model\.bin/ : new RegExp(`${name.replace(".", "\\.")} is a FIFO`));
      }
      // a symlinked model.bin: refused without reading it, so none of its bytes reach the reason
      const secret = join(root, "secret.bin");
      const bytes = a["model.bin"]!.slice();
      new DataView(bytes.buffer).setInt32(8, 4242, true);
      writeFileSync(secret, bytes);
      upload({ ...a, "model.bin": null });
      symlinkSync(secret, join(current, "model.bin"));
      const r = await reload(s.url);
      expect(r.status).toBe(409);
      expect(r.body.error).toMatch(/model\.bin is a symbolic link/);
      expect(r.body.error).not.toMatch(/4242/);
      expect(await served(s)).toBe(A.sha256);
      // a FIFO left in place: the watcher must not wedge the service
      upload({ ...a, "tokenizer.bin": null });
      spawnSync("mkfifo", [join(current, "tokenizer.bin")]);
      await Bun.sleep(600);
    });
  }, 60_000);

  test("a tokenizer without a manifest must be the serving kernel's own", async () => {
    await servingAfter(a, async (s) => {
      // the same pieces in reverse order: the right count, another model's ids
      const tok = a["tokenizer.bin"]!;
      const v = new DataView(tok.buffer, tok.byteOffset, tok.byteLength);
      const pieces: Uint8Array[] = [];
      for (let at = 4; at + 8 <= tok.byteLength; at += 8 + v.getInt32(at + 4, true)) pieces.push(tok.slice(at, at + 8 + v.getInt32(at + 4, true)));
      const foreign = new Uint8Array(tok.byteLength);
      foreign.set(tok.subarray(0, 4));
      pieces.reverse().reduce((at, p) => (foreign.set(p, at), at + p.length), 4);
      const B = await writeKernel(join(root, "B"), { ...TINY, seed: 5 }, "B");
      const b = new Uint8Array(readFileSync(join(root, "B", "model.bin")));
      upload({ "model.bin": b, "tokenizer.bin": foreign, "manifest.json": null });
      const r = await reload(s.url);
      expect(r.status).toBe(409);
      expect(r.body.error).toMatch(/no manifest\.json to vouch/);
      // a new model.bin with the serving tokenizer needs no manifest
      upload({ "model.bin": b, "tokenizer.bin": tok, "manifest.json": null });
      expect((await reload(s.url)).status).toBe(200);
      expect(await served(s)).toBe(B.sha256);
    });
  }, 60_000);

  test("a junk model.bin is refused from its header, before anything is copied", async () => {
    const dir = join(root, "junk");
    mkdirSync(dir, { recursive: true });
    const fd = openSync(join(dir, "model.bin"), "w");
    writeSync(fd, new TextEncoder().encode("junk".repeat(64)));
    ftruncateSync(fd, 64 << 20); // sparse: 64 MiB that a copy would read and write in full
    closeSync(fd);
    copyFileSync(join(root, "A", "tokenizer.bin"), join(dir, "tokenizer.bin"));
    const store = new KernelStore(join(root, "junk-models"));
    const refused = await store.stage(dir).then(() => null, (e: Error) => e);
    expect(refused).toBeInstanceOf(RejectedUpload);
    expect(refused?.message).toMatch(/^model\.bin: .*truncated/);
  });
});
