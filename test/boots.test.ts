/**
 * boots.test.ts — the quick form of the reboot suite (tools/reliability/boots.ts):
 * 16 boots of the real service, each after a fault (a broken or FIFO upload,
 * a full disk, a torn WAL frame, a junk WAL index, a migration backup cut
 * short, a good deploy), every one healthy and nothing acknowledged lost. The
 * full run: `bun run boots` (200 boots; figures in RELIABILITY.md).
 *
 * The full-disk fault needs root (mount); without it the loop leaves it out,
 * except under CI, where it must run.
 */
import { expect, test } from "bun:test";
import { FAULTS, runBoots } from "../tools/reliability/boots.ts";

const CI = !!process.env.CI && process.env.CI !== "false";

test("16 boots after random faults: healthy every time, nothing acknowledged lost", async () => {
  const s = await runBoots({ boots: 16, seed: 3, log: (x) => console.error(`  [boots] ${x}`) });
  console.error(`  [boots] ${JSON.stringify({ ...s, failures: s.failures.length })}`);
  if (CI) expect(s.mount).not.toMatch(/^none/);
  expect(s.failures).toEqual([]);
  expect(s.boots).toBe(16);
  expect(s.healthy).toBe(16);
  expect(s.lost).toBe(0);
  expect(s.integrity).toBe("ok");
  expect(s.acknowledged).toBeGreaterThan(8);
  // the seed brings most kinds of fault into the quick run
  expect(Object.keys(s.faults).filter((f) => (FAULTS as readonly string[]).includes(f)).length).toBeGreaterThanOrEqual(5);
}, 60_000);
