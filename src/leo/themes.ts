/**
 * themes.ts — islands of words that keep co-occurring (leo spec §4): built from
 * the field, kept with stable ids across rebuilds, activated by prompts, and
 * followed over time (emerging / fading).
 */
import type { Database } from "bun:sqlite";
import type { Clock } from "../config/clock.ts";
import type { LeoConfig } from "../config/leo.ts";
import type { CooccurrenceGraph, Field } from "./field.ts";
import { isContentWord, jaccard } from "./tokens.ts";

export interface Island {
  /** most central first */
  words: string[];
  /** centrality in (0,1], parallel to words */
  weights: number[];
}

export interface Theme extends Island {
  id: number;
  activeStreak: number;
}

export interface ActiveTheme {
  theme: Theme;
  /** share of the prompt's content words inside the theme */
  strength: number;
}

export type Trend = "emerging" | "fading" | "steady";

export interface ThemeFlow {
  themeId: number;
  words: string[];
  slopePerHour: number;
  trend: Trend;
}

interface Turn {
  id: number;
  ts: number;
}

interface ThemeRow {
  id: number;
  words: string;
  weights: string;
  active_streak: number;
}

const HOUR_MS = 3_600_000;

/** Greedy island building over the co-occurrence graph's hubs (pure). */
export function buildIslands(graph: CooccurrenceGraph, config: LeoConfig["themes"]): Island[] {
  const byStrength = (a: [string, number], b: [string, number]) => b[1] - a[1] || a[0].localeCompare(b[0]);
  const hubs = [...graph]
    .map(([word, edges]) => ({ word, edges, total: [...edges.values()].reduce((s, n) => s + n, 0) }))
    .filter((h) => isContentWord(h.word) && h.edges.size >= config.minNeighbours && h.total >= config.minCooccurrence)
    .sort((a, b) => b.total - a.total || a.word.localeCompare(b.word))
    .slice(0, config.maxCandidates);
  // each hub's neighbourhood with the pair counts, for membership and centrality
  const hoods = hubs.map((hub) => {
    const neighbours = [...hub.edges]
      .filter(([word]) => isContentWord(word))
      .sort(byStrength)
      .slice(0, config.neighbourhood);
    const strength = new Map(neighbours);
    strength.set(hub.word, Math.max(0, ...neighbours.map(([, n]) => n))); // a hub is central to its own neighbourhood
    return strength;
  });
  const hoodWords = hoods.map((hood) => new Set(hood.keys()));
  const used = new Set<number>();
  const islands: Island[] = [];
  for (let i = 0; i < hubs.length; i++) {
    if (used.has(i)) continue;
    used.add(i);
    const members = new Set(hoodWords[i]);
    const centrality = new Map(hoods[i]);
    for (let j = i + 1; j < hubs.length; j++) {
      if (used.has(j) || jaccard(hoodWords[j], members) < config.mergeJaccard) continue;
      used.add(j);
      for (const [word, n] of hoods[j]) {
        members.add(word);
        centrality.set(word, (centrality.get(word) ?? 0) + n);
      }
    }
    const ranked = [...centrality].sort(byStrength);
    const top = ranked[0]?.[1] || 1;
    islands.push({ words: ranked.map(([w]) => w), weights: ranked.map(([, n]) => n / top) });
  }
  return islands;
}

