/**
 * token-counter.ts — token counts measured with the model's own tokenizer,
 * cached per stored text (a message's count never changes for a given model).
 */
import { BoundedMap } from "../shared/bounded-map.ts";

export class TokenCounter {
  private readonly cache: BoundedMap<string, number>;

  constructor(
    private readonly tokenize: (text: string, opts?: { bos?: boolean }) => Promise<number[]>,
    capacity = 4096,
  ) {
    this.cache = new BoundedMap(capacity);
  }

  /** Tokens of `text` without BOS; `key` names a stored text so its count is cached. */
  async count(text: string, key?: string): Promise<number> {
    const cached = key === undefined ? undefined : this.cache.get(key);
    if (cached !== undefined) return cached;
    const n = (await this.tokenize(text, { bos: false })).length;
    if (key !== undefined) this.cache.set(key, n);
    return n;
  }

  /** A new model splits text differently. */
  clear(): void {
    this.cache.clear();
  }
}
