/**
 * overthinking.ts — the silent rings written in idle time after a reply (leo
 * spec §4): what each ring is seeded with, and where rings are kept. Running
 * them on the model is the orchestrator's job (it owns the engine and the idle time).
 */
import type { Database } from "bun:sqlite";
import type { Clock } from "../config/clock.ts";
import type { LeoConfig } from "../config/leo.ts";
import { contentWords } from "./tokens.ts";

export type RingKind = LeoConfig["overthinking"]["rings"][number]["kind"];

export interface RingPlan {
  kind: RingKind;
  seed: string;
  temperature: number;
  maxTokens: number;
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

export function planRings(
  prompt: string,
  reply: string,
  traumaLevel: number,
  origin: string,
  config: LeoConfig,
): RingPlan[] {
  const seedOf: Record<RingKind, string> = {
    echo: `${prompt}\n${reply}`,
    drift:
      traumaLevel > config.trauma.driftOriginAbove && origin
        ? `${closestOriginSentence(origin, reply)}\n${reply}`
        : reply,
    meta: reply,
  };
  return config.overthinking.rings.map((ring) => ({
    kind: ring.kind,
    seed: seedOf[ring.kind],
    temperature: ring.temperature,
    maxTokens: ring.maxTokens,
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
    };
  }

  store(messageId: number, kind: RingKind, text: string): Ring {
    const row = this.q.insert.get(messageId, this.clock(), kind, text)!;
    return { id: row.id, messageId: row.message_id, ts: row.ts, kind: row.kind, text: row.text };
  }

  forMessage(messageId: number): Ring[] {
    return this.q.forMessage.all(messageId).map((r) => ({ id: r.id, messageId: r.message_id, ts: r.ts, kind: r.kind, text: r.text }));
  }
}