/** Least-squares slope of (x, y) points; 0 when x does not vary. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.x - mx) * (p.y - my);
    sxx += (p.x - mx) ** 2;
  }
  return sxx === 0 ? 0 : sxy / sxx;
}

export class Themes {
  private live = new Map<number, Theme>();
  private themesOfWord = new Map<string, number[]>();
  /** themes with strength > 0 inside the slope window → when last seen */
  private recentlyActive = new Map<number, number>();
  /** the turns (replies) inside the slope window, oldest first: a theme absent from one had strength 0 */
  private turns: Turn[] = [];
  private readonly q;

  constructor(
    private readonly db: Database,
    private readonly field: Field,
    private readonly config: LeoConfig["themes"],
    private readonly clock: Clock,
  ) {
    this.q = {
      live: db.query<ThemeRow, []>("SELECT id, words, weights, active_streak FROM themes WHERE dissolved_at IS NULL"),
      wordsOf: db.query<{ words: string }, [number]>("SELECT words FROM themes WHERE id = ?"),
      insert: db.query<{ id: number }, [string, string, number, number]>(
        "INSERT INTO themes (words, weights, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id",
      ),
      update: db.query<never, [string, string, number, number]>(
        "UPDATE themes SET words = ?, weights = ?, updated_at = ? WHERE id = ?",
      ),
      dissolve: db.query<never, [number, number]>("UPDATE themes SET dissolved_at = ?, active_streak = 0 WHERE id = ?"),
      streak: db.query<never, [number, number]>("UPDATE themes SET active_streak = ? WHERE id = ?"),
      addStrength: db.query<never, [number, number, number, number]>(
        "INSERT INTO theme_strength (theme_id, message_id, ts, strength) VALUES (?, ?, ?, ?)",
      ),
      recent: db.query<{ theme_id: number; ts: number }, [number]>(
        "SELECT theme_id, max(ts) AS ts FROM theme_strength WHERE ts >= ? GROUP BY theme_id",
      ),
      strengths: db.query<{ message_id: number; strength: number }, [number, number]>(
        "SELECT message_id, strength FROM theme_strength WHERE theme_id = ? AND message_id >= ?",
      ),
      turns: db.query<Turn, [number, number]>(
        "SELECT id, ts FROM (SELECT id, ts FROM messages WHERE ts >= ? AND role = 'arianna' ORDER BY id DESC LIMIT ?) ORDER BY id",
      ),
    };
    this.reload();
  }

  /** Re-read the live themes (at start, after a rebuild, after a rolled-back turn). */
  reload(): void {
    this.live = new Map(
      this.q.live.all().map((r) => [
        r.id,
        { id: r.id, words: JSON.parse(r.words), weights: JSON.parse(r.weights), activeStreak: r.active_streak },
      ]),
    );
    this.themesOfWord = new Map();
    for (const theme of this.live.values()) {
      for (const word of theme.words) this.themesOfWord.set(word, [...(this.themesOfWord.get(word) ?? []), theme.id]);
    }
    const since = this.clock() - this.config.slopeWindowMs;
    this.recentlyActive = new Map(this.q.recent.all(since).map((r) => [r.theme_id, r.ts]));
    this.turns = this.q.turns.all(since, this.config.slopeWindowTurns);
  }

  /** Drop what fell out of the slope window (by age, then by count). */
  private prune(): void {
    const since = this.clock() - this.config.slopeWindowMs;
    let old = 0;
    while (old < this.turns.length && this.turns[old].ts < since) old++;
    this.turns.splice(0, Math.max(old, this.turns.length - this.config.slopeWindowTurns));
    for (const [id, lastSeen] of this.recentlyActive) if (lastSeen < since) this.recentlyActive.delete(id);
  }

  all(): Theme[] {
    return [...this.live.values()];
  }

  get(id: number): Theme | undefined {
    return this.live.get(id);
  }

  /** Words of any theme, dissolved ones too (episode titles outlive themes). */
  wordsOf(id: number): string[] | undefined {
    const row = this.q.wordsOf.get(id);
    return row ? JSON.parse(row.words) : undefined;
  }

  /**
   * Rebuild the islands from the field. An island overlapping a live theme
   * keeps its id (and its streak, and so its bin); the rest are new; live
   * themes no longer found are dissolved. Returns the ids whose words changed.
   */
  rebuild(): number[] {
    const islands = buildIslands(this.field.graph(), this.config);
    const now = this.clock();
    const changed: number[] = [];
    this.db.transaction(() => {
      const unmatched = new Map(this.live);
      for (const island of islands) {
        const words = new Set(island.words);
        let best: Theme | undefined;
        let bestScore = this.config.identityJaccard;
        for (const theme of unmatched.values()) {
          const score = jaccard(words, new Set(theme.words));
          if (score >= bestScore) [best, bestScore] = [theme, score];
        }
        if (best) {
          unmatched.delete(best.id);
          if (best.words.join(" ") !== island.words.join(" ")) {
            this.q.update.run(JSON.stringify(island.words), JSON.stringify(island.weights), now, best.id);
            changed.push(best.id);
          }
        } else {
          this.q.insert.get(JSON.stringify(island.words), JSON.stringify(island.weights), now, now);
        }
      }
      for (const gone of unmatched.values()) {
        this.q.dissolve.run(now, gone.id);
        changed.push(gone.id);
      }
    })();
    this.reload();
    return changed;
  }

  /** The (at most maxActive) live themes holding most of the prompt's content words. */
  activate(promptWords: ReadonlySet<string>): ActiveTheme[] {
    const matched = new Map<number, number>();
    for (const word of promptWords) {
      for (const id of this.themesOfWord.get(word) ?? []) matched.set(id, (matched.get(id) ?? 0) + 1);
    }
    return [...matched]
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])
      .slice(0, this.config.maxActive)
      .map(([id, n]) => ({ theme: this.live.get(id)!, strength: n / promptWords.size }));
  }

  /**
   * Record a turn (`replyId`: the reply message): active themes extend their
   * streak (the others reset) and store their strength.
   */
  recordTurn(active: readonly ActiveTheme[], replyId: number): void {
    const now = this.clock();
    const activeIds = new Set(active.map((a) => a.theme.id));
    for (const theme of this.live.values()) {
      const streak = activeIds.has(theme.id) ? theme.activeStreak + 1 : 0;
      if (streak !== theme.activeStreak) {
        this.q.streak.run(streak, theme.id);
        theme.activeStreak = streak;
      }
    }
    for (const { theme, strength } of active) {
      this.q.addStrength.run(theme.id, replyId, now, strength);
      this.recentlyActive.set(theme.id, now);
    }
    this.turns.push({ id: replyId, ts: now });
    this.prune();
  }

  /** Strength slope per hour over the window, and the trend it marks. */
  flowOf(themeId: number): ThemeFlow {
    this.prune();
    const now = this.clock();
    const strengths = new Map(
      this.q.strengths.all(themeId, this.turns[0]?.id ?? Number.MAX_SAFE_INTEGER).map((r) => [r.message_id, r.strength]),
    );
    const points = this.turns.map((t) => ({ x: (t.ts - now) / HOUR_MS, y: strengths.get(t.id) ?? 0 }));
    const perHour = slope(points);
    const trend: Trend =
      perHour >= this.config.emergingSlope ? "emerging" : perHour <= this.config.fadingSlope ? "fading" : "steady";
    return { themeId, words: this.wordsOf(themeId) ?? [], slopePerHour: perHour, trend };
  }

  /** The flow of every theme active within the window. */
  flow(): ThemeFlow[] {
    this.prune();
    return [...this.recentlyActive.keys()].map((id) => this.flowOf(id));
  }
}
