/** clock.ts — the one source of "now" (unix ms), injectable so tests can live through days in a second. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** A day in the clock's unit. */
export const DAY_MS = 86_400_000;
