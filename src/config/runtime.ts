/**
 * runtime.ts — the runtime's defaults, defined once, and where its files live.
 *
 * Everything reads the environment through `loadRuntimeConfig(env)` so tests
 * can pass their own; nothing else in src/ looks at process.env for these.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { REPO_ROOT } from "./paths.ts";
import { SAMPLING_DEFAULTS, type SamplingDefaults } from "../engine/protocol.ts";

export { REPO_ROOT };

/** Used only when neither ARIANNA_PERSONA nor the kernel's template gives a system text. */
export const DEFAULT_PERSONA = "I am Arianna. I listen, I remember, and I answer with resonance.";

/** The sampling a turn starts from before leo adjusts it: the engine's own defaults. */
export type GenerationDefaults = SamplingDefaults;

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
  generation: { ...SAMPLING_DEFAULTS },
  origins: [],
};

type Env = Record<string, string | undefined>;

/** A setting the operator got wrong: reported as one line, never as a stack trace. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Every environment variable the runtime reads, its default and what it does.
 * `bun run start --help` prints this list; the README's table follows it.
 */
export const ENVIRONMENT: readonly { name: string; default: string; about: string }[] = [
  { name: "ARIANNA_HOME", default: "./data", about: "the database, bins, models, the API token and the lock file" },
  { name: "ARIANNA_HOST", default: "127.0.0.1", about: "the address to listen on (the systemd unit binds 0.0.0.0)" },
  { name: "ARIANNA_PORT", default: "8080", about: "the port to listen on (0: any free port)" },
  { name: "ARIANNA_THREADS", default: "CPU cores - 1", about: "compute threads, a whole number >= 1" },
  { name: "ARIANNA_ORIGINS", default: "none", about: "browser origins besides loopback allowed to call the API (CORS), comma-separated" },
  { name: "ARIANNA_PERSONA", default: "the kernel's system line", about: "the preamble at the top of every prompt" },
  { name: "ARIANNA_SEED", default: "random", about: "a whole number: every turn reproducible (tests, demos)" },
  { name: "ARIANNA_LOG", default: "info", about: "a level (error, warn, notice, info, debug) and/or 'access', comma-separated" },
  { name: "ARIANNA_DEBUG", default: "off", about: "1: the same as ARIANNA_LOG=debug" },
  { name: "ARIANNA_LIB", default: "picked for the CPU", about: "the path of a libarianna.so to use instead" },
];

/** Whole numbers only: "8080", not "8080.5", "8e3" or "abc". */
function wholeNumber(env: Env, name: string, min: number, max: number, what: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const value = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!(value >= min && value <= max)) throw new ConfigError(`${name}=${JSON.stringify(raw)}: expected ${what}`);
  return value;
}

export function loadRuntimeConfig(env: Env = process.env, overrides: Partial<RuntimeConfig> = {}): RuntimeConfig {
  return {
    ...RUNTIME_DEFAULTS,
    home: resolve(env.ARIANNA_HOME || RUNTIME_DEFAULTS.home),
    persona: env.ARIANNA_PERSONA,
    seed: wholeNumber(env, "ARIANNA_SEED", 0, 2 ** 32 - 1, "a whole number from 0 to 4294967295"),
    origins: (env.ARIANNA_ORIGINS ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    ...overrides,
  };
}

export const LOG_LEVELS = ["error", "warn", "notice", "info", "debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogSettings {
  /** the least important level written */
  level: LogLevel;
  /** one line per HTTP request: method, path, status, milliseconds */
  access: boolean;
}

/** ARIANNA_LOG ("info", "debug", "access", "warn,access", ...) and ARIANNA_DEBUG. */
export function loadLogSettings(env: Env = process.env): LogSettings {
  const settings: LogSettings = { level: "info", access: false };
  for (const word of (env.ARIANNA_LOG ?? "").split(",").map((w) => w.trim().toLowerCase()).filter(Boolean)) {
    if (word === "access") settings.access = true;
    else if ((LOG_LEVELS as readonly string[]).includes(word)) settings.level = word as LogLevel;
    else throw new ConfigError(`ARIANNA_LOG=${JSON.stringify(env.ARIANNA_LOG)}: expected ${LOG_LEVELS.join(", ")} and/or access`);
  }
  if (env.ARIANNA_DEBUG && env.ARIANNA_DEBUG !== "0") settings.level = "debug";
  // debug means everything, the access lines included
  if (settings.level === "debug") settings.access = true;
  return settings;
}

/** What `bun run start` serves on, besides the session's RuntimeConfig. */
export interface ServiceSettings {
  host: string;
  port: number;
  /** undefined: the engine's default (CPU cores - 1) */
  threads?: number;
  log: LogSettings;
}

export function loadServiceSettings(env: Env = process.env): ServiceSettings {
  return {
    host: env.ARIANNA_HOST?.trim() || "127.0.0.1",
    port: wholeNumber(env, "ARIANNA_PORT", 0, 65535, "a port number from 0 to 65535") ?? 8080,
    threads: loadThreads(env),
    log: loadLogSettings(env),
  };
}

/** ARIANNA_THREADS, shared by the service and `bun run chat`. */
export function loadThreads(env: Env = process.env): number | undefined {
  return wholeNumber(env, "ARIANNA_THREADS", 1, 1024, "a whole number of threads from 1 to 1024");
}

/** `bun run start --help`. */
export function usage(command = "bun run start"): string {
  const width = Math.max(...ENVIRONMENT.map((e) => e.name.length));
  return [
    `usage: ${command} [--help]`,
    "",
    "Serves the living session over HTTP (Ollama and OpenAI shapes, the web page at /).",
    "Settings come from the environment:",
    "",
    ...ENVIRONMENT.map((e) => `  ${e.name.padEnd(width)}  ${e.about} (default: ${e.default})`),
    "",
  ].join("\n");
}

/** The command line of `bun run start`: only --help (-h) exists. */
export function parseStartArgs(argv: readonly string[]): { help: boolean } {
  for (const arg of argv) if (arg !== "--help" && arg !== "-h") throw new ConfigError(`unknown argument ${JSON.stringify(arg)} (try --help)`);
  return { help: argv.length > 0 };
}

/** The files under ARIANNA_HOME (docs/architecture.md §7 lists all of them). */
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
