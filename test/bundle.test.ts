/**
 * bundle.test.ts — cross/bundle.sh and cross/deploy.sh, really run.
 *
 * bundle.sh builds every target (incrementally) and packs two bundles; their
 * contents are checked. deploy.sh then deploys them with --local into a temp
 * "/opt/inner-arianna" (rsync, bun install --production, atomic switch of
 * current, pruning), and once through a fake ssh (a script that runs the
 * "remote" command here) to exercise the ssh/rsync -e quoting. The deployed
 * release must load the engine from its bundled library and generate.
 *
 * Needs zig (cross/build.sh), rsync and tar: skipped with a note where
 * missing, except under CI=true.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { libraryCandidates } from "../src/engine/library.ts";
import { writeModelDir } from "../tools/gen-model.ts";
import { REPO_ROOT as ROOT } from "../src/config/paths.ts";

const CI = !!process.env.CI && process.env.CI !== "false";
const TARGETS = ["aarch64-cortex_a72", "aarch64-cortex_a76", "x86_64"];

function hasZig(): boolean {
  if (process.env.ZIG || Bun.which("zig")) return true;
  return Bun.spawnSync(["python3", "-c", "import ziglang"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}
const missing = [
  ...(hasZig() ? [] : ["zig (python3 -m pip install ziglang==0.17.0)"]),
  ...(Bun.which("rsync") ? [] : ["rsync"]),
];
if (missing.length) {
  const msg = `bundle tests: missing ${missing.join(", ")}`;
  if (CI) throw new Error(msg);
  console.warn(`${msg}; skipping`);
}

function sh(cmd: string[], env: Record<string, string> = {}) {
  const r = Bun.spawnSync(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const res = { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
  if (res.code !== 0) throw new Error(`${cmd.join(" ")} exited ${res.code}:\n${res.err}\n${res.out}`);
  return res;
}

const describeB = missing.length ? describe.skip : describe;

describeB("cross/bundle.sh + cross/deploy.sh", () => {
  let tmp: string;
  let out: string;
  const tarOf = (v: string) => join(out, `inner-arianna-${v}.tar.gz`);

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "arianna-bundle-"));
    out = join(tmp, "bundles");
    const first = sh(["bash", "cross/bundle.sh", "--out", out], { BUNDLE_VERSION: "9.9.9-test.1" });
    expect(first.out).toContain("== bundle: cross/build.sh");
    sh(["bash", "cross/bundle.sh", "--out", out, "--no-build"], { BUNDLE_VERSION: "9.9.9-test.2" });
  }, 300_000);
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test("the bundle holds the runtime and nothing else", () => {
    const files = sh(["tar", "-tzf", tarOf("9.9.9-test.1")]).out.split("\n").filter((f) => f && !f.endsWith("/"));
    const top = "inner-arianna-9.9.9-test.1/";
    for (const f of files) expect(f.startsWith(top)).toBe(true);
    const rel = new Set(files.map((f) => f.slice(top.length)));
    for (const f of [
      "VERSION", "package.json", "bun.lock", "bunfig.toml", "src/main.ts", "src/engine/worker.ts",
      "src/service/watchdog.ts", "src/service/log.ts", "systemd/arianna.service", "systemd/install.sh",
      ...TARGETS.flatMap((t) => [`build/${t}/libarianna.so`, `build/${t}/arianna-run`]),
    ]) expect(rel.has(f)).toBe(true);
    for (const f of ["model.bin", "tokenizer.bin"]) {
      if (existsSync(join(ROOT, "models/default", f))) expect(rel.has(`models/default/${f}`)).toBe(true);
    }
    for (const f of rel) {
      expect(f).not.toMatch(/^(test|trainer|data|node_modules|csrc|tools|cross|\.git|\.ci)\//);
      expect(f).not.toMatch(/\.test\.ts$|^build\/(host|bundle|test)/);
    }
  });

  test("checksum, LATEST, and libraries built for their machines", () => {
    const r = Bun.spawnSync(["sha256sum", "-c", "inner-arianna-9.9.9-test.1.tar.gz.sha256"], { cwd: out });
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(out, "LATEST"), "utf8").trim()).toBe("inner-arianna-9.9.9-test.2.tar.gz");
    const x = join(tmp, "x");
    sh(["mkdir", "-p", x]);
    sh(["tar", "-xzf", tarOf("9.9.9-test.1"), "-C", x]);
    const rel = join(x, "inner-arianna-9.9.9-test.1");
    expect(readFileSync(join(rel, "VERSION"), "utf8")).toBe("9.9.9-test.1\n");
    for (const t of TARGETS) {
      const elf = readFileSync(join(rel, "build", t, "libarianna.so"));
      expect(elf.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
      expect(elf.readUInt16LE(18)).toBe(t.startsWith("aarch64") ? 183 : 62); // EM_AARCH64 / EM_X86_64
    }
    expect(statSync(join(rel, "systemd/install.sh")).mode & 0o111).not.toBe(0);
  });

  test("deploy --local: rsync, bun install, atomic switch, prune; the release runs", () => {
    const dest = join(tmp, "opt");
    const d1 = sh(["bash", "cross/deploy.sh", "--local", dest, "--bundle", tarOf("9.9.9-test.1")]).out;
    for (const s of ["rsync to", "bun install --frozen-lockfile --production", "switch", "keep the newest"]) expect(d1).toContain(s);
    expect(readlinkSync(join(dest, "current"))).toBe("releases/9.9.9-test.1");
    const cur = join(dest, "current");
    expect(readFileSync(join(cur, "VERSION"), "utf8").trim()).toBe("9.9.9-test.1");
    expect(existsSync(join(cur, "node_modules/hono/package.json"))).toBe(true);
    expect(existsSync(join(cur, "node_modules/@types/bun"))).toBe(false); // --production

    // the deployed tree, on its own: picks its bundled library and generates
    const model = join(tmp, "model");
    writeModelDir(model, { dim: 32, hiddenDim: 64, nLayers: 1, nHeads: 2, vocabSize: 300, seqLen: 32 });
    const smoke = join(cur, "smoke.ts");
    writeFileSync(smoke, `
      import { Engine } from "./src/engine/index.ts";
      const e = await Engine.open({ threads: 1 });
      await e.load(process.argv[2]);
      let n = 0;
      for await (const _ of e.generate("hi", { temperature: 0, maxTokens: 5, bias: { ids: [2], weights: [-1000] } })) n++;
      console.log(JSON.stringify({ variant: e.library.variant, lib: e.library.libPath, n }));
      await e.close();`);
    if (libraryCandidates({ root: cur }).some((c) => existsSync(c.path))) {
      const r = JSON.parse(sh([process.execPath, smoke, model], { ARIANNA_LIB: "" }).out.trim().split("\n").at(-1)!);
      expect(r.n).toBe(5);
      expect(TARGETS).toContain(r.variant);
      expect(r.lib.startsWith(join(dest, "releases/9.9.9-test.1/build/"))).toBe(true);
    } else {
      console.warn("bundle tests: no bundled library fits this CPU (x86-64 without AVX2/FMA?); smoke run skipped");
    }
    rmSync(smoke);

    // second release: unchanged files are hard links into the live one
    sh(["bash", "cross/deploy.sh", "--local", dest, "--bundle", tarOf("9.9.9-test.2")]);
    expect(readlinkSync(join(dest, "current"))).toBe("releases/9.9.9-test.2");
    expect(statSync(join(dest, "releases/9.9.9-test.2/src/main.ts")).nlink).toBe(2);
    expect(readdirSync(join(dest, "releases")).sort()).toEqual(["9.9.9-test.1", "9.9.9-test.2"]);

    // back to the first (a rollback is a redeploy), keeping one: the other goes
    const d3 = sh(["bash", "cross/deploy.sh", "--local", dest, "--bundle", tarOf("9.9.9-test.1"), "--keep", "1"]).out;
    expect(d3).toContain("remove releases/9.9.9-test.2");
    expect(readlinkSync(join(dest, "current"))).toBe("releases/9.9.9-test.1");
    expect(readdirSync(join(dest, "releases"))).toEqual(["9.9.9-test.1"]);
    expect(existsSync(join(dest, "current/node_modules/hono"))).toBe(true);
  }, 120_000);

  test("deploy over (fake) ssh: same steps through ssh and rsync -e", () => {
    // `ssh HOST CMD...`: run CMD here with sh, as sshd would with the login shell
    const fakeSsh = join(tmp, "fake-ssh");
    writeFileSync(fakeSsh, `#!/bin/sh\nwhile [ $# -gt 0 ]; do case "$1" in -[lpioFJ]) shift 2;; -*) shift;; *) break;; esac; done\nshift\nexec sh -c "$*"\n`);
    chmodSync(fakeSsh, 0o755);
    const dest = join(tmp, "remote opt"); // a space: the quoting must hold
    const r = sh(["bash", "cross/deploy.sh", "pi@device", "--dir", dest, "--no-restart", "--bundle", tarOf("9.9.9-test.2")], {
      SSH: fakeSsh,
    }).out;
    expect(r).toContain("== deploy (pi@device): service left alone (--no-restart)");
    expect(readlinkSync(join(dest, "current"))).toBe("releases/9.9.9-test.2");
    expect(existsSync(join(dest, "current/node_modules/hono"))).toBe(true);
    expect(existsSync(join(dest, "current/build/aarch64-cortex_a72/libarianna.so"))).toBe(true);
  }, 120_000);

  test("a bundle that does not match its .sha256 is refused", () => {
    const bad = join(tmp, "bad");
    sh(["mkdir", "-p", bad]);
    sh(["cp", tarOf("9.9.9-test.1"), `${tarOf("9.9.9-test.1")}.sha256`, bad]);
    const tgz = join(bad, "inner-arianna-9.9.9-test.1.tar.gz");
    writeFileSync(tgz, Buffer.concat([readFileSync(tgz), Buffer.from("x")]));
    const r = Bun.spawnSync(["bash", "cross/deploy.sh", "--local", join(tmp, "opt3"), "--bundle", tgz], { cwd: ROOT, stderr: "pipe" });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.toString()).toContain("does not match its .sha256");
    expect(existsSync(join(tmp, "opt3/current"))).toBe(false);
  });
});
