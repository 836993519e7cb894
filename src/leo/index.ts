/**
 * leo — the resonance layer around every reply (docs/leo.md).
 *
 * The orchestrator drives it in turn order:
 *   settle()                        before a turn: texts a failed turn left join the field
 *   prepare(prompt)                 before generation: presence so far, themes, recall, bias
 *   observe(message)                with the user message's commit: its word counts, n-grams later
 *   assess(raw, prompt, entropies)  per candidate: trimmed text + quality
 *   commitTurn(...)                 inside the reply's transaction: trauma, themes, snapshots, band
 *   settle()                        after the answer, in the idle work's first commit: the turn's
 *                                   texts join the field
 *   afterTurn()                     then: theme rebuilds, bins for recurring themes, decay
 *   planRings / storeRing           overthinking in idle time
 */
import type { Database } from "bun:sqlite";
import { systemClock, type Clock } from "../config/clock.ts";
import { LEO, type LeoConfig } from "../config/leo.ts";
import type { ChatTemplate } from "../config/model-profile.ts";
import { BoundedMap } from "../shared/bounded-map.ts";
import { binEntries, Bins, type BinRecord, type LogitBias, type ScaledBin } from "./bins.ts";
import { Field, type StoredText } from "./field.ts";
import { externalVocabularyRatio, highlights, type Highlight } from "./highlights.ts";
import { EntropyBand, QualityBand, readKernelRecord, StockPhrases } from "./kernel-record.ts";
import { planRings, Rings, type RingPlan } from "./overthinking.ts";
import { arousal, meanEntropy, novelty, presence, type Presence } from "./presence.ts";
import { assessReply, type QualityReport } from "./quality.ts";
import { recallCopy, recallWords, type RecallCopy } from "./recall.ts";
import { Snapshots, type Recalled, type Snapshot } from "./snapshots.ts";
import { LeoState } from "./state.ts";
import { rebuildDue, Themes, type ActiveTheme, type ThemeFlow } from "./themes.ts";
import { contentWords, fieldTokens, words } from "./tokens.ts";
import { displayName, Trauma, type TraumaEvent, type TraumaReading, type TraumaScore } from "./trauma.ts";
import { roleMarkers, trimReply, type RoleMarkers } from "./trim.ts";

export { decodeBin, encodeBin, IABN_MAGIC, type BinData } from "./bin-file.ts";
export { decayLevel, type BinRecord, type LogitBias } from "./bins.ts";
export { type Highlight, type HighlightKind } from "./highlights.ts";
export { type Ring, type RingKind, type RingPlan } from "./overthinking.ts";
export { type Presence } from "./presence.ts";
export { type QualityReport, nextTemperature } from "./quality.ts";
export { type RecallCopy } from "./recall.ts";
export { type Snapshot } from "./snapshots.ts";
export { type ActiveTheme, type Theme, type ThemeFlow } from "./themes.ts";
export { displayName } from "./trauma.ts";
export { roleMarkers, trimReply, type RoleMarkers } from "./trim.ts";
export { fieldTokens, contentWords } from "./tokens.ts";

const TURNS = "leo.turns";
/** token-piece counts of words, for the non-word test (a word's pieces never change for a kernel) */
const PIECE_CACHE = 4096;

/** What leo needs from the loaded kernel. */
export interface Kernel {
  name: string;
  /** the name it is addressed by (manifest display_name; default: name up to its first "-") */
  displayName?: string;
  origin: string;
  /** words of the origin too common to count as a pull to it (manifest origin_generic) */
  originGeneric?: readonly string[];
  vocabSize: number;
  /** sha256 of model.bin: the entropy band and the stock phrases are per kernel */
  sha256: string;
  /** the model's own tokenizer (no BOS/EOS needed; ids below 3 are ignored) */
  tokenize(text: string): Promise<number[]>;
}

export interface TurnPreparation {
  prompt: string;
  novelty: number;
  arousal: number;
  activeThemes: ActiveTheme[];
  recalled: Recalled[];
  bias: LogitBias;
  binsUsed: number[];
  traumaLevel: number;
  /** multiply the sampling temperature by this (trauma cools it) */
  temperatureFactor: number;
  /** the kernel's entropy band for this turn's quality */
  band: [number, number];
  /** a candidate below this quality is re-sampled (the kernel's quality band, §6.2) */
  resampleBelow: number;
}

export interface Assessment {
  text: string;
  entropy: number;
  report: QualityReport;
}

