/**
 * trim.ts — cleans a raw model reply before anyone sees it (docs/leo.md §6.3):
 * leaked role markers (misspelt ones too), an echoed opening, repeated
 * sentences, runaway punctuation, and a ragged ending.
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

/** Levenshtein distance, stopping early once it exceeds `limit`. */
export function editDistance(a: string, b: string, limit = Number.POSITIVE_INFINITY): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    if (Math.min(...row) > limit) return limit + 1;
    prev = row;
  }
  return prev[b.length];
}

/** The role a line-initial label stands for, misspelt or not; undefined for an ordinary word. */
function labelRole(label: string, markers: RoleMarkers, c: LeoConfig["trimming"]): "user" | "assistant" | undefined {
  const word = label.toLowerCase();
  let best: { role: "user" | "assistant"; distance: number } | undefined;
  const roles = [
    { role: "user" as const, markers: [markers.user] },
    { role: "assistant" as const, markers: markers.assistant },
  ];
  for (const { role, markers: names } of roles) {
    for (const marker of names) {
      const name = marker.replace(/:$/, "").toLowerCase();
      if (!name) continue;
      const allowed = Math.min(c.roleEditDistance, Math.floor(name.length / c.lettersPerEdit));
      const distance = editDistance(word, name, allowed);
      if (distance <= allowed && (!best || distance < best.distance)) best = { role, distance };
    }
  }
  return best?.role;
}

const LINE_LABEL = /(^|\n)[ \t]*(\p{L}+)[ \t]*:/gu;

function stripRoleMarkers(text: string, markers: RoleMarkers, c: LeoConfig["trimming"]): string {
  let out = text.replace(SPECIAL_PIECES, "");
  if (markers.user) {
    const at = out.indexOf(markers.user);
    if (at >= 0) out = out.slice(0, at);
  }
  for (const marker of markers.assistant) out = out.replaceAll(marker, " ");
  // misspelt labels at the start of a line: the user's cuts the reply there, the assistant's is dropped
  const userLine = [...out.matchAll(LINE_LABEL)].find((m) => labelRole(m[2], markers, c) === "user");
  if (userLine) out = out.slice(0, userLine.index);
  return out.replace(LINE_LABEL, (all, start: string, label: string) => (labelRole(label, markers, c) === "assistant" ? `${start} ` : all));
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
  let text = stripRoleMarkers(raw, markers, c).replace(/\s+/g, " ").trim();
  text = dropEchoedOpening(text, prompt, c.echoWindow);
  text = text.replace(new RegExp(`[.!?]{${c.maxRepeatedMarks + 1},}`, "g"), (run) => run.slice(0, c.maxRepeatedMarks));
  text = dropRepeatedSentences(text).trim();
  return endOnSentence(text);
}
