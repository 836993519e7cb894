/**
 * bins.ts — knowledge weights (docs/leo.md §5): IABN files under ARIANNA_HOME/bins
 * with a row each in `bins`. A theme that keeps coming back gets one; an active
 * bin's weights join the logit bias, fading with disuse until retired.
 */
import type { Database } from "bun:sqlite";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DAY_MS, type Clock } from "../config/clock.ts";
import type { LeoConfig } from "../config/leo.ts";
import { BoundedMap } from "../shared/bounded-map.ts";
import { decodeBin, encodeBin, type BinData, type BinEntry } from "./bin-file.ts";

/** unk, BOS, EOS never get a bias */
export const FIRST_TEXT_TOKEN = 3;

export interface BinRecord {
  id: number;
  topic: string;
  /** relative to ARIANNA_HOME */
  path: string;
  /** null for the origin bin */
  themeId: number | null;
  createdAt: number;
  lastUsedAt: number;
  decayLevel: number;
  vocabSize: number;
  words: string[];
}

export interface LogitBias {
  ids: number[];
  weights: number[];
}

/** A bin to apply and how strongly (β·(1 − decay), or β·level for the origin). */
export interface ScaledBin {
  bin: BinRecord;
  scale: number;
}

interface BinRow {
  id: number;
  topic: string;
  path_to_bin: string;
  theme_id: number | null;
  created_at: number;
  last_used_at: number;
  decay_level: number;
  vocab_size: number;
  words: string;
}

const toRecord = (r: BinRow): BinRecord => ({
  id: r.id,
  topic: r.topic,
  path: r.path_to_bin,
  themeId: r.theme_id,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  decayLevel: r.decay_level,
  vocabSize: r.vocab_size,
  words: JSON.parse(r.words ?? "[]"),
});

/** 1 − 0.5^(days since last use / half-life days). */
export function decayLevel(lastUsedAt: number, now: number, halfLifeDays: number): number {
  return 1 - 0.5 ** (Math.max(0, now - lastUsedAt) / DAY_MS / halfLifeDays);
}

/**
 * Model-token weights for words: the first token of each word (as the model's
 * tokenizer splits it mid-sentence) gets that word's weight; a token shared by
 * words keeps the largest. Only the first: the kernel completes a word it has
 * begun, while a word's inner pieces, pushed at every step, came out as pieces
 * of other words ("bights", "kness"). A word whose first token is its first
 * letter alone is left out: that token begins every word with the letter (on the
 * 1.6M kernel the garden bin's "b", from "basil" and "bake", filled garden
 * replies with "balance", "bleak" and "basis").
 */
export async function binEntries(
  words: readonly string[],
  weights: readonly number[],
  tokenize: (text: string) => Promise<number[]>,
): Promise<BinEntry[]> {
  const firstText = async (text: string) => (await tokenize(text)).find((id) => id >= FIRST_TEXT_TOKEN);
  const entries: BinEntry[] = [];
  for (let i = 0; i < words.length; i++) {
    const first = await firstText(words[i]);
    if (first === undefined || (words[i].length > 1 && first === (await firstText(words[i].slice(0, 1))))) continue;
    entries.push({ id: first, weight: weights[i] });
  }
  return entries;
}

/**
 * Scaled bins into one sparse bias, sorted by id: overlapping bins combine by
 * the largest weight per token, not the sum (summed near-duplicate bins pushed
 * the same tokens again and again and broke the text into loops).
 */
export function combineBias(bins: readonly { data: BinData; scale: number }[]): LogitBias {
  const strongest = new Map<number, number>();
  for (const { data, scale } of bins) {
    if (scale === 0) continue;
    data.ids.forEach((id, i) => {
      const w = data.weights[i] * scale;
      const held = strongest.get(id);
      if (held === undefined || Math.abs(w) > Math.abs(held)) strongest.set(id, w);
    });
  }
  const sorted = [...strongest].sort((a, b) => a[0] - b[0]);
  return { ids: sorted.map(([id]) => id), weights: sorted.map(([, w]) => w) };
}

export class Bins {
  /** parsed files of the bins in use (a long-lived device can hold many live bins) */
  private readonly cache: BoundedMap<number, BinData>;
  /** the live rows, re-read after any change (a handful of rows, read every turn) */
  private liveRows?: BinRecord[];
  private readonly q;

  constructor(
    private readonly db: Database,
    private readonly home: string,
    private readonly config: LeoConfig["bins"],
    private readonly clock: Clock,
  ) {
    this.cache = new BoundedMap(config.cachedFiles);
    const columns = "id, topic, path_to_bin, theme_id, created_at, last_used_at, decay_level, vocab_size, words";
    this.q = {
      live: db.query<BinRow, []>(`SELECT ${columns} FROM bins WHERE retired_at IS NULL ORDER BY id`),
      byId: db.query<BinRow, [number]>(`SELECT ${columns} FROM bins WHERE id = ?`),
      insert: db.query<BinRow, [string, string, number | null, number, number, number, string]>(
        `INSERT INTO bins (topic, path_to_bin, theme_id, created_at, last_used_at, vocab_size, words, decay_level)
         VALUES (?, ?, ?, ?, ?, ?, ?, 0) RETURNING ${columns}`,
      ),
      refresh: db.query<BinRow, [string, number, number, string, number]>(
        `UPDATE bins SET topic = ?, last_used_at = ?, vocab_size = ?, words = ?, decay_level = 0
         WHERE id = ? RETURNING ${columns}`,
      ),
      used: db.query<never, [number, number]>("UPDATE bins SET last_used_at = ?, decay_level = 0 WHERE id = ?"),
      decay: db.query<never, [number, number]>("UPDATE bins SET decay_level = ? WHERE id = ?"),
      retire: db.query<never, [number, number, number]>("UPDATE bins SET retired_at = ?, decay_level = ? WHERE id = ?"),
      ofDissolvedThemes: db.query<{ id: number }, []>(
        "SELECT bins.id FROM bins JOIN themes ON themes.id = bins.theme_id WHERE bins.retired_at IS NULL AND themes.dissolved_at IS NOT NULL",
      ),
    };
  }

