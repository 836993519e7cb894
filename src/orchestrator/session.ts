/**
 * session.ts — the one never-ending conversation and its five steps per turn:
 *
 *   1. store the user message (committed before anything else)
 *   2. gather context: recent turns, full-text hits, recalled snapshots, active bins
 *   3. generate through the model, logits biased by the bins and the recall bias
 *   4. pass the reply through leo (trim, score, re-sample when poor)
 *   5. store the reply with its metrics in one transaction, and answer
 *
 * Turns are serialized. After a turn, idle time belongs to leo: the turn's
 * texts join the word field with a bounded merge of the full-text index (one
 * commit), then bins and maintenance, then the overthinking rings, which the
 * next turn cancels.
 * docs/architecture.md §3 tells the turn end to end.
 */
import type { Clock } from "../config/clock.ts";
import { systemClock } from "../config/clock.ts";
import type { ModelProfile } from "../config/model-profile.ts";
import { DEFAULT_PERSONA, type RuntimeConfig } from "../config/runtime.ts";
import type { Highlight, Leo, Presence, RecallCopy, ThemeFlow, TurnOutcome, TurnPreparation } from "../leo/index.ts";
import { contentWords, nextTemperature } from "../leo/index.ts";
import { MessageFlag, type Memory, type Message, type TurnMetrics } from "../memory/index.ts";
import { assembleContext, replyStops, type AssembledContext } from "./context.ts";
import type { GenerationSummary, SamplingParams, TextModel } from "./model.ts";
import { ReplyStream } from "./reply-stream.ts";
import { Serial } from "../shared/serial.ts";
import { TokenCounter } from "./token-counter.ts";

export interface TurnOptions {
  /** makes the turn (and its rings) reproducible; default: the config's seed, else random */
  seed?: number;
  /**
   * stops generation: what was already given to onReply is kept (without
   * onReply, the partial reply); when that is nothing, no reply is stored and
   * the turn throws TurnCancelled
   */
  signal?: AbortSignal;
  /** the user message is committed (called once, before generation) */
  onStored?: (userMessageId: number) => void;
  /** raw tokens as the model writes them; `candidate` > 0 means a re-sample */
  onToken?: (text: string, candidate: number) => void;
  /**
   * the reply as it will be stored, in order, as it becomes certain: whole
   * sentences of the first candidate once trimming can no longer change them,
   * then the rest of the stored reply. What it gave is `TurnResult.streamed`.
   */
  onReply?: (delta: string) => void;
  /** the caller's sampling: the base leo's adjustments start from; maxTokens caps the reply, stop ends it */
  sampling?: TurnSampling;
}

/** A turn stopped before its reply had a word: the user message is stored, no reply is. */
export class TurnCancelled extends Error {
  override name = "TurnCancelled";
  constructor(readonly userMessageId: number) {
    super("the reply was stopped before it began; nothing was stored for it");
  }
}

export type TurnSampling = Pick<SamplingParams, "temperature" | "topP" | "topK" | "repeatPenalty" | "repeatWindow" | "maxTokens" | "stop">;

export interface Candidate {
  text: string;
  quality: number;
  temperature: number;
  entropy: number;
}

/** A candidate with what the engine reported, the untrimmed text and leo's shares of non-words and stock phrases. */
type Generated = Candidate & { summary: GenerationSummary; raw: string; nonWordShare: number; stockShare: number };

export interface TurnResult {
  userMessageId: number;
  messageId: number;
  episodeId: number;
  /** the final reply (trimmed; the best candidate) */
  text: string;
  /** what onReply gave; equal to `text` unless leo replaced a reply already under way */
  streamed: string;
  highlights: Highlight[];
  presence: Presence;
  trauma: { score: number; level: number; wounded: boolean; event: boolean; woundedWords: string[] };
  quality: number;
  candidates: Candidate[];
  /** index into candidates of the reply given */
  chosen: number;
  externalRatio: number;
  externalWarning: boolean;
  themes: ThemeFlow[];
  binsUsed: number[];
  /** the recalled words the reply was biased towards (leo's recall bias; empty when it did not fire) */
  recall: string[];
  context: AssembledContext["included"] & { promptTokens: number; budget: number };
  stats: Pick<GenerationSummary, "promptTokens" | "completionTokens" | "ttftMs" | "tokensPerSecond" | "stopReason">;
  seed: number;
}

export interface SessionOptions {
  memory: Memory;
  leo: Leo;
  model: TextModel;
  profile: ModelProfile;
  config: RuntimeConfig;
  clock?: Clock;
  /** run overthinking rings in idle time (default true) */
  overthink?: boolean;
}

