/**
 * overthinking.ts — the silent rings written in idle time after a reply
 * (docs/leo.md §4.2): what each ring is seeded with, and where rings are kept.
 * Seeds are in the kernel's chat format, ending with the generation prefix, so
 * the kernel goes on in its own voice instead of ending at once. Running them
 * on the model is the orchestrator's job (it owns the engine and the idle time).
 */
import type { Database } from "bun:sqlite";
import type { Clock } from "../config/clock.ts";
import type { LeoConfig } from "../config/leo.ts";
import type { ChatTemplate } from "../config/model-profile.ts";
import { contentWords } from "./tokens.ts";

export type RingKind = LeoConfig["overthinking"]["rings"][number]["kind"];

export interface RingPlan {
  kind: RingKind;
  seed: string;
  temperature: number;
  maxTokens: number;
  /** end-of-text and the stop strings cannot end the ring before this many tokens */
  minTokens: number;
  /** observe only the words the field has heard spoken (the hot meta ring) */
  knownWordsOnly: boolean;
}

export interface Ring {
  id: number;
  messageId: number;
  ts: number;
  kind: RingKind;
  text: string;
}

/** The origin sentence sharing most content words with `text` (the first on ties). */
export function closestOriginSentence(origin: string, text: string): string {
  const sentences = origin.split(/(?<=[.!?…])\s+/u).map((s) => s.trim()).filter(Boolean);
  const said = contentWords(text);
  let best = sentences[0] ?? "";
  let bestShared = -1;
  for (const sentence of sentences) {
    const shared = [...contentWords(sentence)].filter((w) => said.has(w)).length;
    if (shared > bestShared) [best, bestShared] = [sentence, shared];
  }
  return best;
}

const fill = (part: string, text: string) => part.replace("{text}", text);

/**
 * The three rings after a reply. echo: the system line, the user's message,
 * the reply; drift and meta: the reply alone (drift also an origin sentence
 * as its system line while the trauma level is high). Each ends with the
 * template's generation prefix.
 */
export function planRings(
  turn: { prompt: string; reply: string; system: string },
  traumaLevel: number,
  origin: string,
  template: ChatTemplate,
  config: LeoConfig,
): RingPlan[] {
  const answer = fill(template.assistant, turn.reply);
  const prefix = template.generation_prefix;
  const pulled = traumaLevel > config.trauma.driftOriginAbove && origin;
  const seedOf: Record<RingKind, string> = {
    echo: fill(template.system, turn.system) + fill(template.user, turn.prompt) + answer + prefix,
    drift: (pulled ? fill(template.system, closestOriginSentence(origin, turn.reply)) : "") + answer + prefix,
    meta: answer + prefix,
  };
  return config.overthinking.rings.map((ring) => ({
    kind: ring.kind,
    seed: seedOf[ring.kind],
    temperature: ring.temperature,
    maxTokens: ring.maxTokens,
    minTokens: config.overthinking.minTokens,
    knownWordsOnly: ring.kind === "meta",
  }));
}

export class Rings {
  private readonly q;

  constructor(db: Database, private readonly clock: Clock) {
    this.q = {
      insert: db.query<Ring & { message_id: number }, [number, number, RingKind, string]>(
        "INSERT INTO rings (message_id, ts, kind, text) VALUES (?, ?, ?, ?) RETURNING id, message_id, ts, kind, text",
      ),
      forMessage: db.query<Ring & { message_id: number }, [number]>(
        "SELECT id, message_id, ts, kind, text FROM rings WHERE message_id = ? ORDER BY id",
      ),
      countEmpty: db.query<never, [number]>("UPDATE metrics SET empty_rings = empty_rings + 1 WHERE message_id = ?"),
    };
  }

  /** Keep a ring with its turn; an empty one is kept too, and counted in the turn's metrics. */
  store(messageId: number, kind: RingKind, text: string): Ring {
    const row = this.q.insert.get(messageId, this.clock(), kind, text)!;
    if (text === "") this.q.countEmpty.run(messageId);
    return { id: row.id, messageId: row.message_id, ts: row.ts, kind: row.kind, text: row.text };
  }

  forMessage(messageId: number): Ring[] {
    return this.q.forMessage.all(messageId).map((r) => ({ id: r.id, messageId: r.message_id, ts: r.ts, kind: r.kind, text: r.text }));
  }
}
