/**
 * serial.ts — runs async tasks one after another: two turns of the one
 * conversation must never interleave, nor two checks of a kernel upload.
 * A failed task does not stop the ones queued after it.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once every task queued so far has settled. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