/** The keys of `o` that hold a value (so an absent option leaves the default in place). */
const definedOnly = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
const randomSeed = (): number => crypto.getRandomValues(new Uint32Array(1))[0];
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve(); // an abort that came first never fires its event
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * The user message was stored, the reply could not be (the disk, a lock): the
 * message stays flagged unanswered. The client must not send it again.
 */
export class ReplyNotStored extends Error {
  constructor(readonly userMessageId: number, override readonly cause: unknown) {
    super(`your message was stored (#${userMessageId}) but the reply could not be: ` +
      `${cause instanceof Error ? cause.message : String(cause)}; it is marked unanswered, do not send it again`);
  }
}

/**
 * Messages between a recalled memory and the message it bears on: the persona
 * corpus's memory dialogues ask about a fact one to four exchanges after it
 * was told, so three exchanges keep the recall within the distance taught.
 */
const RECALL_DISTANCE = 6;

/** Her reply to a user message: the message after it, when it is hers and in its episode (turns are serial). */
const replyTo = (message: Message, next: Message | undefined): Message | undefined =>
  next?.role === "arianna" && next.episodeId === message.episodeId ? next : undefined;

/** A stored reply's per-turn record (memory's `metrics` row): what leo measured and how the kernel ran. */
function metricsRow(
  reply: Message, best: Generated, candidates: Generated[], prep: TurnPreparation, outcome: TurnOutcome, seed: number, modelSha256: string,
): TurnMetrics {
  return {
    messageId: reply.id,
    ts: reply.ts,
    entropy: outcome.presence.entropy,
    novelty: outcome.presence.novelty,
    arousal: outcome.presence.arousal,
    presencePulse: outcome.presence.pulse,
    traumaScore: outcome.trauma.score,
    traumaLevel: outcome.trauma.level,
    wounded: outcome.trauma.wounded,
    quality: best.quality,
    candidateScores: candidates.map((c) => ({
      quality: c.quality, temperature: c.temperature, nonWordShare: c.nonWordShare, stockShare: c.stockShare,
    })),
    externalRatio: outcome.externalRatio,
    activeThemes: prep.activeThemes.map((t) => t.theme.id),
    binsUsed: prep.binsUsed,
    temperature: best.temperature,
    promptTokens: best.summary.promptTokens,
    replyTokens: best.summary.completionTokens,
    ttftMs: candidates[0].summary.ttftMs,
    tokensPerSecond: best.summary.tokensPerSecond,
    stopReason: best.summary.stopReason,
    modelSha256,
    seed,
    nonWordShare: best.nonWordShare,
    stockShare: best.stockShare,
    entropyBand: prep.band,
    highlights: outcome.highlights,
  };
}

export class Session {
  private readonly serial = new Serial();
  private readonly counter: TokenCounter;
  private readonly clock: Clock;
  private profile: ModelProfile;
  private idleWork: Promise<void> = Promise.resolve();
  private idleAbort = new AbortController();
  private closed = false;

  /** Use `openSession` (index.ts) unless you are wiring the parts yourself; then call `useModel` first. */
  constructor(private readonly options: SessionOptions) {
    this.profile = options.profile;
    this.clock = options.clock ?? systemClock;
    this.counter = new TokenCounter((text, opts) => options.model.tokenize(text, opts));
  }

  get memory(): Memory {
    return this.options.memory;
  }

  get leo(): Leo {
    return this.options.leo;
  }

  get modelProfile(): ModelProfile {
    return this.profile;
  }

  /** The runtime configuration the session was opened with (sampling defaults, reply budget). */
  get config(): RuntimeConfig {
    return this.options.config;
  }

  /** Adopt the loaded kernel (call after engine.load/swap): template, origin, bins, token counts. */
  useModel(profile: ModelProfile): Promise<void> {
    return this.replaceModel(async () => {}, profile);
  }

  /**
   * Swap the kernel between turns: `load` (e.g. engine.swap) runs after the
   * turn in flight and its idle work, then the new kernel is adopted, so no
   * turn ever sees a half-changed model. If `load` throws, nothing changes.
   */
  replaceModel(load: () => Promise<unknown>, profile: ModelProfile): Promise<void> {
    return this.serial.run(async () => {
      await this.quiesce();
      await load();
      const info = this.requireInfo();
      this.profile = profile;
      this.counter.clear();
      await this.leo.useKernel(
        {
          name: profile.name,
          displayName: profile.displayName,
          origin: profile.origin,
          originGeneric: profile.originGeneric,
          vocabSize: info.vocabSize,
          sha256: profile.sha256,
          tokenize: (t) => this.options.model.tokenize(t, { bos: false }),
        },
        profile.template,
      );
    });
  }

