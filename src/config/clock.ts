/** clock.ts — the one source of "now" (unix ms), injectable so tests can live through days in a second. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
