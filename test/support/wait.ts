/**
 * wait.ts — the one way tests wait: for a condition, with a deadline.
 *
 * Tests never sleep for a guessed time: on a busy 2-core CI machine a guess is
 * either too short (a flake) or too long (a slow suite). They wait for what
 * they need to see, and a deadline turns "never" into a failure that names it.
 */

/** Resolves with `condition()`'s first truthy value; rejects naming `what` once `deadlineMs` has passed. */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  what: string,
  deadlineMs = 30_000,
): Promise<NonNullable<T>> {
  const start = performance.now();
  for (let pause = 1; ; pause = Math.min(pause * 2, 20)) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (performance.now() - start > deadlineMs) throw new Error(`waitFor: ${what} did not happen within ${deadlineMs} ms`);
    await Bun.sleep(pause);
  }
}
