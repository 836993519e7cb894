/**
 * Cross builds (cross/build.sh, zig) checked against the host build.
 *
 * Three tiny random models (fp32 v1, Q8_0 v2, Q4_0 v3) are decoded greedily by the
 * host runner and by every cross runner: natively for x86_64 (on an x86-64
 * host) and under qemu-aarch64 for the Pi builds:
 *
 *   a72 build on -cpu cortex-a72   Pi 4: NEON, int8 without dotprod
 *   a72 build on -cpu cortex-a76   Pi 5 running the Pi 4 build: sdot picked at load time
 *   a76 build on -cpu cortex-a76   Pi 5 build: dotprod at compile time
 *
 * All must produce the same token ids as the host. (Different summation orders
 * could in principle flip a near-tie argmax; with these seeds they do not, so a
 * difference here is a real bug or a real numerical problem to look at, not
 * something to loosen.) test_kernels and test_sampler (csrc/tests) are built
 * for both Pi CPUs and must pass on each, as they do on the host.
 *
 * Where qemu-aarch64 or zig is missing the affected tests are skipped with a
 * note, except under CI=true, where everything must run.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { arch } from "node:os";
import { join } from "node:path";
import { writeModelDir } from "../tools/gen-model.ts";
import { REPO_ROOT as ROOT } from "../src/config/paths.ts";

const BUILD = join(ROOT, "build");
const WORK = join(BUILD, "test-cross");
const CI = !!process.env.CI && process.env.CI !== "false";
const HOST_ARCH = arch(); // "x64" | "arm64" | ...

const AARCH64_SYSROOT = "/usr/aarch64-linux-gnu";
const N_STEPS = 100;
// Long enough (~45 tokens) that the prompt is prefilled through the gemm
// kernels in more than one block before the greedy steps.
const PROMPT = "hello world, I remember the sea and the light of the night; why do we dream of memory and voice?";

function which(cmd: string): string | null {
  return Bun.which(cmd);
}
function hasZig(): boolean {
  if (process.env.ZIG) return true;
  if (which("zig")) return true;
  return Bun.spawnSync(["python3", "-c", "import ziglang"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}

// qemu-aarch64 is only useful with the aarch64 glibc (libc6-arm64-cross) to load.
const QEMU = existsSync(join(AARCH64_SYSROOT, "lib", "ld-linux-aarch64.so.1")) ? which("qemu-aarch64") : null;
const ZIG = hasZig();
const missing: string[] = [];
if (!ZIG) missing.push("zig (python3 -m pip install ziglang==0.17.0)");
if (!QEMU && HOST_ARCH !== "arm64") missing.push("qemu-aarch64 (apt-get install qemu-user libc6-arm64-cross)");
if (missing.length) {
  const msg = `cross tests: missing ${missing.join(", ")}`;
  if (CI) throw new Error(msg);
  console.warn(`${msg}; skipping what needs them`);
}

interface Target {
  dir: string; // build/<dir>
  machine: number; // ELF e_machine
  machineName: string;
  interp: string;
}
const TARGETS: Target[] = [
  { dir: "aarch64-cortex_a72", machine: 183, machineName: "aarch64", interp: "/lib/ld-linux-aarch64.so.1" },
  { dir: "aarch64-cortex_a76", machine: 183, machineName: "aarch64", interp: "/lib/ld-linux-aarch64.so.1" },
  { dir: "x86_64", machine: 62, machineName: "x86-64", interp: "/lib64/ld-linux-x86-64.so.2" },
];

/**
 * How to run a cross runner here: a command prefix ([] = natively), or null
 * when this host cannot. qemu-aarch64 emulates the exact CPU; without it an
 * aarch64 host (a Pi) runs the builds its own CPU supports natively.
 */
