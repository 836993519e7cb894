/**
 * metrics.ts — the per-turn record (one row per Arianna message).
 */
import type { Database } from "bun:sqlite";

export interface TurnMetrics {
  messageId: number;
  ts: number;
  entropy: number;
  novelty: number;
  arousal: number;
  presencePulse: number;
  traumaScore: number;
  traumaLevel: number;
  wounded: boolean;
  quality: number;
  candidateScores: { quality: number; temperature: number; nonWordShare?: number; stockShare?: number }[];
  externalRatio: number;
  activeThemes: number[];
  binsUsed: number[];
  temperature: number;
  promptTokens: number;
  replyTokens: number;
  ttftMs: number;
  tokensPerSecond: number;
  stopReason: string;
  modelSha256: string;
  seed: number;
  /** leo v2 (null on rows written before migration 003) */
  nonWordShare: number | null;
  stockShare: number | null;
  entropyBand: [number, number] | null;
  /** [start, end, kind] spans of the reply's text */
  highlights: [number, number, string][] | null;
  /** rings after this turn that came out empty (counted as they are written) */
  emptyRings?: number;
}

interface MetricsRow {
  message_id: number;
  ts: number;
  entropy: number;
  novelty: number;
  arousal: number;
  presence_pulse: number;
  trauma: number;
  trauma_level: number;
  wounded: number;
  quality: number;
  candidate_scores: string;
  external_ratio: number;
  active_themes: string;
  bins_used: string;
  temperature: number;
  prompt_tokens: number;
  reply_tokens: number;
  ttft_ms: number;
  tokens_per_second: number;
  stop_reason: string;
  model_sha256: string;
  seed: number;
  non_word_share: number | null;
  stock_phrase_share: number | null;
  entropy_band: string | null;
  highlights: string | null;
  empty_rings: number;
}

const COLUMNS = [
  "message_id", "ts", "entropy", "novelty", "arousal", "presence_pulse", "trauma", "trauma_level", "wounded",
  "quality", "candidates", "candidate_scores", "external_ratio", "active_themes", "bins_used", "temperature",
  "prompt_tokens", "reply_tokens", "ttft_ms", "tokens_per_second", "stop_reason", "model_sha256", "seed",
  "non_word_share", "stock_phrase_share", "entropy_band", "highlights", "leo_version",
] as const;
/** written by leo after the turn (rings come later), read with the rest */
const READ_COLUMNS = [...COLUMNS.filter((c) => c !== "leo_version"), "empty_rings"];
/** the leo layer's version that writes new rows (migration 003 marks older rows 1) */
const LEO_VERSION = 2;
const json = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));

const fromRow = (r: MetricsRow): TurnMetrics => ({
  messageId: r.message_id,
  ts: r.ts,
  entropy: r.entropy,
  novelty: r.novelty,
  arousal: r.arousal,
  presencePulse: r.presence_pulse,
  traumaScore: r.trauma,
  traumaLevel: r.trauma_level,
  wounded: r.wounded === 1,
  quality: r.quality,
  candidateScores: JSON.parse(r.candidate_scores),
  externalRatio: r.external_ratio,
  activeThemes: JSON.parse(r.active_themes),
  binsUsed: JSON.parse(r.bins_used),
  temperature: r.temperature,
  promptTokens: r.prompt_tokens,
  replyTokens: r.reply_tokens,
  ttftMs: r.ttft_ms,
  tokensPerSecond: r.tokens_per_second,
  stopReason: r.stop_reason,
  modelSha256: r.model_sha256,
  seed: r.seed,
  nonWordShare: r.non_word_share,
  stockShare: r.stock_phrase_share,
  entropyBand: json(r.entropy_band),
  highlights: json(r.highlights),
  emptyRings: r.empty_rings,
});

export class Metrics {
  private readonly insertQuery;
  private readonly recentQuery;
  private readonly byMessageQuery;

  constructor(db: Database) {
    this.insertQuery = db.prepare(
      `INSERT INTO metrics (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")})`,
    );
    this.recentQuery = db.query<MetricsRow, [number, number]>(
      `SELECT ${READ_COLUMNS.join(", ")} FROM metrics WHERE message_id < ? ORDER BY message_id DESC LIMIT ?`,
    );
    this.byMessageQuery = db.query<MetricsRow, [number]>(
      `SELECT ${READ_COLUMNS.join(", ")} FROM metrics WHERE message_id = ?`,
    );
  }

  insert(m: TurnMetrics): void {
    this.insertQuery.run(
      m.messageId, m.ts, m.entropy, m.novelty, m.arousal, m.presencePulse, m.traumaScore, m.traumaLevel,
      m.wounded ? 1 : 0, m.quality, m.candidateScores.length, JSON.stringify(m.candidateScores), m.externalRatio,
      JSON.stringify(m.activeThemes), JSON.stringify(m.binsUsed), m.temperature, m.promptTokens, m.replyTokens,
      m.ttftMs, m.tokensPerSecond, m.stopReason, m.modelSha256, m.seed, m.nonWordShare, m.stockShare,
      m.entropyBand && JSON.stringify(m.entropyBand), m.highlights && JSON.stringify(m.highlights), LEO_VERSION,
    );
  }

  forMessage(messageId: number): TurnMetrics | undefined {
    const row = this.byMessageQuery.get(messageId);
    return row ? fromRow(row) : undefined;
  }

  /** Newest first. */
  recent(limit = 50, beforeMessageId = Number.MAX_SAFE_INTEGER): TurnMetrics[] {
    return this.recentQuery.all(beforeMessageId, limit).map(fromRow);
  }
}
