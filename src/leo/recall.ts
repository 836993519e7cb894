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
 * The words to copy from the recalled lines (best first, each read up to
 * `lineChars`) into a reply to `message` (with `questionsOnly`, a question):
 * a line counts when it shares `minShared` content words with the message; of
 * its other content words, those spoken at most `maxSpoken` times (a fact told
 * once, not the talk's common words), rarest first, `maxWords` in all.
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
  const common = new Set<string>();
  for (const whole of recalled) {
    const line = whole.slice(0, config.lineChars);
    const spans = tokenSpans(line);
    if (line.length < whole.length) spans.pop(); // the cut may have split its last word
    if (new Set(spans.filter((s) => asked.has(s.token)).map((s) => s.token)).size < config.minShared) continue;
    // one look-up per distinct word
    spans.forEach((s, i) => {
      if (!isContentWord(s.token) || asked.has(s.token) || found.has(s.token) || common.has(s.token)) return;
      const count = spoken(s.token);
      if (count > config.maxSpoken) return void common.add(s.token);
      const rest = line.slice(s.start, spans[i + 1]?.end ?? s.end);
      found.set(s.token, { word: line.slice(s.start, s.end), rest, spoken: count, order: found.size });
    });
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
