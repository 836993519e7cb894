/**
 * remote.ts — the terminal chat as a client of the running service: the
 * living session's turn over `POST /api/chat` (NDJSON), `/api/status`, and
 * `POST /api/episodes` for /new. Stopping a reply closes the request; the
 * service cancels the generation as it does for any client that leaves.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { AriannaSummary } from "../server/inference.ts";
import { TOKEN_FILE } from "../server/auth.ts";
import { stoppedTurn, type ChatBackend, type ChatTurn } from "./backend.ts";

/** The service's answer when it is not a 2xx: its `error` message, else the status. */
async function failure(res: Response): Promise<Error> {
  const body = await res.text();
  let message = `${res.status} ${res.statusText}`;
  try {
    const e = JSON.parse(body).error;
    message = typeof e === "string" ? e : (e?.message ?? message);
  } catch {}
  return new Error(`the service answered ${res.status}: ${message}`);
}

/** The lines of an NDJSON body as they arrive. */
async function* ndjson(body: ReadableStream<Uint8Array>): AsyncGenerator<any> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line) yield JSON.parse(line);
    }
  }
  if (buffer.trim()) yield JSON.parse(buffer);
}

export function remoteBackend(url: string, home: string): ChatBackend {
  let token: string | undefined;
  try {
    token = readFileSync(join(home, TOKEN_FILE), "utf8").trim(); // needed when the service is not on loopback
  } catch {}
  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(url + path, {
      ...init,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(init.body ? { "Content-Type": "application/json" } : {}) },
    });
    if (!res.ok) throw await failure(res);
    return res;
  };
  return {
    where: `the service at ${url}`,
    async greeting() {
      const s = await (await call("/api/status")).json();
      return { kernel: s.model.kernel_name, messages: s.memory.messages, episode: s.memory.episode?.title ?? null };
    },
    async turn(text, cb) {
      let shown = "";
      try {
        const res = await call("/api/chat", {
          method: "POST",
          body: JSON.stringify({ model: "arianna", messages: [{ role: "user", content: text }], stream: true }),
          signal: cb.signal,
        });
        for await (const chunk of ndjson(res.body!)) {
          if (chunk.error) throw new Error(typeof chunk.error === "string" ? chunk.error : chunk.error.message);
          if (chunk.arianna?.resampling) cb.onResample(chunk.arianna.resampling);
          if (!chunk.done) {
            const delta: string = chunk.message?.content ?? "";
            shown += delta;
            if (delta) cb.onText(delta);
            continue;
          }
          const a: AriannaSummary = chunk.arianna;
          return {
            text: a.text, stopped: null, revised: a.revised, highlights: a.highlights,
            reading: {
              presence: a.presence, trauma: a.trauma, quality: a.quality, candidates: a.candidates, themes: a.themes,
              externalRatio: a.external_ratio,
            },
          } satisfies ChatTurn;
        }
        throw new Error("the service ended the reply without its final line");
      } catch (e) {
        // stopped: the service keeps what it had sent; the summary never came
        if (cb.signal.aborted) return stoppedTurn(shown);
        throw e;
      }
    },
    async newEpisode() {
      await call("/api/episodes", { method: "POST" });
    },
    async status() {
      const s = await (await call("/api/status")).json();
      const last = s.last_turn;
      const themes = (s.themes as { id: number; title: string | null }[]).map((t) => t.title ?? `#${t.id}`);
      return `trauma ${last ? last.trauma_level.toFixed(2) : "–"}${last?.wounded ? " WOUNDED" : ""} · themes ${themes.join(", ") || "none"}`;
    },
    async close() {},
  };
}
