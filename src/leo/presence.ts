/**
 * presence.ts — the per-turn presence signals (leo spec §2): novelty, arousal,
 * entropy and the pulse that mixes them. All in [0,1].
 */
import type { LeoConfig } from "../config/leo.ts";
import type { Field } from "./field.ts";
import { INTENSE_WORDS } from "./lexicon.ts";
import { clamp01, fieldTokens, words } from "./tokens.ts";

export interface Presence {
  novelty: number;
  arousal: number;
  entropy: number;
  pulse: number;
}

/** 1 − share of the prompt's trigrams the field already holds. */
export function novelty(field: Field, prompt: string, config: LeoConfig["presence"]): number {
  const tokens = fieldTokens(prompt);
  if (tokens.length < config.noveltyMinTokens) return config.noveltyShortPrompt;
  return 1 - (field.knownTrigramShare(tokens) ?? 0);
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

/** Mean normalized entropy of the reply's tokens; the spec's prior before any token. */
export function meanEntropy(entropies: readonly number[], config: LeoConfig["presence"]): number {
  if (entropies.length === 0) return config.entropyBeforeGeneration;
  return clamp01(entropies.reduce((a, b) => a + b, 0) / entropies.length);
}

export function pulse(n: number, a: number, e: number, config: LeoConfig["presence"]): number {
  const w = config.pulse;
  return clamp01(w.novelty * n + w.arousal * a + w.entropy * e);
}

export function presence(n: number, a: number, e: number, config: LeoConfig["presence"]): Presence {
  return { novelty: n, arousal: a, entropy: e, pulse: pulse(n, a, e, config) };
}
