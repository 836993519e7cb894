/**
 * inference.ts — the two ways a request makes text, shared by the Ollama and
 * OpenAI shapes:
 *
 *  - a session turn: the last user message joins the living conversation and
 *    leo answers (context, bins, trimming, re-sampling, memory);
 *  - a stateless generation straight on the kernel, which touches no memory.
 *
 * Both wait for their ticket from the gate (taken by the route before the
 * response starts, so a full queue is a clean 429) and report to the metrics.
 *
 * Streaming and leo: the first candidate's tokens stream live as the model
 * writes them. When leo re-samples, later candidates are not streamed (the
 * client is told a re-sample started), and the reply that is stored (trimmed,
 * the best candidate) is always sent whole at the end, with `revised: true`
 * when it differs from what was streamed.
 */
import type { Embeddings, EngineInfo, GenerationSummary, SamplingParams, StopReason } from "../engine/index.ts";
import type { Highlight, ThemeFlow } from "../leo/index.ts";
import type { Session, TextGeneration, TurnResult } from "../orchestrator/index.ts";
import { renderTurn, replyStops, type TurnSampling } from "../orchestrator/index.ts";
import type { Ticket } from "./gate.ts";
import type { ServerMetrics } from "./metrics.ts";
import type { ChatMessage, ChatRequest } from "./schemas.ts";

/** The part of the Engine the server drives (a stand-in can replace it in tests). */
export interface ServedModel {
  readonly info: EngineInfo | null;
  tokenize(text: string, opts?: { bos?: boolean }): Promise<number[]>;
  generate(prompt: string | readonly number[], params: SamplingParams, signal?: AbortSignal): TextGeneration;
  embed(texts: readonly string[], opts?: { truncate?: boolean }): Promise<Embeddings>;
}

/** What leo made of a session turn, as the APIs report it. */
export interface AriannaSummary {
  message_id: number;
  episode_id: number;
  /** the stored reply; highlight offsets index into it */
  text: string;
  /** true when `text` differs from what was streamed (leo chose another candidate over the one under way) */
  revised: boolean;
  candidates: number;
  presence: TurnResult["presence"];
  trauma: TurnResult["trauma"];
  themes: ThemeFlow[];
  highlights: Highlight[];
  quality: number;
  /** share of the reply's content words taken from the user's message (a warning above 0.3) */
  external_ratio: number;
  /** the recalled words leo's recall bias pointed the reply at (empty when it did not fire) */
  recall: string[];
  seed: number;
}

export interface Outcome {
  text: string;
  promptTokens: number;
  completionTokens: number;
  /** request start (after the queue) to first token */
  ttftMs: number;
  /** decode time after the first token */
  evalMs: number;
  totalMs: number;
  stopReason: StopReason;
  /** session turns only */
  arianna?: AriannaSummary;
}

export interface Listener {
  /** the request is taken: a session turn's user message is durable, a generation has left the queue */
  accepted?(): void;
  /** text as it is generated (the first candidate of a session turn) */
  text(delta: string): void;
  /** a session turn started re-sampling candidate `n` (not streamed) */
  resample?(n: number): void;
}

/** A vector scaled to unit length (a copy). */
function unit(v: Float32Array): Float32Array {
  const norm = Math.hypot(...v);
  return v.map((x) => (norm > 0 ? x / norm : 0));
}

const evalMs = (completionTokens: number, tokensPerSecond: number) =>
  tokensPerSecond > 0 && completionTokens > 1 ? ((completionTokens - 1) / tokensPerSecond) * 1000 : 0;

export class Inference {
  constructor(
    private readonly model: ServedModel,
    private readonly session: Session,
    private readonly metrics: ServerMetrics,
  ) {}

  /** A chat request: a session turn, or stateless over the whole message list. */
  chat(ticket: Ticket, request: ChatRequest, signal: AbortSignal, listener: Listener): Promise<Outcome> {
    if (request.stateless)
      return this.run(ticket, async () => this.generation(await this.fitChat(request), request.params, signal, listener, true));
    const { seed, bias: _bias, bos: _bos, ...sampling } = request.params;
    return this.run(ticket, () => this.turn(request.messages.at(-1)!.content, seed === undefined ? undefined : Number(seed), sampling, signal, listener));
  }

  /**
   * Embeddings of the texts, in order (see ar_session_embed), waiting for the
   * model like a generation. `dimensions` keeps the first n, renormalised.
   */
  embed(ticket: Ticket, texts: readonly string[], truncate: boolean, dimensions?: number): Promise<{ vectors: Float32Array[]; tokens: number; totalMs: number }> {
    return this.run(ticket, async () => {
      const started = performance.now();
      const { vectors, tokens } = await this.model.embed(texts, { truncate });
      const cut = dimensions && dimensions < (vectors[0]?.length ?? 0) ? vectors.map((v) => unit(v.subarray(0, dimensions))) : vectors;
      return { vectors: cut, tokens, totalMs: performance.now() - started };
    });
  }