function launcher(target: string, cpu: "cortex-a72" | "cortex-a76" | "native"): string[] | null {
  // The x86_64 build (x86-64-v3) runs natively where the CPU has AVX2 + FMA.
  if (target === "x86_64") return HOST_ARCH === "x64" && cpuHas("avx2") && cpuHas("fma") ? [] : null;
  if (QEMU) return [QEMU, "-cpu", cpu, "-L", AARCH64_SYSROOT];
  if (HOST_ARCH === "arm64") return cpu === "cortex-a76" && !cpuHas("asimddp") ? null : [];
  return null;
}

function cpuHas(feature: string): boolean {
  try {
    return new RegExp(`^(flags|features)\\s*:.*\\b${feature}\\b`, "mi").test(readFileSync("/proc/cpuinfo", "utf8"));
  } catch {
    return false;
  }
}

interface Model {
  name: string;
  dir: string;
}
const MODELS: Model[] = [
  { name: "fp32-v1", dir: join(WORK, "fp32-v1") },
  { name: "q8-v2", dir: join(WORK, "q8-v2") },
  { name: "q4-v3", dir: join(WORK, "q4-v3") },
];

function runIds(prefix: string[], runner: string, m: Model): { ids: number[]; out: string; code: number | null } {
  const r = Bun.spawnSync(
    [...prefix, runner, join(m.dir, "model.bin"), "-z", join(m.dir, "tokenizer.bin"), "-t", "0", "-n", String(N_STEPS),
      "--ids", "-i", PROMPT],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, QEMU_LD_PREFIX: AARCH64_SYSROOT } },
  );
  const stdout = r.stdout.toString();
  const ids = stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
  return { ids, out: stdout + r.stderr.toString(), code: r.exitCode ?? (r.signalCode ? -1 : null) };
}

/** ELF facts from the header and the dynamic strings. */
function elfInfo(path: string) {
  const b = readFileSync(path);
  const magic = b.subarray(0, 4).toString("latin1");
  const cls = b[4]; // 2 = 64-bit
  const data = b[5]; // 1 = little endian
  const type = b.readUInt16LE(16); // 2 EXEC, 3 DYN
  const machine = b.readUInt16LE(18);
  const text = b.toString("latin1");
  let maxGlibc = 0;
  for (const m of text.matchAll(/GLIBC_2\.(\d+)/g)) maxGlibc = Math.max(maxGlibc, Number(m[1]));
  const interp = /\/lib(?:64)?\/ld-linux[\w.-]*\.so\.\d/.exec(text)?.[0] ?? "";
  return { magic, cls, data, type, machine, maxGlibc, interp };
}

/**
 * A tiny program that dlopen()s a libarianna.so and prints ar_kernel_name():
 * which kernel set the library picks on the CPU it runs on (qemu's -cpu).
 */
const PROBE_C = `#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { fprintf(stderr, "%s\\n", dlerror()); return 1; }
    const char *(*name)(void) = (const char *(*)(void))dlsym(h, "ar_kernel_name");
    if (!name) { fprintf(stderr, "no ar_kernel_name\\n"); return 1; }
    printf("%s\\n", name());
    return 0;
}
`;

