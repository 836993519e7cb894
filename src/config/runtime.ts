/**
 * runtime.ts — the runtime's defaults, defined once, and where its files live.
 *
 * Everything reads the environment through `loadRuntimeConfig(env)` so tests
 * can pass their own; nothing else in src/ looks at process.env for these.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

/** The repository root (src/config/ → ../..), for bundled assets. */
export const REPO_ROOT = resolve(import.meta.dir, "..", "..");

/** Used only when neither ARIANNA_PERSONA nor the kernel's template gives a system text. */
export const DEFAULT_PERSONA = "I am Arianna. I listen, I remember, and I answer with resonance.";

export interface GenerationDefaults {
  temperature: number;
  topP: number;
  topK: number;
  repeatPenalty: number;
  repeatWindow: number;
}

export interface RuntimeConfig {
  /** ARIANNA_HOME: the database, bins/ and models/ live here */
  home: string;
  /**
   * the persona/system preamble at the top of every prompt (ARIANNA_PERSONA);
   * unset: the kernel template's default_system, which it was trained with
   */
  persona?: string;
  /** a user message after this much silence opens a new episode */
  episodeIdleGapMs: number;
  /** tokens kept free for the reply; clamped to half the model's seq_len */
  replyBudgetTokens: number;
  /** recent messages considered for the context, newest first */
  recentMessages: number;
  /** full-text hits from older history considered for the context */
  memoryHits: number;
  /** content words of the prompt used for a full-text query (rarest first) */
  memoryQueryWords: number;
  generation: GenerationDefaults;
  /** a fixed seed makes every turn reproducible (ARIANNA_SEED); undefined = random */
  seed?: number;
  /** browser origins allowed to read the API besides loopback ones (ARIANNA_ORIGINS, comma-separated; see src/server/cors.ts) */
  origins: string[];
}

export const RUNTIME_DEFAULTS: RuntimeConfig = {
  home: join(REPO_ROOT, "data"),
  episodeIdleGapMs: 30 * 60_000,
  replyBudgetTokens: 128,
  recentMessages: 12,
  memoryHits: 4,
  memoryQueryWords: 5,
  generation: { temperature: 0.8, topP: 0.9, topK: 40, repeatPenalty: 1.1, repeatWindow: 64 },
  origins: [],
};

export function loadRuntimeConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<RuntimeConfig> = {},
): RuntimeConfig {
  const seed = env.ARIANNA_SEED === undefined ? undefined : Number(env.ARIANNA_SEED);
  return {
    ...RUNTIME_DEFAULTS,
    home: resolve(env.ARIANNA_HOME ?? RUNTIME_DEFAULTS.home),
    persona: env.ARIANNA_PERSONA,
    seed: Number.isFinite(seed) ? seed : undefined,
    origins: (env.ARIANNA_ORIGINS ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    ...overrides,
  };
}

/** The files under ARIANNA_HOME. */
export function homePaths(home: string) {
  return {
    database: join(home, "resonance.sqlite3"),
    bins: join(home, "bins"),
    models: join(home, "models"),
    currentModel: join(home, "models", "current"),
    bundledModel: join(REPO_ROOT, "models", "default"),
  };
}

/** The live kernel: `models/current` when a deploy put one there, else the bundled default. */
export function resolveModelDir(home: string): string {
  const paths = homePaths(home);
  return existsSync(join(paths.currentModel, "model.bin")) ? paths.currentModel : paths.bundledModel;
}