  /** Start a new episode now (the next message opens the chapter). */
  newEpisode(): Promise<number> {
    return this.serial.run(async () => this.memory.episodes.open(this.clock()).id);
  }

  /** One turn of the conversation. Concurrent calls queue; they never interleave. */
  turn(text: string, opts: TurnOptions = {}): Promise<TurnResult> {
    return this.serial.run(() => this.runTurn(text, opts));
  }

  /** Resolves when the idle work after the last turn (bins, maintenance, rings) is done. */
  idle(): Promise<void> {
    return this.serial.run(() => this.idleWork);
  }

  /** Cancel idle work and close the database (the engine belongs to the caller). */
  close(): Promise<void> {
    return this.serial.run(async () => {
      await this.quiesce();
      this.closed = true;
      this.memory.close();
    });
  }

  private requireInfo() {
    const info = this.options.model.info;
    if (!info) throw new Error("no model loaded");
    return info;
  }

  /** A new request cancels pending rings at once and waits for the engine to be free. */
  private async quiesce(): Promise<void> {
    this.idleAbort.abort();
    await this.idleWork;
  }

  private async runTurn(userText: string, opts: TurnOptions): Promise<TurnResult> {
    if (this.closed) throw new Error("session closed");
    await this.quiesce();
    const { memory, leo, config } = this.options;
    const info = this.requireInfo();
    const seed = (opts.seed ?? config.seed ?? randomSeed()) >>> 0;

    // 1. the user message is durable before generation (leo's reading of the prompt
    //    only reads: novelty must see the field before the prompt joins it)
    memory.requireRoomForTurn(); // a turn that may not fit is not started: it would split
    leo.settle(); // the prompt of a turn whose reply failed joins the field first
    const prep = leo.prepare(userText);
    // stored as unanswered: the flag goes in the same commit as the reply, so a turn whose
    // reply never gets stored (a full disk, a crash, a client that left) says so by itself
    const user = this.commit(() => memory.messages.append("user", userText, MessageFlag.Unanswered));
    leo.observe(user);
    opts.onStored?.(user.id);

    // 2. context within seq_len minus the reply budget
    const replyBudget = Math.min(config.replyBudgetTokens, Math.floor(info.seqLen / 2));
    const { context, recall } = await this.gatherContext(user, prep, info.seqLen - replyBudget);

    // 3 + 4. generate, trim, score; re-sample a poor reply
    const stream = new ReplyStream((raw) => leo.trim(raw, prep.prompt), opts.onReply);
    const maxTokens = Math.min(replyBudget, opts.sampling?.maxTokens ?? replyBudget);
    const candidates = await this.candidates(context.ids, maxTokens, prep, recall, seed, opts, stream);
    const chosen = candidates.reduce((best, c, i) => (c.quality > candidates[best].quality ? i : best), 0);
    const best = candidates[chosen];
    // stopped (Ctrl-C, the page's Stop, a client that left): keep what reached the reader, the
    // sentences already streamed (a caller that streams nothing keeps the partial reply);
    // when that is nothing, nothing stands in for it
    const stopped = best.summary.stopReason === "cancelled";
    const kept = stopped ? stream.stoppedAt(best.text) : best.text;
    if (stopped && !kept) throw new TurnCancelled(user.id);
    const replyText = kept || "…";
    const streamed = stream.finish(replyText);
    const flags =
      (candidates.length > 1 ? MessageFlag.Resampled : 0) |
      (replyText !== best.raw.trim() ? MessageFlag.Trimmed : 0) |
      (best.quality < prep.resampleBelow ? MessageFlag.LowQuality : 0) |
      (stopped ? MessageFlag.Cancelled : 0);

    // 5. the reply, its metrics and leo's updates commit together
    const { reply, outcome } = this.commitReply(user.id, () => {
      memory.messages.answered(user.id, stopped);
      const reply = memory.messages.append("arianna", replyText, flags);
      const outcome = leo.commitTurn(prep, {
        messageId: reply.id, text: replyText, entropy: best.entropy, quality: best.quality, firstQuality: candidates[0].quality, nonWordShare: best.nonWordShare,
      });
      memory.metrics.insert(metricsRow(reply, best, candidates, prep, outcome, seed, this.profile.sha256));
      memory.episodes.recordThemes(reply.episodeId, prep.activeThemes.map((t) => t.theme.id), (id) => leo.themeTitle(id));
      return { reply, outcome };
    });
    this.startIdleWork(userText, reply, seed);

    return {
      userMessageId: user.id,
      messageId: reply.id,
      episodeId: reply.episodeId,
      text: replyText,
      streamed,
      highlights: outcome.highlights,
      presence: outcome.presence,
      trauma: {
        score: outcome.trauma.score,
        level: outcome.trauma.level,
        wounded: outcome.trauma.wounded,
        event: outcome.trauma.event !== undefined,
        woundedWords: outcome.trauma.woundedWords,
      },
      quality: best.quality,
      candidates: candidates.map(({ text, quality, temperature, entropy }) => ({ text, quality, temperature, entropy })),
      chosen,
      externalRatio: outcome.externalRatio,
      externalWarning: outcome.externalRatio > leo.config.externalVocabulary.warnAbove,
      themes: outcome.themes,
      binsUsed: prep.binsUsed,
      recall: recall.words,
      context: { ...context.included, promptTokens: context.ids.length, budget: context.budget },
      stats: {
        promptTokens: best.summary.promptTokens,
        completionTokens: best.summary.completionTokens,
        ttftMs: candidates[0].summary.ttftMs,
        tokensPerSecond: best.summary.tokensPerSecond,
        stopReason: best.summary.stopReason,
      },
      seed,
    };
  }

