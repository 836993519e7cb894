/**
 * presence.ts — the per-turn presence signals (docs/leo.md §2): novelty, arousal,
 * entropy and the pulse that mixes them. All in [0,1].
 */
import type { LeoConfig } from "../config/leo.ts";
import type { Field } from "./field.ts";
import { INTENSE_WORDS } from "./lexicon.ts";
import { clamp01, fieldTokens, isContentWord, words } from "./tokens.ts";

export interface Presence {
  novelty: number;
  arousal: number;
  entropy: number;
  pulse: number;
}

/**
 * A weighted mean of trigram novelty (1 − share of the prompt's trigrams
 * already in the field) and word novelty (1 − share of its content words
 * already spoken `knownAfterSpoken` times). Word novelty keeps a young field
 * from reading 1.0 on every turn: almost every trigram is new there, but the
 * words return.
 */
export function novelty(field: Field, prompt: string, config: LeoConfig["presence"]): number {
  const tokens = fieldTokens(prompt);
  const trigram =
    tokens.length < config.noveltyMinTokens ? config.noveltyShortPrompt : 1 - (field.knownTrigramShare(tokens) ?? 0);
  const content = [...new Set(tokens.filter(isContentWord))];
  field.readCounts(content);
  const word =
    content.length === 0
      ? config.noveltyNoWords
      : 1 - content.filter((w) => field.spokenCount(w) >= config.knownAfterSpoken).length / content.length;
  const w = config.noveltyWeights;
  return w.trigram * trigram + w.word * word;
}

export function arousal(text: string, config: LeoConfig["presence"]): number {
  const c = config.arousal;
  const letters = text.match(/\p{L}/gu)?.length ?? 0;
  const upper = text.match(/\p{Lu}/gu)?.length ?? 0;
  const marks = text.match(/[!?]/g)?.length ?? 0;
  const intense = words(text).filter((w) => INTENSE_WORDS.has(w)).length;
  const caps = letters === 0 ? 0 : Math.min(c.uppercaseCap, (c.uppercaseWeight * upper) / letters);
  return clamp01(caps + Math.min(c.punctuationCap, c.punctuationStep * marks) + Math.min(c.intenseCap, c.intenseStep * intense));
}

/** Mean normalized entropy of the reply's tokens; `before` (the kernel's running median) without any. */
export function meanEntropy(entropies: readonly number[], before: number): number {
  if (entropies.length === 0) return before;
  return clamp01(entropies.reduce((a, b) => a + b, 0) / entropies.length);
}

export function pulse(n: number, a: number, e: number, config: LeoConfig["presence"]): number {
  const w = config.pulse;
  return clamp01(w.novelty * n + w.arousal * a + w.entropy * e);
}

export function presence(n: number, a: number, e: number, config: LeoConfig["presence"]): Presence {
  return { novelty: n, arousal: a, entropy: e, pulse: pulse(n, a, e, config) };
}
