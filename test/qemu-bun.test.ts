/**
 * qemu-bun.test.ts — the whole runtime stack as a Pi runs it: Bun's own
 * aarch64 build (npm @oven/bun-linux-aarch64, the same version as the host
 * Bun) under qemu-aarch64, driving the Pi builds of libarianna.so through the
 * Engine Worker and bun:ffi:
 *
 *   -cpu cortex-a72 + build/aarch64-cortex_a72   Pi 4
 *   -cpu cortex-a76 + build/aarch64-cortex_a76   Pi 5 (dotprod)
 *
 * A small script loads two tiny models (fp32 v1 and Q8_0 v2) and decodes
 * greedily; the token ids must equal the host's. The aarch64 Bun is fetched
 * once with `npm pack` into build/qemu-bun/<version>/.
 *
 * Needs qemu-aarch64 + /usr/aarch64-linux-gnu (qemu-user, libc6-arm64-cross),
 * zig and npm: skipped with a note where missing, except under CI=true.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { arch } from "node:os";
import { join } from "node:path";
import { writeModelDir } from "../tools/gen-model.ts";
import { REPO_ROOT as ROOT } from "../src/config/paths.ts";

const CI = !!process.env.CI && process.env.CI !== "false";
const SYSROOT = "/usr/aarch64-linux-gnu";
const VERSION = Bun.version;
const CACHE = join(ROOT, "build", "qemu-bun", VERSION);
const BUN_AARCH64 = join(CACHE, "package", "bin", "bun");
const WORK = join(ROOT, "build", "test-qemu-bun");

function hasZig(): boolean {
  if (process.env.ZIG || Bun.which("zig")) return true;
  return Bun.spawnSync(["python3", "-c", "import ziglang"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}
const QEMU = existsSync(join(SYSROOT, "lib", "ld-linux-aarch64.so.1")) ? Bun.which("qemu-aarch64") : null;
const missing: string[] = [];
if (!QEMU && arch() !== "arm64") missing.push("qemu-aarch64 (apt-get install qemu-user libc6-arm64-cross)");
if (!hasZig()) missing.push("zig (python3 -m pip install ziglang==0.17.0)");
if (!existsSync(BUN_AARCH64) && !Bun.which("npm")) missing.push("npm (to fetch @oven/bun-linux-aarch64)");
if (missing.length) {
  const msg = `qemu-bun tests: missing ${missing.join(", ")}`;
  if (CI) throw new Error(msg);
  console.warn(`${msg}; skipping`);
}

// What a Pi runs: open the engine, load, decode greedily; one JSON line out.
const SCRIPT = `
import { Engine } from ${JSON.stringify(join(ROOT, "src/engine/index.ts"))};
const out = { arch: process.arch, variant: "", kernels: [] as string[], ids: [] as number[][] };
const engine = await Engine.open({ threads: 2 });
out.variant = engine.library.variant;
for (const dir of process.argv.slice(2)) {
  const info = await engine.load(dir);
  out.kernels.push(info.kernel);
  const ids: number[] = [];
  for await (const t of engine.generate("Once upon a time", { temperature: 0, maxTokens: 24, bias: { ids: [2], weights: [-1000] } })) ids.push(t.id);
  out.ids.push(ids);
}
await engine.close();
console.log(JSON.stringify(out));
`;

interface Result { arch: string; variant: string; kernels: string[]; ids: number[][] }

function run(cmd: string[], env: Record<string, string> = {}): Result {
  const r = Bun.spawnSync(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe", timeout: 240_000 });
  const out = r.stdout.toString();
  if (r.exitCode !== 0) {
    throw new Error(`${cmd.join(" ")} exited ${r.exitCode} (signal ${r.signalCode}):\n${r.stderr.toString().slice(-3000)}\n${out}`);
  }
  return JSON.parse(out.trim().split("\n").at(-1)!) as Result;
}

/** Fetch Bun's aarch64 build once (npm pack skips the os/cpu check npm install would do). */
function fetchBun(): void {
  if (existsSync(BUN_AARCH64)) return;
  rmSync(CACHE, { recursive: true, force: true });
  mkdirSync(CACHE, { recursive: true });
  const pack = Bun.spawnSync(["npm", "pack", "--silent", "--pack-destination", CACHE, `@oven/bun-linux-aarch64@${VERSION}`], {
    stdout: "pipe", stderr: "pipe",
  });
  const tgz = readdirSync(CACHE).find((f) => f.endsWith(".tgz"));
  if (pack.exitCode !== 0 || !tgz) throw new Error(`npm pack @oven/bun-linux-aarch64@${VERSION} failed:\n${pack.stderr}`);
  const untar = Bun.spawnSync(["tar", "-xzf", join(CACHE, tgz), "-C", CACHE], { stdout: "pipe", stderr: "pipe" });
  if (untar.exitCode !== 0 || !existsSync(BUN_AARCH64)) throw new Error(`unpacking ${tgz} failed:\n${untar.stderr}`);
  rmSync(join(CACHE, tgz));
}

const describeQ = missing.length ? describe.skip : describe;

describeQ(`Bun ${VERSION} for aarch64 under qemu-aarch64`, () => {
  let host: Result;
  const script = join(WORK, "engine.ts");
  const models = [join(WORK, "v1"), join(WORK, "q8")];

  beforeAll(() => {
    fetchBun();
    const b = Bun.spawnSync(["bash", "cross/build.sh", "aarch64-cortex_a72", "aarch64-cortex_a76"], {
      cwd: ROOT, stdout: "pipe", stderr: "pipe",
    });
    if (b.exitCode !== 0) throw new Error(`cross/build.sh failed:\n${b.stderr}`);
    mkdirSync(WORK, { recursive: true });
    writeFileSync(script, SCRIPT);
    const dims = { dim: 64, hiddenDim: 160, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 320, seqLen: 96 };
    writeModelDir(models[0], { ...dims, format: 1, seed: 11 });
    writeModelDir(models[1], { ...dims, format: 2, groupSize: 32, seed: 12 });
    host = run([process.execPath, script, ...models]);
    expect(host.ids.map((x) => x.length)).toEqual([24, 24]);
  }, 300_000);

  const CASES = [
    { cpu: "cortex-a72", lib: "aarch64-cortex_a72", kernel: "neon" },
    { cpu: "cortex-a76", lib: "aarch64-cortex_a76", kernel: "neon-dotprod" },
  ] as const;
  // natively (an arm64 host without qemu) the CPU is what it is
  const nativeDotprod = !QEMU && /\basimddp\b/.test(Bun.spawnSync(["cat", "/proc/cpuinfo"]).stdout.toString());
  for (const { cpu, lib, kernel } of CASES) {
    test.skipIf(!QEMU && cpu === "cortex-a76" && !nativeDotprod)(`-cpu ${cpu} with build/${lib}: same greedy tokens as the host`, () => {
      const prefix = QEMU ? [QEMU, "-cpu", cpu, "-L", SYSROOT] : []; // an arm64 host runs it natively
      const r = run([...prefix, BUN_AARCH64, script, ...models], {
        ARIANNA_LIB: join(ROOT, "build", lib, "libarianna.so"),
      });
      expect(r.arch).toBe("arm64");
      expect(r.variant).toBe("env");
      if (QEMU) expect(r.kernels).toEqual([kernel, kernel]);
      expect(r.ids).toEqual(host.ids);
    }, 240_000);
  }
});
