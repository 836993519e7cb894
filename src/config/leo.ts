/**
 * leo.ts — every tunable number of the leo layer (see docs: the leo spec), in one place.
 *
 * Tests pin behaviours, not these constants; pass a partial override to the
 * leo modules (`withLeoOverrides`) to tune one without touching the rest.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export const LEO = {
  field: {
    /** co-occurrence reaches this many positions either side */
    coocWindow: 5,
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
    /** novelty for prompts with fewer than `noveltyMinTokens` field tokens */
    noveltyShortPrompt: 0.5,
    noveltyMinTokens: 3,
    arousal: {
      uppercaseWeight: 2,
      uppercaseCap: 0.4,
      punctuationStep: 0.1,
      punctuationCap: 0.3,
      intenseStep: 0.1,
      intenseCap: 0.3,
    },
    /** entropy assumed before the model has spoken */
    entropyBeforeGeneration: 0.5,
    pulse: { novelty: 0.3, arousal: 0.4, entropy: 0.3 },
  },
  trauma: {
    overlapWeight: 2,
    novelty: 0.3,
    arousal: 0.4,
    entropy: 0.2,
    identityBonus: 0.2,
    eventThreshold: 0.3,
    /** the level mixes the current score with the mean of this many last events */
    levelHistory: 10,
    halfLifeMs: DAY_MS,
    /** above this level sampling cools down, linearly up to `maxTemperatureDrop` at level 1 */
    coolingAbove: 0.3,
    maxTemperatureDrop: 0.3,
    woundedAbove: 0.7,
    woundedWords: 10,
    /** the drift ring's seed gets an origin sentence above this level */
    driftOriginAbove: 0.5,
  },
  themes: {
    minNeighbours: 5,
    minCooccurrence: 10,
    neighbourhood: 16,
    mergeJaccard: 0.4,
    rebuildEveryTurns: 20,
    maxActive: 3,
    slopeWindowMs: 6 * HOUR_MS,
    /** at most this many replies in the window (a busy device's memory and per-turn work stay bounded) */
    slopeWindowTurns: 512,
    /** strength per hour */
    emergingSlope: 0.1,
    fadingSlope: -0.1,
    /** strongest candidates considered per rebuild (keeps a rebuild bounded on a Pi) */
    maxCandidates: 400,
    /** a rebuilt island keeps an old theme's id when they overlap at least this much */
    identityJaccard: 0.5,
  },
  overthinking: {
    rings: [
      { kind: "echo" as const, temperature: 0.8, maxTokens: 30 },
      { kind: "drift" as const, temperature: 1.0, maxTokens: 40 },
      { kind: "meta" as const, temperature: 1.2, maxTokens: 20 },
    ],
    /** quiet time after a reply before the first ring starts */
    idleDelayMs: 250,
  },
  bins: {
    activeTurnsForBin: 3,
    /** logits added at full weight */
    beta: 1.0,
    halfLifeDays: 7,
    retireAt: 0.95,
    /** the stored decay_level is rewritten only when it moved this much (spares the SD card) */
    decayWriteStep: 0.01,
    /** parsed bin files kept in RAM (the rest are read again when used) */
    cachedFiles: 64,
  },
  quality: {
    resampleBelow: 0.45,
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
    promptJaccardLow: 0.1,
    promptJaccardFactor: 0.7,
    trigramLow: 0.3,
    trigramLowFactor: 0.5,
    trigramMid: 0.6,
    trigramMidFactor: 0.8,
    entropyBand: [0.3, 0.7] as const,
    entropySlope: 0.6,
  },
  trimming: { echoWindow: 4, maxRepeatedMarks: 3 },
  snapshots: {
    minQuality: 0.6,
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
