/**
 * themes.ts — islands of words that keep co-occurring (docs/leo.md §4.1): built
 * from the field's spoken words, kept with stable ids across rebuilds,
 * activated by prompts, and followed reply by reply (emerging / fading).
 */
import type { Database } from "bun:sqlite";
import { valuesRows } from "../shared/sql.ts";
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
  /** least-squares slope of strength over the last replies, per `trendPer` replies */
  slope: number;
  trend: Trend;
}

/** A reply and the strength of each theme active in its turn. */
interface Turn {
  id: number;
  strengths: Map<number, number>;
}

interface ThemeRow {
  id: number;
  words: string;
  weights: string;
}

/**
 * Greedy island building over the co-occurrence graph (pure). Candidates are
 * content words spoken `minSpoken` times with enough neighbours; a
 * neighbourhood is a candidate's strongest spoken neighbours plus itself; each
 * unused candidate seeds an island and absorbs later candidates whose
 * neighbourhood overlaps the island's words by Jaccard ≥ `mergeJaccard`.
 * `spoken`: words spoken at least once, with their counts (a word only rings
 * wrote never joins a theme).
 */
export function buildIslands(graph: CooccurrenceGraph, spoken: ReadonlyMap<string, number>, config: LeoConfig["themes"]): Island[] {
  const byStrength = (a: [string, number], b: [string, number]) => b[1] - a[1] || a[0].localeCompare(b[0]);
  const speaks = (word: string) => isContentWord(word) && spoken.has(word);
  const hubs = [...graph]
    .filter(([word]) => speaks(word) && spoken.get(word)! >= config.minSpoken)
    .map(([word, edges]) => ({ word, edges: [...edges].filter(([w]) => speaks(w)) }))
    .map((h) => ({ ...h, total: h.edges.reduce((s, [, n]) => s + n, 0) }))
    .filter((h) => h.edges.length >= config.minNeighbours && h.total >= config.minCooccurrence)
    .sort((a, b) => b.total - a.total || a.word.localeCompare(b.word))
    .slice(0, config.maxCandidates);
  // each hub's neighbourhood with the pair counts, for membership and centrality
  const hoods = hubs.map((hub) => {
    const neighbours = hub.edges.sort(byStrength).slice(0, config.neighbourhood);
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

/**
 * Shared words ÷ the smaller set: a theme that grew (more words joined its
 * island) still contains its old self, which Jaccard would count as a change.
 */
export function overlap<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): number {
  if (a.size === 0 || b.size === 0) return 0;
  let shared = 0;
  for (const x of a) if (b.has(x)) shared++;
  return shared / Math.min(a.size, b.size);
}

/** Rebuild after these turns: the listed ones, then every `rebuildEveryTurns`. */
export function rebuildDue(turn: number, config: LeoConfig["themes"]): boolean {
  return config.rebuildAtTurns.includes(turn) || turn % config.rebuildEveryTurns === 0;
}

export class Themes {
  private live = new Map<number, Theme>();
  private themesOfWord = new Map<string, number[]>();
  /** the last replies (at most max(trendReplies, bins' activeWindowTurns)), oldest first */
  private turns: Turn[] = [];
  private readonly keepTurns: number;
  private readonly q;

  constructor(
    private readonly db: Database,
    private readonly field: Field,
    private readonly config: LeoConfig["themes"],
    private readonly clock: () => number,
    binWindow: number,
  ) {
    this.keepTurns = Math.max(config.trendReplies, binWindow);
    this.q = {
      live: db.query<ThemeRow, []>("SELECT id, words, weights FROM themes WHERE dissolved_at IS NULL"),
      wordsOf: db.query<{ words: string }, [number]>("SELECT words FROM themes WHERE id = ?"),
      insert: db.query<{ id: number }, [string, string, number, number]>(
        "INSERT INTO themes (words, weights, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id",
      ),
      update: db.query<never, [string, string, number, number]>(
        "UPDATE themes SET words = ?, weights = ?, updated_at = ? WHERE id = ?",
      ),
      dissolve: db.query<never, [number, number]>("UPDATE themes SET dissolved_at = ? WHERE id = ?"),
      replies: db.query<{ id: number }, [number]>("SELECT id FROM messages WHERE role = 'arianna' ORDER BY id DESC LIMIT ?"),
      strengths: db.query<{ theme_id: number; message_id: number; strength: number }, [number]>(
        "SELECT theme_id, message_id, strength FROM theme_strength WHERE message_id >= ?",
      ),
    };
    this.reload();
  }

  /** Re-read the live themes and the last replies' strengths (at start, after a rebuild, after a rolled-back turn). */
  reload(): void {
    this.live = new Map(
      this.q.live.all().map((r) => [r.id, { id: r.id, words: JSON.parse(r.words), weights: JSON.parse(r.weights) }]),
    );
    this.themesOfWord = new Map();
    for (const theme of this.live.values()) {
      for (const word of theme.words) this.themesOfWord.set(word, [...(this.themesOfWord.get(word) ?? []), theme.id]);
    }
    const ids = this.q.replies.all(this.keepTurns).map((r) => r.id).reverse();
    this.turns = ids.map((id) => ({ id, strengths: new Map() }));
    const byId = new Map(this.turns.map((t) => [t.id, t]));
    for (const row of this.q.strengths.all(ids[0] ?? Number.MAX_SAFE_INTEGER)) {
      byId.get(row.message_id)?.strengths.set(row.theme_id, row.strength);
    }
  }

  all(): Theme[] {
    return [...this.live.values()];
  }

  get(id: number): Theme | undefined {
    return this.live.get(id);
  }

  /** Words of any theme, dissolved ones too (episode titles outlive themes); a live one's from RAM. */
  wordsOf(id: number): string[] | undefined {
    const live = this.live.get(id);
    if (live) return [...live.words];
    const row = this.q.wordsOf.get(id);
    return row ? JSON.parse(row.words) : undefined;
  }

  /**
   * Rebuild the islands from the field. An island overlapping a live theme
   * (half of the smaller one's words shared) keeps its id (and so its bin); the rest are new; live themes no longer
   * found are dissolved. Returns the ids whose words changed.
   */
  rebuild(): number[] {
    const islands = buildIslands(this.field.graph(), this.field.spokenAtLeast(1), this.config);
    const now = this.clock();
    const changed: number[] = [];
    this.db.transaction(() => {
      const unmatched = new Map(this.live);
      for (const island of islands) {
        const words = new Set(island.words);
        // eligible by overlap (a grown theme still contains its old self), the most similar by Jaccard
        // (a small theme inside a big island must not take the big theme's id from it)
        let best: Theme | undefined;
        let bestScore = -1;
        for (const theme of unmatched.values()) {
          const old = new Set(theme.words);
          if (overlap(words, old) < this.config.identityOverlap) continue;
          const score = jaccard(words, old);
          if (score > bestScore) [best, bestScore] = [theme, score];
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

  /**
   * The (at most maxActive) live themes sharing at least `activationShared`
   * content words with the prompt (one, for a prompt of fewer than `fewWords`),
   * most shared first.
   */
  activate(promptWords: ReadonlySet<string>): ActiveTheme[] {
    const matched = new Map<number, number>();
    for (const word of promptWords) {
      for (const id of this.themesOfWord.get(word) ?? []) matched.set(id, (matched.get(id) ?? 0) + 1);
    }
    const needed = promptWords.size < this.config.fewWords ? 1 : this.config.activationShared;
    return [...matched]
      .filter(([, n]) => n >= needed)
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])
      .slice(0, this.config.maxActive)
      .map(([id, n]) => ({ theme: this.live.get(id)!, strength: n / promptWords.size }));
  }

  /** Record a turn (`replyId`: the reply message) and the strength of its active themes. */
  recordTurn(active: readonly ActiveTheme[], replyId: number): void {
    const now = this.clock();
    // one statement for the turn's themes (db.query keeps one prepared per row count: at most maxActive)
    if (active.length > 0) {
      this.db
        .query<never, number[]>(`INSERT INTO theme_strength (theme_id, message_id, ts, strength) VALUES ${valuesRows(active.length, "(?, ?, ?, ?)")}`)
        .run(...active.flatMap(({ theme, strength }) => [theme.id, replyId, now, strength]));
    }
    this.turns.push({ id: replyId, strengths: new Map(active.map((a) => [a.theme.id, a.strength])) });
    if (this.turns.length > this.keepTurns) this.turns.shift();
  }

  /** On how many of the last `window` turns the theme was active. */
  activeTurns(themeId: number, window: number): number {
    return this.turns.slice(-window).filter((t) => t.strengths.has(themeId)).length;
  }

  /** The strength slope over the last `trendReplies` replies (0 where inactive), per `trendPer` replies. */
  flowOf(themeId: number): ThemeFlow {
    const window = this.turns.slice(-this.config.trendReplies);
    const points = window.map((t, i) => ({ x: i, y: t.strengths.get(themeId) ?? 0 }));
    const perWindow = slope(points) * this.config.trendPer;
    const trend: Trend =
      perWindow >= this.config.emergingSlope ? "emerging" : perWindow <= this.config.fadingSlope ? "fading" : "steady";
    return { themeId, words: this.wordsOf(themeId) ?? [], slope: perWindow, trend };
  }

  /** The flow of every theme active within the trend window. */
  flow(): ThemeFlow[] {
    const ids = new Set(this.turns.slice(-this.config.trendReplies).flatMap((t) => [...t.strengths.keys()]));
    return [...ids].map((id) => this.flowOf(id));
  }
}
