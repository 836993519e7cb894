/**
 * The C core's own tests: `make -C csrc tests` builds every csrc/tests/test_*.c
 * under AddressSanitizer + UBSan into build/test/, and each binary must exit 0
 * (it prints `NAME: N passed, 0 failed` last).
 *
 * Leak checking is on (ASAN_OPTIONS=detect_leaks=1) wherever LeakSanitizer
 * works; it cannot run under ptrace (gdb, strace, some CI sandboxes), and then
 * the run is repeated with detect_leaks=0 and the reason is printed.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT as ROOT } from "../src/config/paths.ts";

const TEST_SRC = join(ROOT, "csrc", "tests");
const TEST_OUT = join(ROOT, "build", "test");

// The test names are known from the sources before anything is built.
const names = existsSync(TEST_SRC)
  ? readdirSync(TEST_SRC)
      .filter((f) => /^test_.*\.c$/.test(f))
      .map((f) => f.slice(0, -2))
      .sort()
  : [];

const SAN_ENV = {
  UBSAN_OPTIONS: "print_stacktrace=1:halt_on_error=1",
  ASAN_OPTIONS_BASE: "abort_on_error=0",
};

// LeakSanitizer fails with one of these where it cannot run (ptrace, seccomp).
const LSAN_UNAVAILABLE = /LeakSanitizer (does not work under ptrace|has encountered a fatal error)/;

let buildError = "";

function run(bin: string, leaks: boolean) {
  const r = Bun.spawnSync([bin], {
    cwd: ROOT,
    env: {
      ...process.env,
      UBSAN_OPTIONS: SAN_ENV.UBSAN_OPTIONS,
      ASAN_OPTIONS: `${SAN_ENV.ASAN_OPTIONS_BASE}:detect_leaks=${leaks ? 1 : 0}`,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode, signal: r.signalCode, out: r.stdout.toString() + r.stderr.toString() };
}

describe("C core tests (ASan + UBSan)", () => {
  beforeAll(() => {
    const r = Bun.spawnSync(["make", "-s", "-j2", "-C", "csrc", "tests"], {
      cwd: ROOT,
      stdout: "pipe",
      stderr: "pipe",
    });
    if (r.exitCode !== 0) buildError = r.stdout.toString() + r.stderr.toString();
  }, 600_000);

  test("make -C csrc tests builds every test", () => {
    if (buildError) console.error(buildError);
    expect(buildError).toBe("");
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) expect(existsSync(join(TEST_OUT, n))).toBe(true);
  });

  for (const name of names) {
    test(
      name,
      () => {
        expect(buildError).toBe("");
        const bin = join(TEST_OUT, name);
        let r = run(bin, true);
        if (r.code !== 0 && LSAN_UNAVAILABLE.test(r.out)) {
          console.warn(`${name}: LeakSanitizer unavailable here, rerunning with detect_leaks=0`);
          r = run(bin, false);
        }
        if (r.code !== 0) console.error(`${name} failed (exit ${r.code}${r.signal ? `, ${r.signal}` : ""}):\n${r.out}`);
        expect(r.code).toBe(0);
        // The last line is the summary `NAME: N passed, 0 failed`.
        const last = r.out.trim().split("\n").filter((l) => /passed.*failed/.test(l)).pop() ?? "";
        expect(last).toMatch(/\b0 failed\b/);
      },
      300_000,
    );
  }
});
