/**
 * run-bun.ts — a script of this repository run by Bun to its end, as a
 * person runs it: from the repository root, the test's environment plus
 * `env`, killed once `deadlineMs` has passed (so a hang fails the test, with
 * what it wrote, instead of holding the suite).
 */
import { join } from "node:path";
import { REPO_ROOT } from "../../src/config/paths.ts";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runBun(
  script: string,
  options: { args?: string[]; env?: Record<string, string>; stdin?: string; deadlineMs: number },
): Promise<RunResult> {
  const proc = Bun.spawn([process.execPath, join(REPO_ROOT, script), ...(options.args ?? [])], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.deadlineMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}
