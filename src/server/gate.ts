/**
 * gate.ts — one inference at a time with a bounded queue. The device has one
 * model and a couple of cores: a request beyond the queue is refused at once
 * (429 + Retry-After) rather than left to time out.
 */

export class Busy extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super("the device is busy; try again shortly");
  }
}

export interface Ticket {
  /** Resolves when it is this request's turn; rejects with the signal's reason when it aborts first. */
  ready: Promise<void>;
  /** Hand the turn on (idempotent). */
  release(): void;
}

export class InferenceGate {
  private running = false;
  private readonly waiting: (() => void)[] = [];

  /** @param maxQueue requests allowed to wait behind the running one */
  constructor(private readonly maxQueue: number, private readonly retryAfterSeconds = 2) {}

  /** Requests waiting (not counting the one running). */
  get queued(): number {
    return this.waiting.length;
  }

  get busy(): boolean {
    return this.running;
  }

  /** Take a place, or throw Busy when the queue is full; decided synchronously, before any response starts. */
  enter(signal?: AbortSignal): Ticket {
    if (this.running && this.waiting.length >= this.maxQueue) throw new Busy(this.retryAfterSeconds * (this.waiting.length + 1));
    let started = false;
    let released = false;
    let go = () => {};
    const leaveQueue = () => {
      const i = this.waiting.indexOf(go);
      if (i >= 0) this.waiting.splice(i, 1);
    };
    const ready = new Promise<void>((resolve, reject) => {
      go = () => {
        started = true;
        this.running = true;
        resolve();
      };
      if (!this.running) return go();
      this.waiting.push(go);
      signal?.addEventListener("abort", () => {
        leaveQueue();
        if (!started) reject(signal.reason);
      }, { once: true });
    });
    return {
      ready,
      release: () => {
        if (released) return;
        released = true;
        if (!started) return leaveQueue();
        this.running = false;
        this.waiting.shift()?.();
      },
    };
  }
}
