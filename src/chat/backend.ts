/**
 * backend.ts — what the terminal chat talks to, and its own-engine kind.
 *
 * `bun run chat` is a client of the running service when one serves this
 * ARIANNA_HOME (remote.ts: the same HTTP API as any client), and runs its own
 * engine, holding the home's lock, when none does. Both give the same turns.
 */
import { LEO } from "../config/leo.ts";
import type { Highlight, Presence, ThemeFlow } from "../leo/index.ts";
import { TurnCancelled, type LiveSession } from "../orchestrator/index.ts";

/** What leo made of a turn. */
export interface Reading {
  presence: Presence;
  trauma: { level: number; wounded: boolean; event: boolean };
  quality: number;
  candidates: number;
  themes: ThemeFlow[];
  /** share of the reply's words taken from the user's message */
  externalRatio: number;
}

/** One turn as the terminal shows it. */
export interface ChatTurn {
  /** the stored reply (highlight offsets index into it); "" when stopped before it began: nothing stored */
  text: string;
  /** stopped (Ctrl-C): a note on what was kept (what was written is; nothing stands in for what was not) */
  stopped: string | null;
  /** the stored reply differs from what was shown as it came */
  revised: boolean;
  highlights: Highlight[];
  /** null when the reading did not come (a reply stopped over HTTP) */
  reading: Reading | null;
}

export interface TurnCallbacks {
  signal: AbortSignal;
  /** the reply as it will be stored, as it becomes certain */
  onText(delta: string): void;
  /** leo started re-sampling candidate n (not shown as it is written) */
  onResample(n: number): void;
}

export interface ChatBackend {
  /** "its own engine" or "the service at http://…" */
  readonly where: string;
  greeting(): Promise<{ kernel: string; messages: number; episode: string | null }>;
  turn(text: string, cb: TurnCallbacks): Promise<ChatTurn>;
  newEpisode(): Promise<void>;
  /** one line: trauma, wounded words, themes */
  status(): Promise<string>;
  close(): Promise<void>;
}

const STOPPED = "stopped: what she wrote is kept";

/** A reply stopped before leo's reading came: what was shown is what is stored (the session keeps what it streamed). */
export const stoppedTurn = (shown: string): ChatTurn => ({
  text: shown, stopped: shown ? STOPPED : "stopped before she began: nothing was stored", revised: false, highlights: [], reading: null,
});

export const echoing = (ratio: number) => ratio > LEO.externalVocabulary.warnAbove;

/** The chat's own engine and session on this home (the caller holds the home's lock). */
export function localBackend(live: LiveSession, release: () => void): ChatBackend {
  const { session } = live;
  return {
    where: "its own engine",
    async greeting() {
      const episode = session.memory.episodes.latest();
      return { kernel: session.modelProfile.name, messages: session.memory.messages.count(), episode: episode?.title ?? null };
    },
    async turn(text, cb) {
      let announced = 0;
      try {
        const r = await session.turn(text, {
          signal: cb.signal,
          onReply: cb.onText,
          onToken: (_piece, candidate) => {
            if (candidate > announced) cb.onResample((announced = candidate));
          },
        });
        return {
          text: r.text, stopped: r.stats.stopReason === "cancelled" ? STOPPED : null, revised: r.text !== r.streamed, highlights: r.highlights,
          reading: {
            presence: r.presence, trauma: r.trauma, quality: r.quality, candidates: r.candidates.length, themes: r.themes,
            externalRatio: r.externalRatio,
          },
        };
      } catch (e) {
        if (e instanceof TurnCancelled) return stoppedTurn("");
        throw e;
      }
    },
    async newEpisode() {
      await session.newEpisode();
    },
    async status() {
      const t = session.leo.trauma.reading();
      const flow = session.leo.themes.flow().map((f) => `${f.words.slice(0, 3).join("·")} ${f.trend}`);
      return `trauma ${t.level.toFixed(2)} · wounded words ${t.woundedWords.join(", ") || "none"} · themes ${flow.join(", ") || "none"}`;
    },
    async close() {
      await live.close();
      release();
    },
  };
}