function zigCmd(): string[] {
  if (process.env.ZIG) return process.env.ZIG.split(/\s+/);
  if (Bun.spawnSync(["python3", "-c", "import ziglang"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0) {
    return ["python3", "-m", "ziglang"];
  }
  return ["zig"];
}

/** Build the probe for aarch64 (baseline cortex-a72, so it runs on both CPUs). */
function buildProbe(): string {
  const src = join(WORK, "kprobe.c");
  const out = join(WORK, "kprobe-aarch64");
  writeFileSync(src, PROBE_C);
  const r = Bun.spawnSync(
    [...zigCmd(), "cc", "-target", "aarch64-linux-gnu.2.31", "-mcpu=cortex_a72", "-O1", "-o", out, src, "-ldl"],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0) throw new Error(`building the kernel probe failed:\n${r.stderr.toString()}`);
  return out;
}

let buildLog = "";
let buildOk = false;
const hostIds = new Map<string, number[]>();

describe("cross builds", () => {
  beforeAll(() => {
    // Host build (the reference) and the cross builds; both are incremental.
    const host = Bun.spawnSync(["make", "-s", "-C", "csrc", "host"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    buildLog += host.stdout.toString() + host.stderr.toString();
    if (host.exitCode !== 0) return;
    if (ZIG) {
      const cross = Bun.spawnSync(["bash", "cross/build.sh"], {
        cwd: ROOT,
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, JOBS: "2" },
      });
      buildLog += cross.stdout.toString() + cross.stderr.toString();
      if (cross.exitCode !== 0) return;
    }
    mkdirSync(WORK, { recursive: true });
    for (const [m, format] of [[MODELS[0], 1], [MODELS[1], 2], [MODELS[2], 3]] as const) {
      writeModelDir(m.dir, {
        dim: 64, hiddenDim: 192, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 512, seqLen: 128,
        format, groupSize: 32, seed: 7,
        // A separate classifier: with a shared one, random weights make greedy
        // decoding repeat one token after a few steps, which would compare
        // almost nothing. This seed gives ~30 distinct tokens out of 40.
        sharedClassifier: false,
      });
    }
    buildOk = true;
  }, 900_000);

  test("host and cross builds succeed", () => {
    if (!buildOk) console.error(buildLog);
    expect(buildOk).toBe(true);
    if (buildLog.trim()) console.log(buildLog.trim());
  });

  for (const t of TARGETS) {
    test.skipIf(!ZIG)(`${t.dir}: ELF ${t.machineName}, glibc <= 2.31`, () => {
      expect(buildOk).toBe(true);
      for (const f of ["libarianna.so", "arianna-run"]) {
        const p = join(BUILD, t.dir, f);
        expect(existsSync(p)).toBe(true);
        expect(statSync(p).size).toBeGreaterThan(1000);
        const e = elfInfo(p);
        expect(e.magic).toBe("\x7fELF");
        expect(e.cls).toBe(2);
        expect(e.data).toBe(1);
        expect(e.machine).toBe(t.machine);
        if (f === "libarianna.so") expect(e.type).toBe(3); // ET_DYN
        else expect([2, 3]).toContain(e.type); // ET_EXEC or PIE
        // Raspberry Pi OS bullseye ships glibc 2.31: nothing newer may be required.
        expect(e.maxGlibc).toBeGreaterThan(0);
        expect(e.maxGlibc).toBeLessThanOrEqual(31);
        if (f === "arianna-run") expect(e.interp).toBe(t.interp);
        const file = which("file");
        if (file) {
          const desc = Bun.spawnSync([file, "-b", p]).stdout.toString();
          expect(desc).toContain("ELF 64-bit LSB");
          expect(desc).toContain(t.machine === 183 ? "ARM aarch64" : "x86-64");
        }
      }
    });
  }

  // Which kernels each Pi build picks on each CPU (int8 via sdot or not).
  const kernelCases: [string, "cortex-a72" | "cortex-a76", string][] = [
    ["aarch64-cortex_a72", "cortex-a72", "neon"],
    ["aarch64-cortex_a72", "cortex-a76", "neon-dotprod"],
    ["aarch64-cortex_a76", "cortex-a76", "neon-dotprod"],
  ];
  let probe = "";
  for (const [dir, cpu, want] of kernelCases) {
    test.skipIf(!ZIG || !QEMU)(`${dir} on ${cpu} picks the ${want} kernels`, () => {
      expect(buildOk).toBe(true);
      if (!probe) probe = buildProbe();
      const r = Bun.spawnSync([QEMU!, "-cpu", cpu, "-L", AARCH64_SYSROOT, probe, join(BUILD, dir, "libarianna.so")], {
        stdout: "pipe",
        stderr: "pipe",
      });
      if (r.exitCode !== 0) console.error(r.stderr.toString());
      expect(r.exitCode).toBe(0);
      expect(r.stdout.toString().trim()).toBe(want);
    });
  }

  for (const m of MODELS) {
    test(`host reference decode (${m.name})`, () => {
      expect(buildOk).toBe(true);
      const r = runIds([], join(BUILD, "host", "arianna-run"), m);
      if (r.code !== 0) console.error(r.out);
      expect(r.code).toBe(0);
      expect(r.ids.length).toBeGreaterThan(20);
      // The comparison below only means something if the sequence varies.
      expect(new Set(r.ids).size).toBeGreaterThan(10);
      hostIds.set(m.name, r.ids);
    });

    const runs: [string, string, "cortex-a72" | "cortex-a76" | "native"][] = [
      ["x86_64 build, native", "x86_64", "native"],
      ["a72 build on cortex-a72 (Pi 4)", "aarch64-cortex_a72", "cortex-a72"],
      ["a72 build on cortex-a76 (dotprod at load time)", "aarch64-cortex_a72", "cortex-a76"],
      ["a76 build on cortex-a76 (Pi 5)", "aarch64-cortex_a76", "cortex-a76"],
    ];
    for (const [label, dir, cpu] of runs) {
      const prefix = launcher(dir, cpu);
      test.skipIf(!ZIG || prefix === null)(
        `${m.name}: ${label} gives the host's tokens`,
        () => {
          expect(buildOk).toBe(true);
          const ref = hostIds.get(m.name);
          expect(ref).toBeDefined();
          const r = runIds(prefix!, join(BUILD, dir, "arianna-run"), m);
          if (r.code !== 0) console.error(r.out);
          expect(r.code).toBe(0);
          expect(r.ids).toEqual(ref!);
        },
        120_000,
      );
    }
  }

  // Two of csrc/tests built for the Pi and run on each CPU: the token checks above decode greedily,
  // so nothing there compares the NEON kernels with the scalar ones one by one (test_kernels) or
  // reads the sampler's entropy, whose sums have a NEON exp of their own (test_sampler, against libm).
  const piBuilds = new Map<string, string>();
  function buildPiTest(name: string, mcpu: string): string {
    const out = join(WORK, `${name}-${mcpu}`);
    if (piBuilds.has(out)) return out;
    const core = Bun.spawnSync(["make", "-s", "--no-print-directory", "-C", "csrc", "--eval", "__print-%: ; @echo $($*)",
      "__print-CORE_SRC", "ARCH=aarch64", "ARCHFLAGS=", "CFLAGS="], { cwd: ROOT }).stdout.toString().trim().split(/\s+/);
    const srcs = [`tests/${name}.c`, "tests/reference.c", ...core].map((f) => join(ROOT, "csrc", f));
    const r = Bun.spawnSync([...zigCmd(), "cc", "-target", "aarch64-linux-gnu.2.31", `-mcpu=${mcpu}`, "-O2", "-std=c11",
      "-D_GNU_SOURCE", "-pthread", "-I", join(ROOT, "csrc"), "-o", out, ...srcs, "-lm"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`building ${name} for ${mcpu} failed:\n${r.stderr.toString()}`);
    piBuilds.set(out, out);
    return out;
  }
  const piRuns: [string, string, "cortex-a72" | "cortex-a76"][] = [
    ["aarch64-cortex_a72", "cortex_a72", "cortex-a72"],
    ["aarch64-cortex_a72", "cortex_a72", "cortex-a76"],
    ["aarch64-cortex_a76", "cortex_a76", "cortex-a76"],
  ];
  for (const name of ["test_kernels", "test_sampler"]) {
    for (const [dir, mcpu, cpu] of piRuns) {
      const prefix = launcher(dir, cpu);
      test.skipIf(!ZIG || prefix === null)(`${name}: the ${mcpu} build passes on ${cpu}`, () => {
        expect(buildOk).toBe(true);
        const bin = buildPiTest(name, mcpu);
        const r = Bun.spawnSync([...prefix!, bin], {
          cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, QEMU_LD_PREFIX: AARCH64_SYSROOT },
        });
        const out = r.stdout.toString() + r.stderr.toString();
        if (r.exitCode !== 0) console.error(out);
        expect(r.exitCode).toBe(0);
        expect(out).toMatch(/: [1-9]\d* passed, 0 failed/);
      }, 120_000);
    }
  }
});