  /** A plain generation on the kernel. */
  generate(ticket: Ticket, prompt: string, params: SamplingParams, signal: AbortSignal, listener: Listener): Promise<Outcome> {
    return this.run(ticket, () => this.generation(prompt, params, signal, listener, false));
  }

  /** `chatStops` adds where the template ends Arianna's turn. */
  private async generation(
    prompt: string | readonly number[], params: SamplingParams, signal: AbortSignal, listener: Listener, chatStops: boolean,
  ): Promise<Outcome> {
    listener.accepted?.();
    const started = performance.now();
    const stop = [...(chatStops ? replyStops(this.session.modelProfile.template) : []), ...[params.stop ?? []].flat()];
    const generation = this.model.generate(prompt, { ...params, stop }, signal);
    for await (const token of generation) if (token.text) listener.text(token.text);
    const s: GenerationSummary = await generation.result;
    const outcome = this.outcome(s.text, s, started);
    this.metrics.generation({ kind: "stateless", ...s, cancelled: s.stopReason === "cancelled" });
    return outcome;
  }

  /**
   * A stateless chat's prompt as token ids, within the context: when it is
   * too long, its end is kept (BOS, then the latest tokens), as Ollama keeps
   * the latest messages, leaving room for the reply (max tokens, at most half
   * the context). A front-end's housekeeping prompt quotes the chat last.
   */
  private async fitChat(request: ChatRequest): Promise<readonly number[]> {
    const ids = await this.model.tokenize(this.renderChat(request.messages), { bos: true });
    const seqLen = this.model.info?.seqLen ?? ids.length;
    const room = Math.min(request.params.maxTokens ?? this.session.config.replyBudgetTokens, Math.floor(seqLen / 2));
    const keep = seqLen - room;
    return ids.length <= keep ? ids : [ids[0], ...ids.slice(ids.length - (keep - 1))];
  }

  private async run<T>(ticket: Ticket, work: () => Promise<T>): Promise<T> {
    try {
      await ticket.ready;
      return await work();
    } finally {
      ticket.release();
    }
  }

  private async turn(text: string, seed: number | undefined, sampling: TurnSampling, signal: AbortSignal, listener: Listener): Promise<Outcome> {
    const started = performance.now();
    let announced = 0;
    const r = await this.session.turn(text, {
      seed,
      signal,
      sampling,
      onStored: () => listener.accepted?.(),
      onReply: (delta) => listener.text(delta),
      onToken: (_delta, candidate) => {
        if (candidate > announced) {
          announced = candidate;
          listener.resample?.(candidate);
        }
      },
    });
    const outcome = this.outcome(r.text, r.stats, started);
    outcome.arianna = {
      message_id: r.messageId, episode_id: r.episodeId, text: r.text, revised: r.text !== r.streamed,
      candidates: r.candidates.length, presence: r.presence, trauma: r.trauma, themes: r.themes,
      highlights: r.highlights, quality: r.quality, external_ratio: r.externalRatio, recall: r.recall, seed: r.seed,
    };
    this.metrics.generation({
      kind: "session", ...r.stats, cancelled: r.stats.stopReason === "cancelled",
      presence: r.presence.pulse, trauma: r.trauma.score,
    });
    return outcome;
  }

  private outcome(text: string, s: Pick<GenerationSummary, "promptTokens" | "completionTokens" | "ttftMs" | "tokensPerSecond" | "stopReason">, started: number): Outcome {
    return {
      text, promptTokens: s.promptTokens, completionTokens: s.completionTokens, ttftMs: s.ttftMs,
      evalMs: evalMs(s.completionTokens, s.tokensPerSecond), totalMs: performance.now() - started, stopReason: s.stopReason,
    };
  }

  /**
   * A stateless chat in the kernel's own template: the messages in order, then
   * Arianna's turn. When the assistant's message comes last, the generation
   * continues it (its text follows the generation prefix, unterminated).
   */
  private renderChat(messages: readonly ChatMessage[]): string {
    const template = this.session.modelProfile.template;
    const last = messages.at(-1);
    const continued = last?.role === "assistant" ? ` ${last.content}` : "";
    const turns = (continued ? messages.slice(0, -1) : messages).map((m) => renderTurn(template, m.role === "assistant" ? "arianna" : m.role, m.content));
    return turns.join("") + template.generation_prefix + continued;
  }
}
