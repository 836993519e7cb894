/**
 * tokens.ts — the field's own tokens (not the model's BPE): lower-cased words
 * of Unicode letters/marks/digits with inner ' or -, and a few punctuation marks.
 */
import { BoundedMap } from "../shared/bounded-map.ts";
import { STOPWORDS } from "./lexicon.ts";

// a word, or one of . , ! ? ; : — - …
const TOKEN = /[\p{L}\p{M}\p{N}]+(?:['’-][\p{L}\p{M}\p{N}]+)*|[.,!?;:—…-]/gu;
const WORD = /^[\p{L}\p{M}\p{N}]/u;

export interface Span {
  token: string;
  start: number;
  end: number;
}

/**
 * The spans of the last few texts split: a turn splits its prompt and its reply
 * ~10 times each (presence, themes, trauma, recall, trimming, quality, the
 * field), ~0.2 ms a turn. Long texts are split afresh, so the memo stays small.
 */
const recentSpans = new BoundedMap<string, readonly Readonly<Span>[]>(32);
const MEMO_MAX_CHARS = 4096;

/** Field tokens with their UTF-16 offsets in `text` (a fresh array each call). */
export function tokenSpans(text: string): Span[] {
  const known = recentSpans.get(text);
  if (known) return [...known];
  const spans: Span[] = [];
  for (const m of text.matchAll(TOKEN)) {
    spans.push(Object.freeze({ token: m[0].toLowerCase().replaceAll("’", "'"), start: m.index, end: m.index + m[0].length }));
  }
  if (text.length <= MEMO_MAX_CHARS) recentSpans.set(text, [...spans]);
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

/** How many members of `a` are in `b`. */
export function sharedCount<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): number {
  let shared = 0;
  for (const x of a) if (b.has(x)) shared++;
  return shared;
}

/** The Jaccard index of two sets of these sizes with `shared` members in common (0 for two empty sets). */
export const jaccardOf = (shared: number, sizeA: number, sizeB: number): number =>
  sizeA === 0 && sizeB === 0 ? 0 : shared / (sizeA + sizeB - shared);

export const jaccard = <T>(a: ReadonlySet<T>, b: ReadonlySet<T>): number => jaccardOf(sharedCount(a, b), a.size, b.size);

export const clamp01 = (x: number): number => (x < 0 ? 0 : x > 1 ? 1 : x);
