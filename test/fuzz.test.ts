/**
 * fuzz.test.ts — a short libFuzzer pass (ASan + UBSan) over the model loader
 * and the tokenizer, and a short contract-fuzzing pass over the IABN bin
 * parser, on every test run; `bun run fuzz` is the long version.
 */
import { expect, test } from "bun:test";
import { REPO_ROOT as ROOT } from "../src/config/paths.ts";

test("fuzzing the loader, the tokenizer and the bin parser finds no crash", () => {
  const r = Bun.spawnSync(["bash", "tools/fuzz.sh"], {
    cwd: ROOT, env: { ...process.env, FUZZ_SECONDS: process.env.FUZZ_SECONDS ?? "5" }, stdout: "pipe", stderr: "pipe",
  });
  const out = r.stdout.toString() + r.stderr.toString();
  if (r.exitCode !== 0) console.error(out);
  expect(r.exitCode).toBe(0);
  expect(out).toMatch(/fuzz: fuzz_loader ok, [1-9]\d* executions/);
  expect(out).toMatch(/fuzz: fuzz_tokenizer ok, [1-9]\d* executions/);
  expect(out).toMatch(/fuzz: bin ok, [1-9]\d* executions/);
  expect(out).toMatch(/fuzz: \d+ executions in all, 0 crashes/);
}, 180_000);
