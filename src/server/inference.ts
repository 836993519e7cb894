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
import type { EngineInfo, GenerationSummary, SamplingParams, StopReason } from "../engine/index.ts";
import type { Highlight, ThemeFlow } from "../leo/index.ts";
import type { Session, TextGeneration, TurnResult } from "../orchestrator/index.ts";
import { renderTurn } from "../orchestrator/index.ts";
import type { Ticket } from "./gate.ts";
import type { ServerMetrics } from "./metrics.ts";
import type { ChatMessage, ChatRequest } from "./schemas.ts";

/** The part of the Engine the server drives (a stand-in can replace it in tests). */
export interface ServedModel {
  readonly info: EngineInfo | null;
  generate(prompt: string | readonly number[], params: SamplingParams, signal?: AbortSignal): TextGeneration;
}

/** What leo made of a session turn, as the APIs report it. */
export interface AriannaSummary {
  message_id: number;
  episode_id: number;
  /** the stored reply; highlight offsets index into it */
  text: string;
  /** true when `text` differs from the streamed tokens (trimmed, or another candidate won) */
  revised: boolean;
  candidates: number;
  presence: TurnResult["presence"];
  trauma: TurnResult["trauma"];
  themes: ThemeFlow[];
  highlights: Highlight[];
  quality: number;
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
    if (request.stateless) return this.generate(ticket, this.renderChat(request.messages), request.params, signal, listener, true);
    const seed = request.params.seed === undefined ? undefined : Number(request.params.seed);
    return this.run(ticket, () => this.turn(request.messages.at(-1)!.content, seed, signal, listener));
  }

  /** A plain generation on the kernel. `templateStops` adds the chat template's stop strings. */
  generate(ticket: Ticket, prompt: string, params: SamplingParams, signal: AbortSignal, listener: Listener, templateStops = false): Promise<Outcome> {
    return this.run(ticket, async () => {
      listener.accepted?.();
      const started = performance.now();
      const stop = [...(templateStops ? this.session.modelProfile.template.stop : []), ...[params.stop ?? []].flat()];
      const generation = this.model.generate(prompt, { ...params, stop }, signal);
      for await (const token of generation) if (token.text) listener.text(token.text);
      const s: GenerationSummary = await generation.result;
      const outcome = this.outcome(s.text, s, started);
      this.metrics.generation({ kind: "stateless", ...s, cancelled: s.stopReason === "cancelled" });
      return outcome;
    });
  }

  private async run(ticket: Ticket, work: () => Promise<Outcome>): Promise<Outcome> {
    try {
      await ticket.ready;
      return await work();
    } finally {
      ticket.release();
    }
  }

  private async turn(text: string, seed: number | undefined, signal: AbortSignal, listener: Listener): Promise<Outcome> {
    const started = performance.now();
    let streamed = "";
    let announced = 0;
    const r = await this.session.turn(text, {
      seed,
      signal,
      onStored: () => listener.accepted?.(),
      onToken: (delta, candidate) => {
        if (candidate === 0) {
          streamed += delta;
          listener.text(delta);
        } else if (candidate > announced) {
          announced = candidate;
          listener.resample?.(candidate);
        }
      },
    });
    const outcome = this.outcome(r.text, r.stats, started);
    outcome.arianna = {
      message_id: r.messageId, episode_id: r.episodeId, text: r.text, revised: r.text !== streamed,
      candidates: r.candidates.length, presence: r.presence, trauma: r.trauma, themes: r.themes,
      highlights: r.highlights, quality: r.quality, seed: r.seed,
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

  /** A stateless chat in the kernel's own template: the messages in order, then Arianna's turn. */
  private renderChat(messages: readonly ChatMessage[]): string {
    const template = this.session.modelProfile.template;
    const turns = messages.map((m) => renderTurn(template, m.role === "assistant" ? "arianna" : m.role, m.content));
    return turns.join("") + template.generation_prefix;
  }
}
