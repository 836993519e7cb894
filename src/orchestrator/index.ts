/**
 * orchestrator — wires memory, leo and a loaded model into the living session.
 *
 *   const live = await openLiveSession();          // engine + model + session
 *   const r = await live.session.turn("hello", { onToken: (t) => process.stdout.write(t) });
 *   await live.close();
 */
import { systemClock, type Clock } from "../config/clock.ts";
import type { LeoConfig } from "../config/leo.ts";
import { loadModelProfile } from "../config/model-profile.ts";
import { homePaths, loadRuntimeConfig, resolveModelDir, type RuntimeConfig } from "../config/runtime.ts";
import { Engine } from "../engine/index.ts";
import { Leo } from "../leo/index.ts";
import { openMemory } from "../memory/index.ts";
import type { TextModel } from "./model.ts";
import { Session } from "./session.ts";

export { ReplyNotStored, Session, TurnCancelled, type Candidate, type SessionOptions, type TurnOptions, type TurnResult, type TurnSampling } from "./session.ts";
export { assembleContext, oneLine, renderTurn, replyStops, type AssembledContext, type ContextSources } from "./context.ts";
export type { TextGeneration, TextModel } from "./model.ts";

export interface OpenSessionOptions {
  /** a model that is already loaded (the Engine, or a stand-in) */
  model: TextModel;
  /** the directory it was loaded from (manifest, template, origin) */
  modelDir: string;
  config?: RuntimeConfig;
  clock?: Clock;
  leoConfig?: LeoConfig;
  overthink?: boolean;
  /** replaces the kernel's origin text */
  origin?: string;
}

export async function openSession(options: OpenSessionOptions): Promise<Session> {
  const config = options.config ?? loadRuntimeConfig();
  const clock = options.clock ?? systemClock;
  const memory = openMemory(homePaths(config.home).database, { clock, episodeIdleGapMs: config.episodeIdleGapMs });
  const leo = new Leo({ db: memory.db, home: config.home, clock, config: options.leoConfig });
  const profile = loadModelProfile(options.modelDir, options.origin);
  const session = new Session({ memory, leo, model: options.model, profile, config, clock, overthink: options.overthink });
  await session.useModel(profile);
  return session;
}

export interface LiveSession {
  engine: Engine;
  session: Session;
  close(): Promise<void>;
}

/** The Engine with the live kernel (ARIANNA_HOME/models/current, else the bundled default) and its session. */
export async function openLiveSession(
  options: Omit<OpenSessionOptions, "model" | "modelDir"> & { modelDir?: string; threads?: number } = {},
): Promise<LiveSession> {
  const config = options.config ?? loadRuntimeConfig();
  const modelDir = options.modelDir ?? resolveModelDir(config.home);
  const engine = await Engine.open({ threads: options.threads });
  try {
    await engine.load(modelDir);
    const session = await openSession({ ...options, config, model: engine, modelDir });
    return {
      engine,
      session,
      close: async () => {
        await session.close();
        await engine.close();
      },
    };
  } catch (error) {
    await engine.close();
    throw error;
  }
}
