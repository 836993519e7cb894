/**
 * leo.ts — every tunable number of the leo layer (docs/leo.md explains each), in one place.
 *
 * Tests pin behaviours, not these constants; pass a partial override to the
 * leo modules (`withLeoOverrides`) to tune one without touching the rest.
 */

import { DAY_MS } from "./clock.ts";

export const LEO = {
  field: {
    /** co-occurrence reaches this many positions either side */
    coocWindow: 5,
    /**
     * co-occurrence is counted among a text's first this many tokens: a typed message or a reply
     * stays far below it, while a pasted 64 KB text made 52 % of what it added to the database
     * in pairs that die at the next forgetting (tools/reliability/long-message.ts)
     */
    coocTokens: 1000,
    /** a pair involving a word the field has never seen starts here instead of at 1 */
    newPairStart: 2,
    /** co-occurrence decays once per this many observations */
    forgetEvery: 100,
    /** decay factors by count band; results are truncated to integers */
    forgetBands: [
      { below: 5, factor: 0.9 },
      { below: 50, factor: 0.95 },
      { below: Number.POSITIVE_INFINITY, factor: 0.998 },
    ],
    /** word → id entries kept in RAM (the field itself stays in SQLite) */
    wordCacheSize: 50_000,
  },
  presence: {
    /** trigram novelty for prompts with fewer than `noveltyMinTokens` field tokens */
    noveltyShortPrompt: 0.5,
    noveltyMinTokens: 3,
    /** a prompt word counts as known once it was spoken this often */
    knownAfterSpoken: 2,
    /**
     * novelty mixes trigram and word novelty; trigrams weigh a third because on a
     * young field nearly every triple is new (calibration: trigram novelty 0.95 ± 0.075)
     */
    noveltyWeights: { trigram: 1 / 3, word: 2 / 3 },
    /** word novelty of a prompt without content words */
    noveltyNoWords: 0.5,
    arousal: {
      uppercaseWeight: 2,
      uppercaseCap: 0.4,
      punctuationStep: 0.1,
      punctuationCap: 0.3,
      intenseStep: 0.1,
      intenseCap: 0.3,
    },
    /** entropy assumed before a kernel has a running median */
    entropyBeforeGeneration: 0.5,
    pulse: { novelty: 0.3, arousal: 0.4, entropy: 0.3 },
  },
  entropyBand: {
    /** the band is the 10th..90th percentile of E over this kernel's last `replies` replies */
    replies: 200,
    percentiles: [0.1, 0.9] as const,
    /** until the kernel has this many replies, the band is `initial` */
    minReplies: 20,
    initial: [0.2, 0.6] as const,
  },
  trauma: {
    overlapWeight: 2,
    /** overlap = shared words ÷ max(this, prompt content words): a two-word prompt cannot read as a full pull */
    overlapMinWords: 4,
    arousal: 0.4,
    identityBonus: 0.4,
    eventThreshold: 0.3,
    /** the level mixes the turn's score with the mean of this many last turn scores (the turn's own included) */
    levelHistory: 10,
    halfLifeMs: DAY_MS,
    /** above this level sampling cools down, linearly up to `maxTemperatureDrop` at level 1 */
    coolingAbove: 0.3,
    maxTemperatureDrop: 0.3,
    woundedAbove: 0.7,
    woundedWords: 10,
    /** the drift ring's seed gets an origin sentence above this level */
    driftOriginAbove: 0.5,
    /** origin words too common to tell a pull to the origin from ordinary talk (a manifest's `origin_generic` adds more) */
    genericWords: [
      "like", "one", "every", "way", "back", "come", "still", "last", "give", "keeps", "everything", "day", "time",
      "morning", "night", "little", "small", "never",
      "как", "один", "одна", "одно", "каждый", "каждая", "каждое", "путь", "назад", "приходить", "прийти", "всё", "ещё",
      "последний", "давать", "дать", "день", "время", "утро", "утром", "ночь", "ночью", "маленький", "маленькая",
      "немного", "никогда",
    ],
  },
  themes: {
    /** a candidate word was spoken (outside rings) at least this often */
    minSpoken: 3,
    minNeighbours: 5,
    minCooccurrence: 10,
    neighbourhood: 16,
    /** calibration: at 0.2 each topic split into 2–4 themes (36 in 64 turns); at 0.1 one each (15) */
    mergeJaccard: 0.1,
    /** rebuilt after these turns, then every `rebuildEveryTurns`, and at start-up */
    rebuildAtTurns: [5, 10, 20],
    rebuildEveryTurns: 20,
    maxActive: 3,
    /** a prompt activates a theme sharing this many content words with it… */
    activationShared: 2,
    /** …or one, when the prompt has fewer content words than this */
    fewWords: 4,
    /** the trend is the strength slope over the last this-many replies… */
    trendReplies: 20,
    /** …per this many replies */
    trendPer: 10,
    emergingSlope: 0.1,
    fadingSlope: -0.1,
    /** strongest candidates considered per rebuild (keeps a rebuild bounded on a Pi) */
    maxCandidates: 400,
    /** a rebuilt island keeps an old theme's id when this share of the smaller one's words is shared */
    identityOverlap: 0.5,
  },
  overthinking: {
    rings: [
      { kind: "echo" as const, temperature: 0.8, maxTokens: 30 },
      { kind: "drift" as const, temperature: 1.0, maxTokens: 40 },
      { kind: "meta" as const, temperature: 1.2, maxTokens: 20 },
    ],
    /** end-of-text and the stop strings cannot end a ring this early */
    minTokens: 3,
    /** quiet time after a reply before the first ring starts */
    idleDelayMs: 250,
  },
  bins: {
    /** a theme active on this many of the last `activeWindowTurns` turns gets a bin */
    activeTurnsForBin: 3,
    activeWindowTurns: 10,
    /**
     * logits added at full weight. Calibration (bundled kernel, bin on/off, same seeds): at 2.5 the
     * topic's words came in 1 reply of 36 with a bin and 0 without; at 4 (first pieces) in 7 of 36 and 0
     */
    beta: 4,
    halfLifeDays: 7,
    retireAt: 0.95,
    /** the stored decay_level is rewritten only when it moved this much (spares the SD card) */
    decayWriteStep: 0.01,
    /** parsed bin files kept in RAM (the rest are read again when used) */
    cachedFiles: 64,
  },
  recall: {
    /** only a question is answered from a recalled line (a statement tells; copying into it parroted) */
    questionsOnly: true,
    /** a recalled user line is copied from when it shares this many content words with the message */
    minShared: 1,
    /** a word spoken more often than this (user and replies) is the talk's, not a fact told once */
    maxSpoken: 2,
    /**
     * a recalled line is read up to here: a fact is told in a sentence, and a pasted 64 KB page as a
     * hit took 67 ms to read whole, 0.4 ms cut here (this 2-core VM, busy; a Pi is slower)
     */
    lineChars: 4000,
    /** recalled words boosted per reply, at most (2 reached the same 4/5 as 4, and a stray recall pushes less) */
    maxWords: 2,
    /**
     * logits added to a recalled word's first token until the reply has written the word. Memory probe,
     * bundled kernel, seeds 1–6, facts 5: β 4 → 2.5 of 5, 5 → 3.7, 6 → 4.0 (every seed 4), 8 → 4.2
     */
    beta: 6,
    /** logits added to its next token right after its prefix (at 8 instead of 12, with β 6: 3.5 of 5) */
    continueBeta: 12,
  },
  quality: {
    resampleBelow: 0.45,
    /**
     * …and below this quantile of the kernel's own first candidates' quality (its quality band, over the
     * entropy band's window). Calibration: the fixed 0.45 re-sampled 31 % of turns on the 5.9M kernel and
     * 53 % on the 1.6M one, whose tokenizer splits real words ("kitchen", "balcony") into 3 pieces, so its
     * single-non-word replies (×0.4) were mostly ordinary. At 0.4 (the target's 40 % ceiling) the rate sat
     * at the ceiling once the recall bias landed (1.6M 36–39 %, 5.9M 27–39 %, quick and full runs): a new
     * kernel's first 20 replies are judged by 0.45 alone (8 of 20 re-sampled on the 1.6M). At 0.3: 34 % and 30 %
     */
    resampleQuantile: 0.3,
    extraCandidates: 2,
    temperatureStep: 0.2,
    minTemperature: 0.1,
    fewWords: 3,
    fewWordsFactor: 0.4,
    manyWords: 100,
    manyWordsFactor: 0.7,
    uniqueLow: 0.4,
    uniqueLowFactor: 0.5,
    uniqueMid: 0.6,
    uniqueMidFactor: 0.8,
    echoFactor: 0.4,
    /** content-word Jaccard with the prompt and the active themes' words */
    relevanceLow: 0.05,
    relevanceFactor: 0.8,
    /** a non-word: this many letters or more, never spoken, split by the kernel's tokenizer into `nonWordPieces`+ pieces */
    nonWordLetters: 4,
    nonWordPieces: 3,
    /** one invented word is already what a reader notices (calibration: "> 5 %" re-sampled 8 % of turns) */
    nonWordShares: [
      { above: 0.15, factor: 0.2 },
      { above: 0, factor: 0.4 },
    ],
    /** a stock phrase: a trigram in at least `stockShare` of this kernel's last `stockReplies` replies (and in 2 of them) */
    stockReplies: 100,
    stockShare: 0.2,
    stockAbove: 0.3,
    stockFactor: 0.7,
    /** entropy quality falls linearly from 1 at the band's edge to 0 this far beyond it */
    entropyFalloff: 0.3,
  },
  trimming: {
    echoWindow: 4,
    maxRepeatedMarks: 3,
    /** a line-initial `Word:` this close (edit distance) to a role name is a leaked, misspelt marker… */
    roleEditDistance: 2,
    /** …and at most one edit per this many letters of the role name ("User" allows 1: "Sure:" stays) */
    lettersPerEdit: 3,
  },
  snapshots: {
    /** an exemplary reply has no fault: the off-subject factor alone (0.8) keeps it out (at 0.6, 58 % were saved) */
    minQuality: 0.85,
    /**
     * …or, for a kernel that never gets there, its own best: at or above this quantile of its quality band
     * (docs/leo.md §6.4). The 1.6M kernel tops out at 0.80 (every reply off the subject): no snapshot at all.
     */
    kernelQuantile: 0.9,
    /** never below this, whatever the kernel (the spec's first threshold) */
    floor: 0.6,
    cap: 512,
    evict: 51,
    recallMax: 3,
    recallMinScore: 0.1,
    recencyWindowMs: DAY_MS,
    weights: { jaccard: 0.4, themes: 0.2, arousal: 0.2, quality: 0.2 },
    usesDivisor: 5,
  },
  externalVocabulary: { minLetters: 3, healthyBelow: 0.2, warnAbove: 0.3 },
};

export type LeoConfig = typeof LEO;

/** Deep overrides for tests and tuning: `{ bins: { beta: 4 } }`. */
export type LeoOverrides = { [K in keyof LeoConfig]?: Partial<LeoConfig[K]> };

export function withLeoOverrides(overrides: LeoOverrides = {}): LeoConfig {
  const merged = { ...LEO } as Record<string, unknown>;
  for (const [key, value] of Object.entries(overrides)) {
    merged[key] = { ...(LEO as Record<string, object>)[key], ...value };
  }
  return merged as LeoConfig;
}
