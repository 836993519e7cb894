/**
 * quality.ts — how good a candidate reply is (docs/leo.md §6.1): a product of
 * structural factors and the entropy quality, and which way to move the
 * temperature when it fails.
 */
import type { LeoConfig } from "../config/leo.ts";
import { contentWords, jaccard, words } from "./tokens.ts";

/** What quality needs besides the texts: measured by leo against the field and the kernel. */
export interface ReplyEvidence {
  /** the reply's mean entropy E */
  entropy: number;
  /** the kernel's entropy band */
  band: readonly [number, number];
  /** the active themes' words (relevance counts them with the prompt's) */
  themeWords: ReadonlySet<string>;
  /** share of the reply's words that are non-words */
  nonWordShare: number;
  /** share of the reply's trigrams that are the kernel's stock phrases */
  stockShare: number;
}

export interface QualityReport {
  quality: number;
  structural: number;
  entropyQuality: number;
  nonWordShare: number;
  stockShare: number;
  /** looping or too sure of itself: the next try should run hotter */
  repetitive: boolean;
}

/** 1 inside the band, falling linearly to 0 at `entropyFalloff` beyond either edge. */
export function entropyQuality(entropy: number, band: readonly [number, number], c: LeoConfig["quality"]): number {
  const [low, high] = band;
  const outside = entropy < low ? low - entropy : entropy > high ? entropy - high : 0;
  return Math.max(0, 1 - outside / c.entropyFalloff);
}

export function assessReply(reply: string, prompt: string, e: ReplyEvidence, c: LeoConfig["quality"]): QualityReport {
  const replyWords = words(reply);
  const promptWords = words(prompt);
  const unique = replyWords.length === 0 ? 1 : new Set(replyWords).size / replyWords.length;
  let q = 1;
  if (replyWords.length < c.fewWords) q *= c.fewWordsFactor;
  if (replyWords.length > c.manyWords) q *= c.manyWordsFactor;
  if (unique < c.uniqueLow) q *= c.uniqueLowFactor;
  else if (unique < c.uniqueMid) q *= c.uniqueMidFactor;
  if (replyWords.length > 0 && ` ${promptWords.join(" ")} `.includes(` ${replyWords.join(" ")} `)) q *= c.echoFactor;
  const context = new Set([...contentWords(prompt), ...e.themeWords]);
  if (jaccard(contentWords(reply), context) < c.relevanceLow) q *= c.relevanceFactor;
  const nonWords = c.nonWordShares.find((band) => e.nonWordShare > band.above);
  if (nonWords) q *= nonWords.factor;
  if (e.stockShare > c.stockAbove) q *= c.stockFactor;
  const eq = entropyQuality(e.entropy, e.band, c);
  return {
    quality: q * eq,
    structural: q,
    entropyQuality: eq,
    nonWordShare: e.nonWordShare,
    stockShare: e.stockShare,
    repetitive: e.entropy < e.band[0] || unique < c.uniqueLow,
  };
}

/**
 * Temperature for the next candidate, away from the failure: hotter when it
 * looped or was too sure; cooler when it was too unsure or wrote non-words.
 */
export function nextTemperature(current: number, report: QualityReport, band: readonly [number, number], entropy: number, c: LeoConfig["quality"]): number {
  const cooler = !report.repetitive && (entropy > band[1] || report.nonWordShare > c.nonWordShares.at(-1)!.above);
  return Math.max(c.minTemperature, current + (cooler ? -c.temperatureStep : c.temperatureStep));
}