  /** The reply's transaction: when it fails, the stored user message stays flagged unanswered, and the error says so. */
  private commitReply<T>(userMessageId: number, fn: () => T): T {
    try {
      return this.commit(fn);
    } catch (error) {
      throw new ReplyNotStored(userMessageId, error);
    }
  }

  /** One write transaction; when it rolls back, leo drops caches that ran ahead of SQLite. */
  private commit<T>(fn: () => T): T {
    try {
      return this.memory.atomically(fn);
    } catch (error) {
      this.leo.recover();
      throw error;
    }
  }

  /** Candidates until one is good enough (or the request is cancelled), each hotter or cooler than the last failure. */
  private async candidates(
    ids: number[],
    replyBudget: number,
    prep: TurnPreparation,
    recall: RecallCopy,
    seed: number,
    opts: TurnOptions,
    stream: ReplyStream,
  ): Promise<Generated[]> {
    const { leo, config } = this.options;
    const qc = leo.config.quality;
    const out: Generated[] = [];
    let temperature = (opts.sampling?.temperature ?? config.generation.temperature) * prep.temperatureFactor;
    for (let k = 0; k <= qc.extraCandidates; k++) {
      const { raw, entropies, summary } = await this.generate(ids, temperature, seed + k, replyBudget, prep, recall, k, opts, stream);
      const { text, entropy, report } = await leo.assess(raw, prep, entropies);
      out.push({ text, quality: report.quality, temperature, entropy, summary, raw, nonWordShare: report.nonWordShare, stockShare: report.stockShare });
      if (report.quality >= prep.resampleBelow || summary.stopReason === "cancelled") break;
      temperature = nextTemperature(temperature, report, prep.band, entropy, qc);
    }
    return out;
  }

  /** The prompt, and the recall bias from the user's recalled lines that made it in. */
  private async gatherContext(user: Message, prep: TurnPreparation, budget: number): Promise<{ context: AssembledContext; recall: RecallCopy }> {
    const { memory, leo, config } = this.options;
    const recent = memory.messages.recent(config.recentMessages, user.id);
    const near = recent.slice(0, RECALL_DISTANCE);
    // the rarest words of the prompt find the most specific memories (weighted by inverse frequency)
    const observations = leo.field.observations();
    const terms = [...contentWords(user.text)]
      .map((word) => ({ word, count: leo.field.wordCount(word) }))
      .sort((a, b) => a.count - b.count || a.word.localeCompare(b.word))
      .slice(0, config.memoryQueryWords)
      .map(({ word, count }) => ({ word, weight: Math.log(1 + observations / (1 + count)) }));
    // what the user said is the memory that bears on the message: facts, names, plans, each with
    // her answer to it; when there is such a memory, only the last RECALL_DISTANCE messages come
    // between it and the message, as in the memory dialogues the kernel learns from
    const hits = memory.messages
      .search(terms, config.memoryHits, near.at(-1)?.id ?? user.id)
      .map(({ message, next }) => ({ message, reply: replyTo(message, next) }));
    const shown = hits.length > 0 ? near : recent;
    const inContext = new Set([...shown, ...hits.flatMap((h) => (h.reply ? [h.message, h.reply] : [h.message]))].map((m) => m.id));
    const recalled = prep.recalled.map((r) => r.snapshot).filter((s) => s.messageId === null || !inContext.has(s.messageId));
    const context = await assembleContext(
      { persona: this.persona(), userText: user.text, recent: shown, hits, recalled },
      this.profile.template,
      budget,
      this.counter,
      (text, opts) => this.options.model.tokenize(text, opts),
    );
    const prompted = new Set(context.included.memory);
    const recall = await leo.recall(user.text, hits.filter((h) => prompted.has(h.message.id)).map((h) => h.message.text));
    return { context, recall };
  }

