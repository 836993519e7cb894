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

export const isContentWord = (token: string): boolean => isWord(token) && !STOPWORDS.has(token);

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
