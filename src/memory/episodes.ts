/**
 * episodes.ts — the conversation's chapters. A message after a long silence
 * (or an explicit request) opens a new one; titles come from the theme the
 * episode dwelt on most.
 */
import type { Database } from "bun:sqlite";
import { valuesRows } from "../shared/sql.ts";

export interface Episode {
  id: number;
  startedAt: number;
  title: string | null;
}

interface EpisodeRow {
  id: number;
  started_at: number;
  title: string | null;
}

const toEpisode = (r: EpisodeRow): Episode => ({ id: r.id, startedAt: r.started_at, title: r.title });

export class Episodes {
  private readonly latestQuery;
  private readonly insertQuery;
  private readonly isEmptyQuery;
  private readonly listQuery;
  private readonly dominantQuery;
  private readonly setTitleQuery;

  constructor(private readonly db: Database) {
    this.latestQuery = db.query<EpisodeRow, []>("SELECT id, started_at, title FROM episodes ORDER BY id DESC LIMIT 1");
    this.insertQuery = db.query<EpisodeRow, [number]>(
      "INSERT INTO episodes (started_at) VALUES (?) RETURNING id, started_at, title",
    );
    this.isEmptyQuery = db.query<{ n: number }, [number]>(
      "SELECT NOT EXISTS (SELECT 1 FROM messages WHERE episode_id = ?) AS n",
    );
    this.listQuery = db.query<EpisodeRow & { messages: number }, [number, number]>(
      `SELECT e.id, e.started_at, e.title, (SELECT count(*) FROM messages m WHERE m.episode_id = e.id) AS messages
       FROM episodes e WHERE e.id < ? ORDER BY e.id DESC LIMIT ?`,
    );
    this.dominantQuery = db.query<{ theme_id: number }, [number]>(
      "SELECT theme_id FROM episode_themes WHERE episode_id = ? ORDER BY hits DESC, theme_id LIMIT 1",
    );
    this.setTitleQuery = db.query<never, [number, string, number]>(
      "UPDATE episodes SET dominant_theme_id = ?, title = ? WHERE id = ?",
    );
  }

  latest(): Episode | undefined {
    const row = this.latestQuery.get();
    return row ? toEpisode(row) : undefined;
  }

  /** Start a new chapter now; an episode with no messages yet is reused rather than left empty. */
  open(ts: number): Episode {
    const latest = this.latest();
    if (latest && this.isEmptyQuery.get(latest.id)!.n) return latest;
    return toEpisode(this.insertQuery.get(ts)!);
  }

  /** Newest first, with their message counts. */
  list(limit = 50, beforeId = Number.MAX_SAFE_INTEGER): (Episode & { messages: number })[] {
    return this.listQuery.all(beforeId, limit).map((r) => ({ ...toEpisode(r), messages: r.messages }));
  }

  /**
   * Count the themes a turn touched; when the episode's dominant theme changes,
   * retitle it from that theme's words (`titleOf` gives them).
   */
  recordThemes(episodeId: number, themeIds: readonly number[], titleOf: (themeId: number) => string | undefined): void {
    if (themeIds.length === 0) return;
    // one statement for the turn's themes (db.query keeps one prepared per row count: at most maxActive)
    this.db
      .query<never, number[]>(
        `INSERT INTO episode_themes (episode_id, theme_id, hits) VALUES ${valuesRows(themeIds.length, "(?, ?, 1)")}
         ON CONFLICT (episode_id, theme_id) DO UPDATE SET hits = hits + 1`,
      )
      .run(...themeIds.flatMap((id) => [episodeId, id]));
    const dominant = this.dominantQuery.get(episodeId)!.theme_id;
    const title = titleOf(dominant);
    if (title) this.setTitleQuery.run(dominant, title, episodeId);
  }
}
