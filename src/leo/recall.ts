/**
 * recall.ts — the recall bias (docs/leo.md): when full-text recall brings back
 * an earlier line of the user's that bears on the new message (sharing content
 * words with it), the words of that line the message does not hold yet, and
 * that the conversation has hardly spoken since, are what an answer would take
 * from it ("What is my cat called?" ← "My cat is called Basil.": Basil). They
 * become a copy bias while she answers: a small kernel that does not copy
 * from its context by itself gets pointed at them.
 */
import type { LeoConfig } from "../config/leo.ts";
import { FIRST_TEXT_TOKEN } from "./bins.ts";
import { isContentWord, tokenSpans } from "./tokens.ts";

export interface RecallCopy {
  /** the recalled words to copy, as the user wrote them */
  words: string[];
  /** each word's model tokens as written mid-sentence, then the token that followed it in the line */
  sequences: number[][];
  weight: number;
  continueWeight: number;
}

/** A recalled word as the user wrote it, and the line from it on (its follower is copied too). */
export interface RecalledWord {
  word: string;
  rest: string;
}

/**
 * The words to copy from the recalled lines (best first) into a reply to
 * `message` (with `questionsOnly`, a message asking something): a line counts when it shares `minShared` content words with the
 * message; of its other content words, those spoken at most `maxSpoken` times
 * (a fact told once, not the talk's common words), rarest first, `maxWords` in all.
 */
export function recallWords(
  message: string,
  recalled: readonly string[],
  spoken: (word: string) => number,
  config: LeoConfig["recall"],
): RecalledWord[] {
  if (config.questionsOnly && !/[?？]/u.test(message)) return [];
  const asked = new Set(tokenSpans(message).map((s) => s.token).filter(isContentWord));
  const found = new Map<string, RecalledWord & { spoken: number; order: number }>();
  for (const line of recalled) {
    const spans = tokenSpans(line);
    const content = spans.filter((s) => isContentWord(s.token));
    if (new Set(content.filter((s) => asked.has(s.token)).map((s) => s.token)).size < config.minShared) continue;
    for (const s of content) {
      if (asked.has(s.token) || found.has(s.token)) continue;
      const count = spoken(s.token);
      if (count > config.maxSpoken) continue;
      const next = spans[spans.indexOf(s) + 1];
      found.set(s.token, { word: line.slice(s.start, s.end), rest: line.slice(s.start, next?.end ?? s.end), spoken: count, order: found.size });
    }
  }
  return [...found.values()]
    .sort((a, b) => a.spoken - b.spoken || a.order - b.order)
    .slice(0, config.maxWords)
    .map(({ word, rest }) => ({ word, rest }));
}

/**
 * The copy bias for the words: each word's tokens as the kernel writes it
 * after a space, and the token that followed it in the recalled line (a copied
 * name ran on into other words' pieces, "Mirapped", until its end was copied too).
 */
export async function recallCopy(
  words: readonly RecalledWord[],
  config: LeoConfig["recall"],
  tokenize: (text: string) => Promise<number[]>,
): Promise<RecallCopy> {
  const text = async (t: string) => (await tokenize(t)).filter((id) => id >= FIRST_TEXT_TOKEN);
  const sequences: number[][] = [];
  const kept: string[] = [];
  for (const { word, rest } of words) {
    const ids = await text(word);
    if (ids.length === 0) continue;
    const whole = await text(rest);
    const follows = ids.every((id, i) => whole[i] === id) ? whole[ids.length] : undefined;
    sequences.push(follows === undefined ? ids : [...ids, follows]);
    kept.push(word);
  }
  return { words: kept, sequences, weight: config.beta, continueWeight: config.continueBeta };
}
