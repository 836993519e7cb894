/**
 * leo — the resonance layer around every reply (see the leo spec).
 *
 * The orchestrator drives it in turn order:
 *   prepare(prompt)                 before generation: presence so far, themes, recall, bias
 *   observe(prompt)                 with the user message's commit
 *   assess(raw, prompt, entropies)  per candidate: trimmed text + quality
 *   commitTurn(...)                 inside the reply's transaction: field, trauma, themes, snapshots, bins
 *   afterTurn()                     after the answer: bins for persistent themes, periodic maintenance
 *   planRings / storeRing           overthinking in idle time
 */
import type { Database } from "bun:sqlite";
import { systemClock, type Clock } from "../config/clock.ts";
import { LEO, type LeoConfig } from "../config/leo.ts";
import type { ChatTemplate } from "../config/model-profile.ts";
import { binEntries, Bins, type BinRecord, type LogitBias, type ScaledBin } from "./bins.ts";
import { Field } from "./field.ts";
import { externalVocabularyRatio, highlights, type Highlight } from "./highlights.ts";
import { planRings, Rings, type RingKind, type RingPlan } from "./overthinking.ts";
import { arousal, meanEntropy, novelty, presence, type Presence } from "./presence.ts";
import { assessReply, type QualityReport } from "./quality.ts";
import { Snapshots, type Recalled, type Snapshot } from "./snapshots.ts";
import { LeoState } from "./state.ts";
import { Themes, type ActiveTheme, type ThemeFlow } from "./themes.ts";
import { contentWords, fieldTokens, isContentWord } from "./tokens.ts";
import { Trauma, type TraumaEvent, type TraumaReading, type TraumaScore } from "./trauma.ts";
import { roleMarkers, trimReply, type RoleMarkers } from "./trim.ts";

export { decodeBin, encodeBin, IABN_MAGIC, type BinData } from "./bin-file.ts";
export { decayLevel, type BinRecord, type LogitBias } from "./bins.ts";
export { type Highlight, type HighlightKind } from "./highlights.ts";
export { type Ring, type RingKind, type RingPlan } from "./overthinking.ts";
export { type Presence } from "./presence.ts";
export { type QualityReport, nextTemperature } from "./quality.ts";
export { type Snapshot } from "./snapshots.ts";
export { type ActiveTheme, type Theme, type ThemeFlow } from "./themes.ts";
export { roleMarkers, trimReply, type RoleMarkers } from "./trim.ts";
export { fieldTokens, contentWords } from "./tokens.ts";

const TURNS = "leo.turns";

/** What leo needs from the loaded kernel. */
export interface Kernel {
  name: string;
  origin: string;
  vocabSize: number;
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
  private kernel?: Kernel;
  private markers?: RoleMarkers;
  private maintenanceDue = false;
  private readonly clock: Clock;

  constructor(private readonly options: LeoOptions) {
    const { db, home } = options;
    const clock = (this.clock = options.clock ?? systemClock);
    this.config = options.config ?? LEO;
    this.state = new LeoState(db);
    this.field = new Field(db, this.state, this.config.field, clock);
    this.trauma = new Trauma(db, this.state, this.config.trauma, clock);
    this.themes = new Themes(db, this.field, this.config.themes, clock);
    this.bins = new Bins(db, home, this.config.bins, clock);
    this.snapshots = new Snapshots(db, this.config.snapshots, clock);
    this.rings = new Rings(db, clock);
    // the spec rebuilds themes at start-up; bins catch up on the days that passed while off
    this.themes.rebuild();
    this.bins.maintain();
  }

  /**
   * Adopt a (new) kernel: its origin feeds trauma and the origin bin; theme bins
   * built for another vocabulary are rebuilt (theme still alive) or retired.
   */
  async useKernel(kernel: Kernel, template: ChatTemplate): Promise<void> {
    this.kernel = kernel;
    this.markers = roleMarkers(template);
    this.trauma.setOrigin(kernel.origin, kernel.name);
    const counts = new Map<string, number>();
    for (const word of fieldTokens(kernel.origin).filter(isContentWord)) counts.set(word, (counts.get(word) ?? 0) + 1);
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

  observe(text: string): void {
    this.field.observe(text);
  }

  /** A raw reply as leo cleans it (also applied to a draft while it is written). */
  trim(raw: string, prompt: string): string {
    if (!this.markers) throw new Error("leo: no kernel yet (call useKernel first)");
    return trimReply(raw, prompt, this.markers, this.config.trimming);
  }

  /** Trim a raw candidate and score it against the field as it stands. */
  assess(raw: string, prompt: string, entropies: readonly number[]): Assessment {
    const text = this.trim(raw, prompt);
    const entropy = meanEntropy(entropies, this.config.presence);
    const share = this.field.knownTrigramShare(fieldTokens(text));
    return { text, entropy, report: assessReply(text, prompt, entropy, share, this.config.quality) };
  }

  /** Call inside the transaction that stores the reply. */
  commitTurn(prep: TurnPreparation, reply: { messageId: number; text: string; entropy: number; quality: number }): TurnOutcome {
    this.field.observe(reply.text);
    const p = presence(prep.novelty, prep.arousal, reply.entropy, this.config.presence);
    const score = this.trauma.score(prep.prompt, reply.text, p);
    const event = this.trauma.record(score, reply.messageId);
    const reading = this.trauma.reading();
    this.themes.recordTurn(prep.activeThemes, reply.messageId);
    const activeIds = prep.activeThemes.map((t) => t.theme.id);
    const snapshot = this.snapshots.consider(reply.messageId, reply.text, prep.arousal, reply.quality, activeIds);
    this.snapshots.bumpUses(prep.recalled.map((r) => r.snapshot.id));
    this.bins.markUsed(prep.binsUsed);
    const turns = this.state.increment(TURNS, this.clock());
    if (turns % this.config.themes.rebuildEveryTurns === 0) this.maintenanceDue = true;
    const themeWords = new Set(prep.activeThemes.flatMap((t) => t.theme.words));
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
    this.field.dropCache();
    this.snapshots.reload();
    this.themes.reload();
    this.bins.reload();
  }

  /**
   * After the answer is out: give persistent themes their bins (or refresh
   * them when the theme changed), and every `rebuildEveryTurns` turns rebuild
   * the islands; bins' decay is refreshed every turn.
   */
  async afterTurn(): Promise<void> {
    if (this.maintenanceDue) {
      this.maintenanceDue = false;
      this.themes.rebuild();
    }
    this.bins.maintain();
    for (const theme of this.themes.all()) {
      if (theme.activeStreak < this.config.bins.activeTurnsForBin) continue;
      const bin = this.bins.forTheme(theme.id);
      if (!bin || bin.words.join(" ") !== theme.words.join(" ")) await this.writeThemeBin(theme.id);
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

  planRings(prompt: string, reply: string): RingPlan[] {
    return planRings(prompt, reply, this.trauma.level(), this.kernel?.origin ?? "", this.config);
  }

  /** A finished ring: kept with its turn and observed into the field. */
  storeRing(messageId: number, kind: RingKind, text: string): void {
    this.options.db.transaction(() => {
      this.rings.store(messageId, kind, text);
      this.field.observe(text);
    }).immediate();
  }
}
