// docs/leo.md §9: the calibration run's quick form — the labelled conversation through the real service on
// the bundled kernel (models/default). Every target must hold; a miss prints the whole table.
import { expect, test } from "bun:test";
import { calibrate, report } from "../tools/leo-calibrate.ts";

test("every calibration target holds on the labelled conversation with the bundled kernel (quick form)", async () => {
  const result = await calibrate({ quick: true, log: () => {} });
  const failed = result.targets.filter((t) => !t.pass);
  if (failed.length > 0) console.error(report(result));
  expect(failed.map((t) => `${t.signal}: ${t.target} — ${t.measured}`)).toEqual([]);
  expect(result.turns).toBeGreaterThanOrEqual(60);
}, 300_000);
