/**
 * quality.ts — how good a candidate reply is (leo spec §6): structure times
 * entropy, and which way to move the temperature when it fails.
 */
import type { LeoConfig } from "../config/leo.ts";
import { jaccard, words } from "./tokens.ts";

export interface QualityReport {
  quality: number;
  structural: number;
  entropyQuality: number;
  /** looping or too sure of itself: the next try should run hotter */
  repetitive: boolean;
}

export function entropyQuality(entropy: number, c: LeoConfig["quality"]): number {
  const [low, high] = c.entropyBand;
  if (entropy < low) return 0.5 + entropy / c.entropySlope;
  if (entropy > high) return Math.max(0, 1 - (entropy - high) / c.entropySlope);
  return 1;
}

/**
 * `knownTrigramShare`: the reply's trigrams already in the field (before the
 * reply is observed); undefined for replies under 3 tokens, which are already
 * penalised as too short.
 */
export function assessReply(
  reply: string,
  prompt: string,
  entropy: number,
  knownTrigramShare: number | undefined,
  c: LeoConfig["quality"],
): QualityReport {
  const replyWords = words(reply);
  const promptWords = words(prompt);
  const unique = replyWords.length === 0 ? 1 : new Set(replyWords).size / replyWords.length;
  let q = 1;
  if (replyWords.length < c.fewWords) q *= c.fewWordsFactor;
  if (replyWords.length > c.manyWords) q *= c.manyWordsFactor;
  if (unique < c.uniqueLow) q *= c.uniqueLowFactor;
  else if (unique < c.uniqueMid) q *= c.uniqueMidFactor;
  if (replyWords.length > 0 && ` ${promptWords.join(" ")} `.includes(` ${replyWords.join(" ")} `)) q *= c.echoFactor;
  if (jaccard(new Set(replyWords), new Set(promptWords)) < c.promptJaccardLow) q *= c.promptJaccardFactor;
  if (knownTrigramShare !== undefined) {
    if (knownTrigramShare < c.trigramLow) q *= c.trigramLowFactor;
    else if (knownTrigramShare < c.trigramMid) q *= c.trigramMidFactor;
  }
  const eq = entropyQuality(entropy, c);
  return {
    quality: (q + eq) / 2,
    structural: q,
    entropyQuality: eq,
    repetitive: entropy < c.entropyBand[0] || unique < c.uniqueLow,
  };
}

/** Temperature for the next candidate: away from the failure. */
export function nextTemperature(current: number, entropy: number, report: QualityReport, c: LeoConfig["quality"]): number {
  const cooler = entropy > c.entropyBand[1] && !report.repetitive;
  return Math.max(c.minTemperature, current + (cooler ? -c.temperatureStep : c.temperatureStep));
}