export interface TurnOutcome {
  presence: Presence;
  trauma: TraumaScore & TraumaReading & { event?: TraumaEvent };
  externalRatio: number;
  highlights: Highlight[];
  snapshot?: Snapshot;
  themes: ThemeFlow[];
}

export interface LeoOptions {
  db: Database;
  /** ARIANNA_HOME (bins/ lives there) */
  home: string;
  clock?: Clock;
  config?: LeoConfig;
}

export class Leo {
  readonly config: LeoConfig;
  readonly state: LeoState;
  readonly field: Field;
  readonly trauma: Trauma;
  readonly themes: Themes;
  readonly bins: Bins;
  readonly snapshots: Snapshots;
  readonly rings: Rings;
  readonly band: EntropyBand;
  readonly stock: StockPhrases;
  readonly qualityBand: QualityBand;
  private kernel?: Kernel;
  private template?: ChatTemplate;
  private markers?: RoleMarkers;
  private readonly pieces = new BoundedMap<string, number>(PIECE_CACHE);
  private rebuildPending = false;
  private readonly clock: Clock;

  constructor(private readonly options: LeoOptions) {
    const { db, home } = options;
    const clock = (this.clock = options.clock ?? systemClock);
    this.config = options.config ?? LEO;
    this.state = new LeoState(db);
    this.field = new Field(db, this.state, this.config.field, clock);
    this.trauma = new Trauma(db, this.state, this.config.trauma, clock);
    this.themes = new Themes(db, this.field, this.config.themes, clock, this.config.bins.activeWindowTurns);
    this.bins = new Bins(db, home, this.config.bins, clock);
    this.snapshots = new Snapshots(db, this.config.snapshots, clock);
    this.rings = new Rings(db, clock);
    this.band = new EntropyBand(this.config.entropyBand, this.config.presence.entropyBeforeGeneration);
    this.stock = new StockPhrases(this.config.quality);
    this.qualityBand = new QualityBand(this.config.entropyBand, this.config.quality, this.config.snapshots);
    // messages a kill left unobserved join the field; themes are rebuilt at start-up; bins
    // catch up on the days that passed while off
    this.field.reload();
    this.field.settle();
    this.themes.rebuild();
    this.bins.maintain();
  }

  /**
   * Adopt a (new) kernel: its origin feeds trauma and the origin bin, its
   * recent replies the entropy band and the stock phrases; theme bins built
   * for another vocabulary are rebuilt (theme still alive) or retired.
   */
  async useKernel(kernel: Kernel, template: ChatTemplate): Promise<void> {
    this.kernel = kernel;
    this.template = template;
    this.markers = roleMarkers(template);
    this.pieces.clear();
    this.trauma.setOrigin(kernel.origin, displayName(kernel.name, kernel.displayName), kernel.originGeneric);
    const record = readKernelRecord(this.options.db, kernel.sha256, Math.max(this.config.entropyBand.replies, this.config.quality.stockReplies));
    this.band.load(record.entropies);
    this.qualityBand.load(record.firstQualities);
    this.stock.load(record.texts);
    // the origin bin pulls towards B, the origin's telling words (the generic ones would pull towards any talk)
    const counts = new Map<string, number>();
    for (const word of fieldTokens(kernel.origin)) if (this.trauma.origin.has(word)) counts.set(word, (counts.get(word) ?? 0) + 1);
    const top = Math.max(1, ...counts.values());
    const originWords = [...counts.keys()];
    const entries = await binEntries(originWords, originWords.map((w) => counts.get(w)! / top), kernel.tokenize);
    this.bins.write(null, "origin", originWords, kernel.vocabSize, entries);
    for (const bin of this.bins.live()) {
      if (bin.themeId === null || bin.vocabSize === kernel.vocabSize) continue;
      const theme = this.themes.get(bin.themeId);
      if (theme) await this.writeThemeBin(theme.id);
      else this.bins.retire(bin);
    }
  }

