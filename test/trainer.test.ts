/**
 * The trainer's tests (PyTorch, in trainer/tests/) run from `bun run test`.
 *
 * trainer/setup_env.sh creates trainer/.venv with the pinned
 * trainer/requirements.txt on first use (torch from PyPI, ~1.5 min; a stamp
 * file skips it afterwards), then pytest runs the whole suite with its normal
 * output and summary on this terminal. The bun test fails if pytest does.
 * The suite builds the C core (`make -C csrc host`) itself when it is missing.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { REPO_ROOT as ROOT } from "../src/config/paths.ts";

const TRAINER = join(ROOT, "trainer");

async function run(cmd: string[], stdout: "pipe" | "inherit"): Promise<{ code: number; out: string }> {
  const p = Bun.spawn(cmd, {
    cwd: ROOT,
    stdout,
    stderr: "inherit",
    env: { ...process.env, PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1" },
  });
  const out = stdout === "pipe" ? await new Response(p.stdout as ReadableStream).text() : "";
  return { code: await p.exited, out };
}

test(
  "trainer: pytest trainer/tests passes",
  async () => {
    const setup = await run(["bash", join(TRAINER, "setup_env.sh")], "pipe");
    expect(setup.code).toBe(0);
    const python = setup.out.trim().split("\n").pop()!;
    const tests = await run(
      [python, "-m", "pytest", join(TRAINER, "tests"), "-p", "no:cacheprovider", "-q", "-rs"],
      "inherit",
    );
    expect(tests.code).toBe(0);
  },
  30 * 60 * 1000,
);
