/**
 * bad-kernels.test.ts — the bad-kernel suite (tools/reliability/bad-kernels.ts)
 * against the real service: 43 kinds of broken model directory dropped into
 * models/current (versioned directory + link switch, or rsync-style renames)
 * while a client streams; each is rejected with its reason in /api/status and
 * the log, /health keeps the old sha256, no request fails, and a good kernel is
 * still accepted at the end.
 */
import { expect, test } from "bun:test";
import { KINDS, runBadKernels } from "../tools/reliability/bad-kernels.ts";

test("broken kernels are rejected with a reason while the old one keeps serving", async () => {
  const s = await runBadKernels({ log: (x) => console.error(`  [bad-kernels] ${x}`) });
  console.error(`  [bad-kernels] ${JSON.stringify({ kinds: s.kinds, requests: s.requests, gaps: s.gaps, seconds: s.seconds })}`);
  expect(s.failures).toEqual([]);
  expect(s.kinds).toBe(KINDS.length);
  expect(s.kinds).toBeGreaterThanOrEqual(20);
  expect(s.results.length).toBe(KINDS.length);
  for (const r of s.results) {
    expect(r.keptOld).toBe(true);
    if (r.accepted) continue; // a known gap, listed in s.gaps
    expect(r.reason).toBeTruthy();
    expect(r.logged).toBe(true);
  }
  // known gaps in src/ today (see the report); when one is fixed, the suite fails and asks to drop its flag
  expect(s.gaps.length).toBe(KINDS.filter((k) => k.knownGap).length);
  expect(s.requests.failed).toBe(0);
  expect(s.requests.chats).toBeGreaterThan(10);
  expect(s.goodKernelAccepted).toBe(true);
}, 90_000);