  /** Everything decided before generation. Reads only: novelty is measured before the prompt joins the field. */
  prepare(prompt: string): TurnPreparation {
    const promptWords = contentWords(prompt);
    const activeThemes = this.themes.activate(promptWords);
    const traumaLevel = this.trauma.level();
    const scaled: ScaledBin[] = [];
    for (const { theme } of activeThemes) {
      const bin = this.bins.forTheme(theme.id);
      if (bin) scaled.push({ bin, scale: this.bins.themeScale(bin) });
    }
    const origin = this.bins.origin();
    if (origin && traumaLevel > 0) scaled.push({ bin: origin, scale: this.config.bins.beta * traumaLevel });
    const usable = scaled.filter(({ bin }) => this.binReadable(bin));
    const a = arousal(prompt, this.config.presence);
    return {
      prompt,
      novelty: novelty(this.field, prompt, this.config.presence),
      arousal: a,
      activeThemes,
      recalled: this.snapshots.recall(prompt, a, new Set(activeThemes.map((t) => t.theme.id))),
      bias: this.bins.bias(usable),
      binsUsed: usable.map(({ bin }) => bin.id),
      traumaLevel,
      temperatureFactor: this.trauma.temperatureFactor(traumaLevel),
      band: this.band.band(),
      resampleBelow: this.qualityBand.resampleBelow(),
    };
  }

  /** A bin whose file is gone or damaged is retired rather than failing the turn. */
  private binReadable(bin: BinRecord): boolean {
    try {
      this.bins.data(bin);
      return true;
    } catch {
      this.bins.retire(bin);
      return false;
    }
  }

  /** The recall bias (recall.ts) for a reply to `prompt`, from the user's recalled lines, best first. */
  async recall(prompt: string, recalled: readonly string[]): Promise<RecallCopy> {
    if (!this.kernel) throw new Error("leo: no kernel yet (call useKernel first)");
    return recallCopy(
      recallWords(prompt, recalled, (word) => this.field.spokenCount(word), this.config.recall),
      this.config.recall,
      this.kernel.tokenize,
    );
  }

  /**
   * A stored user message joins the field (its words count as spoken): its word
   * counts at once, its n-grams when the field settles (after the reply).
   */
  observe(message: StoredText): void {
    this.field.enqueue(message);
  }

  /** The enqueued messages join the field's n-grams (a no-op when there are none). */
  settle(): void {
    this.field.settle();
  }

  /** A raw reply as leo cleans it (also applied to a draft while it is written). */
  trim(raw: string, prompt: string): string {
    if (!this.markers) throw new Error("leo: no kernel yet (call useKernel first)");
    return trimReply(raw, prompt, this.markers, this.config.trimming);
  }

  /**
   * Share of the text's words that are non-words: at least `nonWordLetters`
   * letters, never spoken in this field, and split by the kernel's tokenizer
   * into `nonWordPieces` or more pieces ("photood", "otherstmm").
   */
  async nonWordShare(text: string): Promise<number> {
    const all = words(text);
    if (all.length === 0 || !this.kernel) return 0;
    const c = this.config.quality;
    const long = all.filter((word) => (word.match(/\p{L}/gu)?.length ?? 0) >= c.nonWordLetters);
    this.field.readCounts(long);
    let nonWords = 0;
    for (const word of long) {
      if (this.field.spokenCount(word) > 0) continue;
      let n = this.pieces.get(word);
      if (n === undefined) this.pieces.set(word, (n = (await this.kernel.tokenize(word)).length));
      if (n >= c.nonWordPieces) nonWords++;
    }
    return nonWords / all.length;
  }

  /** Trim a raw candidate and score it against the field, the kernel's band and its stock phrases. */
  async assess(raw: string, prep: TurnPreparation, entropies: readonly number[]): Promise<Assessment> {
    const text = this.trim(raw, prep.prompt);
    const entropy = meanEntropy(entropies, this.band.median());
    const report = assessReply(
      text,
      prep.prompt,
      {
        entropy,
        band: prep.band,
        themeWords: new Set(prep.activeThemes.flatMap((t) => t.theme.words)),
        nonWordShare: await this.nonWordShare(text),
        stockShare: this.stock.share(fieldTokens(text)),
      },
      this.config.quality,
    );
    return { text, entropy, report };
  }

