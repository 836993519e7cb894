// BoundedMap: the caches that live as long as the device (words, token counts, bin files).
import { expect, test } from "bun:test";
import { BoundedMap } from "../src/shared/bounded-map.ts";

test("holds at most `capacity` entries, pushing out the oldest inserted", () => {
  const m = new BoundedMap<string, number>(3);
  for (const [i, k] of ["a", "b", "c", "d", "e"].entries()) m.set(k, i);
  expect([...m]).toEqual([["c", 2], ["d", 3], ["e", 4]]);
  m.set("c", 9); // an update is not an insertion: nothing goes
  expect([...m.keys()]).toEqual(["c", "d", "e"]);
  expect(m.get("c")).toBe(9);
  for (let i = 0; i < 10_000; i++) m.set(`k${i}`, i);
  expect(m.size).toBe(3);
});

test("a capacity below one is refused", () => {
  expect(() => new BoundedMap(0)).toThrow(RangeError);
  expect(() => new BoundedMap(Number.NaN)).toThrow(RangeError);
});
