/**
 * tokens.ts — the field's own tokens (not the model's BPE): lower-cased words
 * of Unicode letters/marks/digits with inner ' or -, and a few punctuation marks.
 */
import { STOPWORDS } from "./lexicon.ts";

// a word, or one of . , ! ? ; : — - …
const TOKEN = /[\p{L}\p{M}\p{N}]+(?:['’-][\p{L}\p{M}\p{N}]+)*|[.,!?;:—…-]/gu;
const WORD = /^[\p{L}\p{M}\p{N}]/u;

export interface Span {
  token: string;
  start: number;
  end: number;
}

/** Field tokens with their UTF-16 offsets in `text`. */
export function tokenSpans(text: string): Span[] {
  const spans: Span[] = [];
  for (const m of text.matchAll(TOKEN)) {
    spans.push({ token: m[0].toLowerCase().replaceAll("’", "'"), start: m.index, end: m.index + m[0].length });
  }
  return spans;
}

export function fieldTokens(text: string): string[] {
  return tokenSpans(text).map((s) => s.token);
}

export const isWord = (token: string): boolean => WORD.test(token);

export function words(text: string): string[] {
  return fieldTokens(text).filter(isWord);
}

/** Not punctuation, not a stopword, at least 2 letters. */
export const isContentWord = (token: string): boolean => isWord(token) && token.length >= 2 && !STOPWORDS.has(token);

/** Distinct trigrams of a token sequence, as "a b c" keys. */
export function trigramKeys(tokens: readonly string[]): Set<string> {
  const keys = new Set<string>();
  for (let i = 0; i + 2 < tokens.length; i++) keys.add(`${tokens[i]} ${tokens[i + 1]} ${tokens[i + 2]}`);
  return keys;
}

/** Distinct content words (no stopwords, no punctuation). */
export function contentWords(text: string): Set<string> {
  return new Set(fieldTokens(text).filter(isContentWord));
}

export function jaccard<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): number {
  if (a.size === 0 && b.size === 0) return 0;
  let shared = 0;
  for (const x of a) if (b.has(x)) shared++;
  return shared / (a.size + b.size - shared);
}

export const clamp01 = (x: number): number => (x < 0 ? 0 : x > 1 ? 1 : x);