  /** Call inside the transaction that stores the reply (the reply joins the field when it settles, after the answer). */
  commitTurn(
    prep: TurnPreparation,
    reply: { messageId: number; text: string; entropy: number; quality: number; firstQuality: number; nonWordShare: number },
  ): TurnOutcome {
    this.field.enqueue({ id: reply.messageId, text: reply.text });
    const p = presence(prep.novelty, prep.arousal, reply.entropy, this.config.presence);
    const score = this.trauma.score(prep.prompt, prep.arousal);
    const { event } = this.trauma.record(score, reply.messageId);
    const reading = this.trauma.reading();
    this.themes.recordTurn(prep.activeThemes, reply.messageId);
    const activeIds = prep.activeThemes.map((t) => t.theme.id);
    const themeWords = new Set(prep.activeThemes.flatMap((t) => t.theme.words));
    const subject = new Set([...contentWords(prep.prompt), ...themeWords]);
    const snapshot = this.snapshots.consider(reply.messageId, reply.text, { ...reply, arousal: prep.arousal }, activeIds, {
      from: this.qualityBand.snapshotFrom(),
      subject,
    });
    this.snapshots.bumpUses(prep.recalled.map((r) => r.snapshot.id));
    this.bins.markUsed(prep.binsUsed);
    this.band.record(reply.entropy);
    this.qualityBand.record(reply.firstQuality);
    this.stock.record(reply.text);
    const turns = this.state.increment(TURNS, this.clock());
    if (rebuildDue(turns, this.config.themes)) this.rebuildPending = true;
    return {
      presence: p,
      trauma: { ...score, ...reading, event },
      externalRatio: externalVocabularyRatio(reply.text, prep.prompt, this.config.externalVocabulary),
      highlights: highlights(reply.text, new Set(reading.woundedWords), themeWords),
      snapshot,
      themes: activeIds.map((id) => this.themes.flowOf(id)),
    };
  }

  /** After a rolled-back turn: drop in-memory state that may be ahead of SQLite. */
  recover(): void {
    this.field.reload();
    this.trauma.reload();
    this.snapshots.reload();
    this.themes.reload();
    this.bins.reload();
    if (this.kernel) {
      const record = readKernelRecord(this.options.db, this.kernel.sha256, Math.max(this.config.entropyBand.replies, this.config.quality.stockReplies));
      this.band.load(record.entropies);
      this.qualityBand.load(record.firstQualities);
      this.stock.load(record.texts);
    }
  }

  /**
   * After the answer is out: the turn's messages settle into the field (when
   * the caller has not settled them yet), the islands are rebuilt when due, themes active on enough of the last turns get
   * their bins (refreshing a bin whose theme changed), and the bins' decay is
   * refreshed.
   */
  async afterTurn(): Promise<void> {
    this.field.settle();
    if (this.rebuildPending) {
      this.rebuildPending = false;
      this.themes.rebuild();
    }
    this.bins.maintain();
    const { activeTurnsForBin, activeWindowTurns } = this.config.bins;
    // each theme's bin from one map, not a search of the live bins per theme (~26 live themes at
    // 100k messages: afterTurn 2.61-2.70 -> 2.49-2.52 ms of CPU); a bin written in this loop is its
    // own theme's, which the loop has passed
    const binOf = new Map<number, BinRecord>();
    for (const bin of this.bins.live()) if (bin.themeId !== null && !binOf.has(bin.themeId)) binOf.set(bin.themeId, bin);
    for (const theme of this.themes.all()) {
      const bin = binOf.get(theme.id);
      const recurring = this.themes.activeTurns(theme.id, activeWindowTurns) >= activeTurnsForBin;
      const changed = bin && bin.words.join(" ") !== theme.words.join(" ");
      if ((!bin && recurring) || changed) await this.writeThemeBin(theme.id);
    }
  }

  private async writeThemeBin(themeId: number): Promise<void> {
    const theme = this.themes.get(themeId);
    if (!theme || !this.kernel) return;
    const entries = await binEntries(theme.words, theme.weights, this.kernel.tokenize);
    this.bins.write(theme.id, theme.words.slice(0, 3).join(" · "), theme.words, this.kernel.vocabSize, entries);
  }

  /** Episode titles come from a theme's most central words. */
  themeTitle(themeId: number): string | undefined {
    return this.themes.wordsOf(themeId)?.slice(0, 3).join(" · ");
  }

  /** The rings after a reply, in the kernel's chat format (`system`: the persona line of the prompt). */
  planRings(prompt: string, reply: string, system: string): RingPlan[] {
    if (!this.template) throw new Error("leo: no kernel yet (call useKernel first)");
    return planRings({ prompt, reply, system }, this.trauma.level(), this.kernel?.origin ?? "", this.template, this.config);
  }

  /** A finished ring: kept with its turn (an empty one counted) and observed into the field as unspoken words. */
  storeRing(messageId: number, plan: Pick<RingPlan, "kind" | "knownWordsOnly">, text: string): void {
    try {
      this.options.db.transaction(() => {
        this.rings.store(messageId, plan.kind, text);
        this.field.observe(text, { spoken: false, knownOnly: plan.knownWordsOnly });
      }).immediate();
    } catch (error) {
      this.field.reload(); // its cached ids and counts may be ahead of what rolled back
      throw error;
    }
  }
}
