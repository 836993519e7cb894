/**
 * housekeeping.ts — recognises the hidden prompts front-ends send to the chat
 * endpoint on their own behalf (a title for the chat, tags, follow-up
 * suggestions, search queries, autocompletion). They are not the user
 * speaking: such a request is served stateless and never stored, so it
 * never reaches the conversation, its memory or the night school's export.
 *
 * The patterns are the shapes of Open WebUI's default task prompts (its
 * config.py): they open with a "### Task:" heading and quote the chat inside
 * <chat_history> tags; its tool-choice, emoji and mixture-of-agents prompts
 * have fixed openings of their own. A request whose `metadata.task` names a
 * task (Open WebUI's own label, when it forwards it) is housekeeping whatever
 * its wording (schemas.ts). A front-end whose prompts differ can use the
 * `arianna:stateless` model as its task model instead (names.ts).
 */

interface Pattern {
  name: string;
  test: (text: string) => boolean;
}

const TASK_HEADING = /^\s*#{2,4}\s*Task:/;

const PATTERNS: Pattern[] = [
  { name: "open-webui task (title, tags, follow-ups, queries, image prompt)", test: (t) => TASK_HEADING.test(t) && t.includes("<chat_history>") },
  { name: "open-webui autocompletion", test: (t) => TASK_HEADING.test(t) && /autocompletion system/i.test(t) },
  { name: "open-webui tool choice", test: (t) => /^\s*Available Tools:/.test(t) && t.includes('"tool_calls"') },
  { name: "open-webui emoji", test: (t) => /^\s*Your task is to reflect the speaker's likely facial expression/.test(t) },
  { name: "open-webui mixture of agents", test: (t) => /^\s*You have been provided with a set of responses from various models/.test(t) },
];

/** The kind of housekeeping prompt a user message is, or null when it is the user speaking. */
export function housekeepingKind(text: string): string | null {
  return PATTERNS.find((p) => p.test(text))?.name ?? null;
}
