/**
 * device.ts — InnerArianna's own endpoints under /api: status, the paged
 * history, episodes, the per-turn metric series, the trainer's export and
 * the reload request.
 */
import { Hono } from "hono";
import { exportPages, type Message, type TurnMetrics } from "../memory/index.ts";
import type { ReloadEvent } from "../reload/types.ts";
import { body, HttpError, query, type ServerDeps } from "./http.ts";
import { parseExport, parsePage, parseReload } from "./schemas.ts";

const SERVER_STARTED = Date.now();

const message = (m: Message) => ({ id: m.id, ts: m.ts, role: m.role, text: m.text, episode_id: m.episodeId, flags: m.flags });

/** A turn's metrics in the API's snake_case. */
const turn = (m: TurnMetrics) => ({
  message_id: m.messageId, ts: m.ts, presence_pulse: m.presencePulse, trauma: m.traumaScore, trauma_level: m.traumaLevel,
  wounded: m.wounded, novelty: m.novelty, arousal: m.arousal, entropy: m.entropy, quality: m.quality,
  candidates: m.candidateScores.length, external_ratio: m.externalRatio, active_themes: m.activeThemes, bins_used: m.binsUsed,
  temperature: m.temperature, prompt_tokens: m.promptTokens, reply_tokens: m.replyTokens, ttft_ms: m.ttftMs,
  tokens_per_second: m.tokensPerSecond, stop_reason: m.stopReason, model_sha256: m.modelSha256, seed: m.seed,
  non_word_share: m.nonWordShare, stock_phrase_share: m.stockShare, entropy_band: m.entropyBand, empty_rings: m.emptyRings ?? 0,
});

const reloadEvent = (e: ReloadEvent) => ({
  at: e.at, trigger: e.trigger, ok: e.ok, from: e.from, to: e.to, dir: e.dir, reason: e.reason, swap_ms: e.swapMs,
});

/** The id to pass as ?before= for the next (older) page, or null at the start of history. */
const nextBefore = (ids: number[], limit: number) => (ids.length === limit ? ids.at(-1)! : null);

/** The device's own /api routes: one route table, read top to bottom (as ollama.ts and openai.ts). */
export function deviceRoutes(routes: ServerDeps): Hono {
  const app = new Hono();
  const memory = () => routes.session.memory;

  app.get("/status", (c) => {
    const info = routes.model.info;
    const last = memory().metrics.recent(1)[0];
    const registry = routes.registry;
    return c.json({
      status: info ? "ok" : "no model loaded",
      uptime_s: Math.round((Date.now() - SERVER_STARTED) / 1000),
      model: {
        name: routes.modelName,
        kernel_name: registry?.current?.name ?? routes.session.modelProfile.name,
        sha256: registry?.current?.sha256 ?? routes.session.modelProfile.sha256,
        dir: registry?.current?.dir ?? routes.session.modelProfile.dir,
        loaded_at: registry?.current?.loadedAt ?? null,
        previous: registry?.previous ? { name: registry.previous.name, sha256: registry.previous.sha256 } : null,
        ...(info && {
          params: info.nParams, format: info.format, seq_len: info.seqLen, vocab_size: info.vocabSize,
          kernel: info.kernel, threads: info.threads, version: info.version,
        }),
      },
      reloads: registry?.reloads ?? 0,
      reload_events: (registry?.events ?? []).slice(-20).map(reloadEvent),
      queue: { running: routes.gate.busy, waiting: routes.gate.queued },
      memory: { messages: memory().messages.count(), episode: memory().episodes.latest() ?? null },
      last_turn: last ? turn(last) : null,
      // the trauma level's marks, for the page's timeline (docs/leo.md §3.4)
      trauma_thresholds: {
        cooling_above: routes.session.leo.config.trauma.coolingAbove, wounded_above: routes.session.leo.config.trauma.woundedAbove,
      },
      themes: (last?.activeThemes ?? []).map((id) => ({ id, title: routes.session.leo.themeTitle(id) ?? null })),
    });
  });

  app.get("/history", (c) => {
    const page = query(c, parsePage);
    const messages = memory().messages.recent(page.limit, page.before);
    // a reply carries the highlights it was given ([start, end, kind] into its text; [] before leo v2)
    // and its turn's metrics (as in /api/metrics; null for a reply stored without them)
    const withReading = (m: Message) => {
      if (m.role !== "arianna") return message(m);
      const metrics = memory().metrics.forMessage(m.id);
      return { ...message(m), highlights: metrics?.highlights ?? [], metrics: metrics ? turn(metrics) : null };
    };
    return c.json({ messages: messages.map(withReading), next_before: nextBefore(messages.map((m) => m.id), page.limit) });
  });

  app.get("/episodes", (c) => {
    const page = query(c, parsePage);
    const episodes = memory().episodes.list(page.limit, page.before);
    return c.json({
      episodes: episodes.map((e) => ({ id: e.id, started_at: e.startedAt, title: e.title, messages: e.messages })),
      next_before: nextBefore(episodes.map((e) => e.id), page.limit),
    });
  });

  /** A new episode begins now (`bun run chat`'s /new); the next message joins it. */
  app.post("/episodes", async (c) => c.json({ id: await routes.session.newEpisode() }, 201));

  /** The per-turn series, oldest first (ready to plot); pages go back in time with ?before=. */
  app.get("/metrics", (c) => {
    const page = query(c, parsePage);
    const turns = memory().metrics.recent(page.limit, page.before);
    return c.json({ turns: turns.map(turn).reverse(), next_before: nextBefore(turns.map((t) => t.messageId), page.limit) });
  });

  /**
   * NDJSON for trainer/export_dialogues.py: episode lines, then message lines, ?since=&until= in unix ms.
   * Streamed a page at a time (src/memory/export.ts): bounded memory, and /health answers in between.
   */
  app.get("/export", (c) => {
    const window = query(c, parseExport);
    const pages = exportPages(memory().db.filename, window.since, window.until);
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        // give the event loop back between pages: Bun pulls again at once while the client keeps up
        await new Promise((resolve) => setImmediate(resolve));
        const page = pages.next();
        if (page.done) controller.close();
        else controller.enqueue(encoder.encode(page.value));
      },
      cancel() {
        pages.return();
      },
    });
    return new Response(body, {
      headers: { "Content-Type": "application/x-ndjson", "Content-Disposition": 'attachment; filename="arianna-export.jsonl"' },
    });
  });

  app.post("/reload", async (c) => {
    const request = await body(c, parseReload);
    if (!routes.registry) throw new HttpError(404, "hot reload is not enabled on this server");
    const event = await routes.registry.reload({ rollback: request.rollback, trigger: request.rollback ? "rollback" : "api" });
    if (!event.ok) return c.json({ error: event.reason ?? "the reload failed", event: reloadEvent(event) }, 409);
    return c.json({ event: reloadEvent(event), reloads: routes.registry.reloads });
  });

  return app;
}