  live(): BinRecord[] {
    this.liveRows ??= this.q.live.all().map(toRecord);
    return this.liveRows;
  }

  /** Forget the cached rows (after a change, or a rolled-back transaction). */
  reload(): void {
    this.liveRows = undefined;
  }

  get(id: number): BinRecord | undefined {
    const row = this.q.byId.get(id);
    return row ? toRecord(row) : undefined;
  }

  forTheme(themeId: number): BinRecord | undefined {
    return this.live().find((b) => b.themeId === themeId);
  }

  origin(): BinRecord | undefined {
    return this.live().find((b) => b.themeId === null);
  }

  /** Write (or overwrite) the file of a theme's bin or the origin bin, and its row. */
  write(themeId: number | null, topic: string, words: readonly string[], vocabSize: number, entries: readonly BinEntry[]): BinRecord {
    const relative = join("bins", themeId === null ? "origin.iabn" : `theme-${themeId}.iabn`);
    const absolute = join(this.home, relative);
    mkdirSync(join(this.home, "bins"), { recursive: true });
    // write then rename: a reader never sees half a file
    writeFileSync(`${absolute}.tmp`, encodeBin(vocabSize, entries));
    renameSync(`${absolute}.tmp`, absolute);
    const now = this.clock();
    const existing = themeId === null ? this.origin() : this.forTheme(themeId);
    const row = existing
      ? this.q.refresh.get(topic, now, vocabSize, JSON.stringify(words), existing.id)!
      : this.q.insert.get(topic, relative, themeId, now, now, vocabSize, JSON.stringify(words))!;
    this.cache.delete(row.id);
    this.reload();
    return toRecord(row);
  }

  /** The parsed file of a bin (cached; the file is the truth). */
  data(bin: BinRecord): BinData {
    let data = this.cache.get(bin.id);
    if (!data) {
      data = decodeBin(readFileSync(join(this.home, bin.path)));
      this.cache.set(bin.id, data);
    }
    return data;
  }

  /** β·(1 − decay_level) at the current time. */
  themeScale(bin: BinRecord): number {
    return this.config.beta * (1 - decayLevel(bin.lastUsedAt, this.clock(), this.config.halfLifeDays));
  }

  bias(bins: readonly ScaledBin[]): LogitBias {
    return combineBias(bins.map(({ bin, scale }) => ({ data: this.data(bin), scale })));
  }

  /**
   * The cached rows follow the UPDATE instead of being read again: re-reading
   * them parsed every live bin's words after every turn that used a bin (the
   * idle work's `maintain` 0.33 -> 0.13 ms of CPU at 100k messages). A
   * rolled-back turn drops them (`reload`).
   */
  markUsed(ids: readonly number[]): void {
    const now = this.clock();
    for (const id of ids) {
      this.q.used.run(now, id);
      const cached = this.liveRows?.find((b) => b.id === id);
      if (cached) {
        cached.lastUsedAt = now;
        cached.decayLevel = 0;
      }
    }
  }

  /**
   * Refresh theme bins' decay_level; retire those reaching the limit, and those whose theme a
   * rebuild dissolved: nothing activates a dissolved theme, so its bin would keep its file and
   * its words in RAM for a month of decay (a 2,000-turn soak ended with 74 live bins holding 21 k
   * words for 26 live themes, and RSS rising with them). Returns the retired ids.
   */
  maintain(): number[] {
    const now = this.clock();
    const retired: number[] = [];
    const dissolved = new Set(this.q.ofDissolvedThemes.all().map((r) => r.id));
    const changes = this.live()
      .filter((bin) => bin.themeId !== null) // the origin does not fade with disuse
      .map((bin) => ({ bin, level: decayLevel(bin.lastUsedAt, now, this.config.halfLifeDays) }))
      .filter(({ bin, level }) => dissolved.has(bin.id) || level >= this.config.retireAt || Math.abs(level - bin.decayLevel) >= this.config.decayWriteStep);
    if (changes.length === 0) return retired;
    this.db.transaction(() => {
      for (const { bin, level } of changes) {
        if (dissolved.has(bin.id) || level >= this.config.retireAt) {
          this.retire(bin, level);
          retired.push(bin.id);
        } else {
          this.q.decay.run(level, bin.id);
        }
      }
    })();
    this.reload();
    return retired;
  }

  retire(bin: BinRecord, level = bin.decayLevel): void {
    rmSync(join(this.home, bin.path), { force: true });
    this.q.retire.run(this.clock(), level, bin.id);
    this.cache.delete(bin.id);
    this.reload();
  }
}
