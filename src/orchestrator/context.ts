/**
 * context.ts — step 2 of a turn: the prompt, within the token budget.
 *
 * The current message and the generation prefix always go in (the message cut
 * from the front if it alone is too long), then the persona, then memory in
 * priority order: the best full-text hit, the newest message, the best
 * recalled snapshot, the next hit, the message before, ... so a model with a
 * small seq_len still gets the most relevant memory. Counts come from the
 * model's tokenizer; the final prompt is tokenized once more to be exact.
 *
 * The prompt reads as one dialogue, oldest first: persona, snapshots (her
 * voice, from any time), then the hits (the user's own earlier lines that
 * share the message's rarest words: what they told her, each with her reply),
 * then the recent turns and the message. The hits sit right before the recent
 * turns, and the session keeps only the last few recent turns when there are
 * hits, so a kernel taught to answer with what the user said a few exchanges
 * earlier ("My cat is called Basil." … "How is Basil?") finds them where its
 * training put them. A hit and its reply are one piece: both or neither.
 */
import type { ChatTemplate } from "../config/model-profile.ts";
import type { Snapshot } from "../leo/index.ts";
import type { Message, Role } from "../memory/index.ts";
import type { TokenCounter } from "./token-counter.ts";

export interface ContextSources {
  persona: string;
  userText: string;
  /** newest first */
  recent: readonly Message[];
  /** best first: the user's earlier lines that bear on the message, each with her reply to it */
  hits: readonly { message: Message; reply?: Message }[];
  /** best first */
  recalled: readonly Snapshot[];
}

export interface AssembledContext {
  prompt: string;
  /** the prompt's token ids, BOS first: what the engine is given */
  ids: number[];
  budget: number;
  included: { persona: boolean; recent: number[]; memory: number[]; snapshots: number[]; userTruncated: boolean };
}

type Section = "memory" | "snapshots" | "recent";

interface Piece {
  section: Section;
  /** message or snapshot id; also the chronological order inside a section */
  id: number;
  key: string;
  text: string;
}

// trainer/arianna_data.py clean_line: the control characters it drops, and Python's str.split() whitespace
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200e\u200f\ufeff]/g;
const PY_WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/**
 * A turn's text on one line, exactly as the trainer renders it (clean_line):
 * NFC, no control characters, every whitespace run one space. A user message
 * holding "\nArianna: …\nUser: …" then stays one user turn in the prompt
 * instead of forging turns, and the runtime renders history as training did.
 */
export function oneLine(text: string): string {
  return text.normalize("NFC").replace(CONTROL, "").split(PY_WHITESPACE).filter(Boolean).join(" ");
}

export function renderTurn(template: ChatTemplate, role: Role, text: string): string {
  const pattern = role === "user" ? template.user : role === "arianna" ? template.assistant : template.system;
  return pattern.split("{text}").join(oneLine(text));
}

/** h0, r0, s0, h1, r1, s1, ...: the best hit, the newest message, the best snapshot, then the next of each. */
function byPriority(sources: ContextSources, template: ChatTemplate): Piece[] {
  const recent = sources.recent.map((m) => ({ section: "recent" as const, id: m.id, key: `m${m.id}`, text: renderTurn(template, m.role, m.text) }));
  const hits = sources.hits.map(({ message: m, reply }) => ({
    section: "memory" as const,
    id: m.id,
    key: `m${m.id}`,
    text: renderTurn(template, m.role, m.text) + (reply ? renderTurn(template, reply.role, reply.text) : ""),
  }));
  const snaps = sources.recalled.map((s) => ({ section: "snapshots" as const, id: s.id, key: `s${s.id}`, text: renderTurn(template, "arianna", s.text) }));
  const out: Piece[] = [];
  for (let round = 0; out.length < recent.length + hits.length + snaps.length; round++) {
    if (hits[round]) out.push(hits[round]);
    if (recent[round]) out.push(recent[round]);
    if (snaps[round]) out.push(snaps[round]);
  }
  return out;
}

