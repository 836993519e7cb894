/**
 * copy.ts — the copy bias of one generation: a pointer into words the reply
 * may take from its context (SamplingParams.copy). Each word is a token
 * sequence; while it is unwritten, the token that would write it next gets a
 * logit boost: its first token anywhere, the following one right after its
 * prefix (a small kernel splits a name into 3–5 pieces and, given only the
 * first, seldom finishes it). A word gets one try: once begun, leaving it
 * drops it. A sequence's last token is offered once: after
 * the rest was written, whatever comes next, the sequence drops out (the word
 * was said; its last token is the one that followed it where it was found).
 */
import type { CopyBias } from "./protocol.ts";

export class CopyState {
  private readonly sequences: number[][];
  /** how many tokens of each sequence the last tokens written match; -1 once written */
  private readonly matched: number[];

  constructor(private readonly copy: CopyBias) {
    this.sequences = copy.sequences.filter((s) => s.length > 0).map((s) => [...s]);
    this.matched = this.sequences.map(() => 0);
  }

  /** The boost per token now: the largest a sequence gives it. */
  entries(): Map<number, number> {
    const out = new Map<number, number>();
    this.sequences.forEach((seq, i) => {
      const j = this.matched[i];
      if (j < 0) return;
      const weight = j === 0 ? this.copy.weight : this.copy.continueWeight;
      const id = seq[j];
      out.set(id, Math.max(out.get(id) ?? -Infinity, weight));
    });
    return out;
  }

  /** After `token` was written; true when the boosts changed. */
  push(token: number): boolean {
    let changed = false;
    this.sequences.forEach((seq, i) => {
      const j = this.matched[i];
      if (j < 0) return;
      // one try per word: a begun word the kernel turns away from is not pushed again ("How dent that dents …")
      let next = seq[j] === token ? j + 1 : j > 0 ? -1 : seq[0] === token ? 1 : 0;
      if (next === seq.length || (j > 0 && j === seq.length - 1)) next = -1;
      if (next !== j) changed = true;
      this.matched[i] = next;
    });
    return changed;
  }
}