  /** The system line at the top of every prompt (and of the echo ring). */
  private persona(): string {
    return this.options.config.persona ?? this.profile.template.default_system ?? DEFAULT_PERSONA;
  }

  private async generate(
    ids: number[],
    temperature: number,
    seed: number,
    maxTokens: number,
    prep: TurnPreparation,
    recall: RecallCopy,
    candidate: number,
    opts: TurnOptions,
    stream: ReplyStream,
  ): Promise<{ raw: string; entropies: number[]; summary: GenerationSummary }> {
    const g = { ...this.options.config.generation, ...definedOnly(opts.sampling ?? {}) };
    const generation = this.options.model.generate(
      ids,
      {
        temperature,
        topP: g.topP,
        topK: g.topK,
        repeatPenalty: g.repeatPenalty,
        repeatWindow: g.repeatWindow,
        seed,
        maxTokens,
        stop: [...replyStops(this.profile.template), ...[opts.sampling?.stop ?? []].flat()],
        bias: prep.bias,
        ...(recall.sequences.length > 0 && {
          copy: { sequences: recall.sequences, weight: recall.weight, continueWeight: recall.continueWeight },
        }),
      },
      opts.signal,
    );
    let raw = "";
    const entropies: number[] = [];
    for await (const token of generation) {
      raw += token.text;
      entropies.push(token.entropy);
      if (!token.text) continue;
      opts.onToken?.(token.text, candidate);
      if (candidate === 0) stream.draft(raw);
    }
    return { raw, entropies, summary: await generation.result };
  }

  /** A ring's seed as token ids, keeping its end when it would not leave the ring room to grow. */
  private async ringPrompt(seedText: string, maxTokens: number): Promise<number[]> {
    const ids = await this.options.model.tokenize(seedText, { bos: true });
    const room = this.requireInfo().seqLen - maxTokens;
    return ids.length <= room ? ids : [ids[0], ...ids.slice(ids.length - (room - 1))];
  }

  /** After the answer: leo's bins and maintenance, a quiet pause, then up to three rings. */
  private startIdleWork(prompt: string, reply: Message, seed: number): void {
    const abort = (this.idleAbort = new AbortController());
    const { leo, model } = this.options;
    this.idleWork = (async () => {
      await sleep(0, abort.signal); // let the answer reach the caller first
      // the turn's texts join the field and the full-text index takes a bounded merge step
      // (migration 006: searches stay at a few segments) in one durable commit; the merge
      // committed on its own was a second fsync after every turn
      this.commit(() => {
        leo.settle();
        this.memory.messages.mergeIndex();
      });
      await leo.afterTurn();
      if (this.options.overthink === false) return;
      await sleep(leo.config.overthinking.idleDelayMs, abort.signal);
      const plans = leo.planRings(prompt, reply.text, this.persona());
      for (const [i, plan] of plans.entries()) {
        if (abort.signal.aborted) return;
        const generation = model.generate(
          await this.ringPrompt(plan.seed, plan.maxTokens),
          {
            temperature: plan.temperature, maxTokens: plan.maxTokens, minTokens: plan.minTokens,
            seed: seed + 101 + i, stop: this.profile.template.stop,
          },
          abort.signal,
        );
        let text = "";
        for await (const token of generation) {
          if (abort.signal.aborted) break; // leaving the loop cancels the generation
          text += token.text;
        }
        const summary = await generation.result;
        if (summary.stopReason === "cancelled" || abort.signal.aborted) return;
        leo.storeRing(reply.id, plan, text.trim());
      }
    })().catch((error) => {
      // idle work must never break the conversation; the next turn starts clean
      console.error("leo idle work failed:", error);
    });
  }
}