function render(template: ChatTemplate, persona: string | undefined, pieces: readonly Piece[], user: string): string {
  const section = (s: Section) => pieces.filter((p) => p.section === s).sort((a, b) => a.id - b.id).map((p) => p.text).join("");
  return (
    (persona ? renderTurn(template, "system", persona) : "") +
    section("snapshots") +
    section("memory") +
    section("recent") +
    user +
    template.generation_prefix
  );
}

export async function assembleContext(
  sources: ContextSources,
  template: ChatTemplate,
  budget: number,
  counter: TokenCounter,
  tokenize: (text: string, opts?: { bos?: boolean }) => Promise<number[]>,
): Promise<AssembledContext> {
  const BOS = 1;
  let user = renderTurn(template, "user", sources.userText);
  let used = BOS + (await counter.count(template.generation_prefix, "prefix")) + (await counter.count(user));
  let userTruncated = false;
  if (used > budget) {
    user = await truncateFromFront(sources.userText, template, budget - (used - (await counter.count(user))), counter);
    used = budget;
    userTruncated = true;
  }
  const personaText = renderTurn(template, "system", sources.persona);
  const personaCost = sources.persona ? await counter.count(personaText, `persona:${sources.persona}`) : 0;
  let persona = sources.persona && used + personaCost <= budget ? sources.persona : undefined;
  if (persona) used += personaCost;

  const chosen: Piece[] = [];
  const seen = new Set<string>();
  for (const piece of byPriority(sources, template)) {
    if (seen.has(piece.key)) continue;
    const cost = await counter.count(piece.text, piece.key);
    if (used + cost > budget) continue;
    seen.add(piece.key);
    chosen.push(piece);
    used += cost;
  }

  // pieces tokenized apart can differ slightly from the whole: drop the least important until exact
  let prompt = render(template, persona, chosen, user);
  let ids = await tokenize(prompt, { bos: true });
  while (ids.length > budget && (chosen.length > 0 || persona)) {
    if (chosen.length > 0) chosen.pop();
    else persona = undefined;
    prompt = render(template, persona, chosen, user);
    ids = await tokenize(prompt, { bos: true });
  }
  const idsOf = (s: Section) => chosen.filter((p) => p.section === s).map((p) => p.id);
  return {
    prompt,
    ids,
    budget,
    included: { persona: persona !== undefined, recent: idsOf("recent"), memory: idsOf("memory"), snapshots: idsOf("snapshots"), userTruncated },
  };
}

/** The longest tail of the message (whole words) whose rendered turn fits `room` tokens. */
async function truncateFromFront(text: string, template: ChatTemplate, room: number, counter: TokenCounter): Promise<string> {
  const words = text.split(/\s+/).filter(Boolean);
  let lo = 0;
  let hi = words.length;
  while (lo < hi) {
    const keep = Math.ceil((lo + hi) / 2);
    const fits = (await counter.count(renderTurn(template, "user", words.slice(-keep).join(" ")))) <= room;
    if (fits) lo = keep;
    else hi = keep - 1;
  }
  if (lo > 0 || words.length === 0) return renderTurn(template, "user", words.slice(words.length - lo).join(" "));
  // not even the last word fits (one over-long "word"): keep its longest tail that does, never nothing
  const chars = [...words.at(-1)!];
  let short = 0;
  let long = chars.length;
  while (short < long) {
    const keep = Math.ceil((short + long) / 2);
    if ((await counter.count(renderTurn(template, "user", chars.slice(-keep).join("")))) <= room) short = keep;
    else long = keep - 1;
  }
  return renderTurn(template, "user", chars.slice(chars.length - short).join(""));
}

/**
 * Where Arianna's turn ends: what follows `{text}` in the assistant pattern
 * (a newline: the template keeps every turn on one line, so a reply ends at
 * its first newline), and the template's own stop strings.
 */
export function replyStops(template: ChatTemplate): string[] {
  const end = template.assistant.slice(template.assistant.indexOf("{text}") + "{text}".length);
  return [...new Set([end, ...template.stop])].filter((s) => s !== "");
}
