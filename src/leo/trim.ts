/**
 * trim.ts — cleans a raw model reply before anyone sees it (leo spec §6):
 * leaked role markers, an echoed opening, repeated sentences, runaway
 * punctuation, and a ragged ending.
 */
import type { ChatTemplate } from "../config/model-profile.ts";
import type { LeoConfig } from "../config/leo.ts";
import { tokenSpans, isWord } from "./tokens.ts";

const SPECIAL_PIECES = /<\/?s>|<unk>/g;
const SENTENCE_END = /[.!?…]["'»”)\]]*$/u;

export interface RoleMarkers {
  /** where the model starts writing the user's turn: cut there */
  user: string;
  /** the model re-announcing itself: removed */
  assistant: string[];
}

const prefixOf = (part: string): string => part.slice(0, part.indexOf("{text}")).trim();

export function roleMarkers(template: ChatTemplate): RoleMarkers {
  return {
    user: prefixOf(template.user),
    assistant: [...new Set([prefixOf(template.assistant), template.generation_prefix.trim()])].filter(Boolean),
  };
}

function stripRoleMarkers(text: string, markers: RoleMarkers): string {
  let out = text.replace(SPECIAL_PIECES, "");
  if (markers.user) {
    const at = out.indexOf(markers.user);
    if (at >= 0) out = out.slice(0, at);
  }
  for (const marker of markers.assistant) out = out.replaceAll(marker, " ");
  return out;
}

/** Drop the longest opening whose every 4-word window also appears in the prompt. */
function dropEchoedOpening(text: string, prompt: string, window: number): string {
  const promptWords = tokenSpans(prompt).filter((s) => isWord(s.token)).map((s) => s.token);
  const promptWindows = new Set<string>();
  for (let i = 0; i + window <= promptWords.length; i++) promptWindows.add(promptWords.slice(i, i + window).join(" "));
  const replySpans = tokenSpans(text).filter((s) => isWord(s.token));
  let echoed = 0;
  while (
    echoed + window <= replySpans.length &&
    promptWindows.has(replySpans.slice(echoed, echoed + window).map((s) => s.token).join(" "))
  ) {
    echoed++;
  }
  if (echoed === 0) return text;
  const lastEchoedWord = replySpans[echoed + window - 2];
  return text.slice(lastEchoedWord.end).replace(/^[\s.,!?;:—…-]+/u, "");
}

function dropRepeatedSentences(text: string): string {
  const seen = new Set<string>();
  return text
    .split(/(?<=[.!?…])\s+/u)
    .filter((sentence) => {
      const key = tokenSpans(sentence).filter((s) => isWord(s.token)).map((s) => s.token).join(" ");
      if (key && seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .join(" ");
}

function endOnSentence(text: string): string {
  if (text === "" || SENTENCE_END.test(text)) return text;
  let last = -1;
  for (const m of text.matchAll(/[.!?…]/gu)) last = m.index;
  if (last >= 0 && last >= text.length / 3) return text.slice(0, last + 1);
  return `${text.replace(/[\s,;:—-]+$/u, "")}.`;
}

export function trimReply(raw: string, prompt: string, markers: RoleMarkers, c: LeoConfig["trimming"]): string {
  let text = stripRoleMarkers(raw, markers).replace(/\s+/g, " ").trim();
  text = dropEchoedOpening(text, prompt, c.echoWindow);
  text = text.replace(new RegExp(`[.!?]{${c.maxRepeatedMarks + 1},}`, "g"), (run) => run.slice(0, c.maxRepeatedMarks));
  text = dropRepeatedSentences(text).trim();
  return endOnSentence(text);
}
