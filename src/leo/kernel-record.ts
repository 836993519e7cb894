/**
 * kernel-record.ts — what leo remembers of the loaded kernel's own recent
 * replies (docs/leo.md §2.3, §6.1, §6.2, §6.4): its entropy band, its stock
 * phrases and its quality band (where re-sampling starts and snapshots begin).
 * All are per kernel (by model sha256), read back from the per-turn record when
 * a kernel is adopted, then kept in RAM and updated every turn.
 */
import type { Database } from "bun:sqlite";
import type { LeoConfig } from "../config/leo.ts";
import { fieldTokens, trigramKeys } from "./tokens.ts";

/** The value at quantile q of sorted values (linear interpolation). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

/**
 * A kernel's last `size` values of one measure, oldest first, and their sorted
 * copy, sorted at most once between changes (a turn reads the entropy band,
 * the running median and the quality band's quantiles; each sorted its own
 * copy of the 200 values before).
 */
class RecentValues {
  private values: number[] = [];
  private sortedValues?: Float64Array;

  constructor(private readonly size: number) {}

  get length(): number {
    return this.values.length;
  }

  /** Oldest first. */
  load(values: readonly number[]): void {
    this.values = values.slice(-this.size);
    this.sortedValues = undefined;
  }

  record(value: number): void {
    this.values.push(value);
    if (this.values.length > this.size) this.values.shift();
    this.sortedValues = undefined;
  }

  /** The value at quantile q (by the engine's numeric sort: no comparator call per pair). */
  quantile(q: number): number {
    this.sortedValues ??= Float64Array.from(this.values).sort();
    return quantile(this.sortedValues, q);
  }
}

/**
 * The kernel's entropy band: the 10th..90th percentile of E over its last 200
 * replies (the initial band until 20 exist), and the running median that
 * stands for E before a reply is generated.
 */
export class EntropyBand {
  private readonly recent: RecentValues;

  constructor(
    private readonly config: LeoConfig["entropyBand"],
    private readonly fallbackMedian: number,
  ) {
    this.recent = new RecentValues(config.replies);
  }

  /** Oldest first. */
  load(entropies: readonly number[]): void {
    this.recent.load(entropies);
  }

  record(entropy: number): void {
    this.recent.record(entropy);
  }

  band(): [number, number] {
    if (this.recent.length < this.config.minReplies) return [...this.config.initial];
    return [this.recent.quantile(this.config.percentiles[0]), this.recent.quantile(this.config.percentiles[1])];
  }

  median(): number {
    if (this.recent.length === 0) return this.fallbackMedian;
    return this.recent.quantile(0.5);
  }
}

/**
 * The kernel's quality band: its first candidates' quality over its last
 * replies (the entropy band's window; until that window has `minReplies`, the
 * fixed thresholds alone). The factors that make up quality misfire by
 * different amounts on different kernels, so a fixed threshold re-samples one
 * kernel's ordinary reply and never saves another's best; judged against its
 * own band, each kernel re-samples its own worst replies and keeps its own best.
 */
export class QualityBand {
  private readonly recent: RecentValues;

  constructor(
    private readonly window: LeoConfig["entropyBand"],
    private readonly config: LeoConfig["quality"],
    private readonly snapshots: LeoConfig["snapshots"],
  ) {
    this.recent = new RecentValues(window.replies);
  }

  /** Oldest first. */
  load(firstQualities: readonly number[]): void {
    this.recent.load(firstQualities);
  }

  record(firstQuality: number): void {
    this.recent.record(firstQuality);
  }

  /** The kernel's own quantile q of quality; undefined while it has too few replies. */
  private at(q: number): number | undefined {
    return this.recent.length < this.window.minReplies ? undefined : this.recent.quantile(q);
  }

  /** A candidate below this is re-sampled: below the fixed threshold and below the kernel's `resampleQuantile`. */
  resampleBelow(): number {
    return Math.min(this.config.resampleBelow, this.at(this.config.resampleQuantile) ?? this.config.resampleBelow);
  }

  /**
   * A reply at or above this may be a snapshot: the fixed `minQuality`, or the
   * kernel's own `kernelQuantile` where it never reaches that, never below `floor`.
   */
  snapshotFrom(): number {
    const s = this.snapshots;
    return Math.max(s.floor, Math.min(s.minQuality, this.at(s.kernelQuantile) ?? s.minQuality));
  }
}

/**
 * Stock phrases: trigrams found in at least `stockShare` of the kernel's last
 * `stockReplies` replies (and in two of them, so a young kernel's every
 * trigram is not "stock" after one reply).
 */
export class StockPhrases {
  private replies: Set<string>[] = [];
  private readonly replyCount = new Map<string, number>();

  constructor(private readonly config: LeoConfig["quality"]) {}

  /** Oldest first. */
  load(texts: readonly string[]): void {
    this.replies = [];
    this.replyCount.clear();
    for (const text of texts.slice(-this.config.stockReplies)) this.record(text);
  }

  record(text: string): void {
    const keys = trigramKeys(fieldTokens(text));
    this.replies.push(keys);
    for (const key of keys) this.replyCount.set(key, (this.replyCount.get(key) ?? 0) + 1);
    if (this.replies.length > this.config.stockReplies) {
      for (const key of this.replies.shift()!) {
        const n = this.replyCount.get(key)! - 1;
        if (n === 0) this.replyCount.delete(key);
        else this.replyCount.set(key, n);
      }
    }
  }

  /** Share of the text's trigram occurrences that are stock phrases (0 under 3 tokens). */
  share(tokens: readonly string[]): number {
    if (tokens.length < 3) return 0;
    const needed = Math.max(2, Math.ceil(this.config.stockShare * this.replies.length));
    let stock = 0;
    for (let i = 0; i + 2 < tokens.length; i++) {
      if ((this.replyCount.get(`${tokens[i]} ${tokens[i + 1]} ${tokens[i + 2]}`) ?? 0) >= needed) stock++;
    }
    return stock / (tokens.length - 2);
  }
}

/**
 * The kernel's last replies from the per-turn record, oldest first: entropies and first candidates'
 * quality from version 2 rows only (see migration 003; version 1 averaged quality), texts from all.
 */
export function readKernelRecord(db: Database, sha256: string, limit: number): { entropies: number[]; firstQualities: number[]; texts: string[] } {
  const rows = db
    .query<{ entropy: number | null; leo_version: number | null; candidate_scores: string; text: string }, [string, number]>(
      `SELECT x.entropy, x.leo_version, x.candidate_scores, m.text FROM metrics x JOIN messages m ON m.id = x.message_id
       WHERE x.model_sha256 = ? ORDER BY x.message_id DESC LIMIT ?`,
    )
    .all(sha256, limit)
    .reverse();
  const v2 = rows.filter((r) => (r.leo_version ?? 1) >= 2);
  return {
    entropies: v2.filter((r) => r.entropy !== null).map((r) => r.entropy!),
    firstQualities: v2.map((r) => (JSON.parse(r.candidate_scores) as { quality: number }[])[0]?.quality).filter((q) => typeof q === "number"),
    texts: rows.map((r) => r.text),
  };
}
