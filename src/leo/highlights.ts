/**
 * highlights.ts — what in a reply resonates (docs/leo.md §6.5): spans of wounded and
 * active-theme words, and how much of the reply was borrowed from the user.
 */
import type { LeoConfig } from "../config/leo.ts";
import { isContentWord, isWord, tokenSpans, words } from "./tokens.ts";

export type HighlightKind = "wound" | "theme";
/** [start, end, kind] in UTF-16 offsets of the reply (JavaScript string indices) */
export type Highlight = [start: number, end: number, kind: HighlightKind];

export function highlights(reply: string, wounded: ReadonlySet<string>, themeWords: ReadonlySet<string>): Highlight[] {
  const out: Highlight[] = [];
  for (const span of tokenSpans(reply)) {
    if (!isWord(span.token)) continue;
    if (wounded.has(span.token)) out.push([span.start, span.end, "wound"]);
    else if (themeWords.has(span.token)) out.push([span.start, span.end, "theme"]);
  }
  return out;
}

/**
 * Share of the reply's content words (of `minLetters`+ letters, every
 * occurrence) that occur in the user's message: healthy below 0.2. Stopwords
 * are left out, or "the" and "you" would count as borrowing.
 */
export function externalVocabularyRatio(reply: string, userMessage: string, c: LeoConfig["externalVocabulary"]): number {
  const long = words(reply).filter((w) => isContentWord(w) && [...w].length >= c.minLetters);
  if (long.length === 0) return 0;
  const borrowed = new Set(words(userMessage));
  return long.filter((w) => borrowed.has(w)).length / long.length;
}
