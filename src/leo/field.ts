/**
 * field.ts — the living word field: bigrams, trigrams, co-occurrence and word
 * counts of everything said (docs/leo.md §1), kept in SQLite and updated
 * incrementally. Only bounded caches (word → id, word → counts) live in RAM.
 *
 * A turn's messages join the field after its reply is out: `enqueue` makes
 * their word counts readable at once (all a turn reads between its commits),
 * `settle` writes them in one transaction with `field.through`, the last stored
 * message observed. The messages are durable in their own commits, so a start
 * settles whatever a kill left after `field.through`: nothing is lost, nothing
 * counted twice. Writing ~140 scattered n-gram pages per turn was 6 of its 11
 * ms at 100k messages (README, per-turn overhead).
 *
 * A turn reads ~40 word counts (novelty, the search terms, the non-word test,
 * recall), most of them read in earlier turns too: a bounded cache keeps the
 * stored counts and adds what each observation adds to the rows. A rolled-back
 * write clears it (`reload`), as it clears the word ids.
 */
import type { Database } from "bun:sqlite";
import type { Clock } from "../config/clock.ts";
import type { LeoConfig } from "../config/leo.ts";
import type { LeoState } from "./state.ts";
import { BoundedMap } from "../shared/bounded-map.ts";
import { fieldTokens, isWord } from "./tokens.ts";

const OBSERVATIONS = "field.observations";
/** the id of the last stored message the field has observed (migration 004) */
const THROUGH = "field.through";
/** words whose stored counts are cached (a turn reads ~40, most of them again soon) */
const COUNT_CACHE = 4096;

/** A stored user message or reply. */
export interface StoredText {
  id: number;
  text: string;
}

/** Count one occurrence of `row`'s key (its ids; its last element is the count). */
function count<R extends number[]>(rows: Map<string, R>, row: R, n = 1): void {
  const key = row.slice(0, -1).join(" ");
  const seen = rows.get(key);
  if (seen) seen[seen.length - 1] += n;
  else {
    row[row.length - 1] = n;
    rows.set(key, row);
  }
}

/** word → (co-occurring word → count), both directions, self pairs left out */
export type CooccurrenceGraph = Map<string, Map<string, number>>;

/** A word's counts in `vocab` (both 0 for a word the field has not seen). */
interface StoredCounts {
  count: number;
  spoken: number;
}

export class Field {
  private readonly wordIds: BoundedMap<string, number>;
  private readonly counts = new BoundedMap<string, StoredCounts>(COUNT_CACHE);
  private readonly q;
  /** stored messages after `field.through`, oldest first, and their word counts and observations */
  private pending: StoredText[] = [];
  private readonly pendingWords = new Map<string, number>();
  private pendingObservations = 0;
  /** field.observations as stored, kept once read (each observation returns the new count) */
  private observed?: number;

  constructor(
    private readonly db: Database,
    private readonly state: LeoState,
    private readonly config: LeoConfig["field"],
    private readonly clock: Clock,
  ) {
    this.wordIds = new BoundedMap(config.wordCacheSize);
    const decayCase = config.forgetBands
      .map((band) => (Number.isFinite(band.below) ? `WHEN n < ${band.below} THEN ${band.factor}` : `ELSE ${band.factor}`))
      .join(" ");
    this.q = {
      wordId: db.query<{ id: number }, [string]>("SELECT id FROM vocab WHERE word = ?"),
      /** the ids of a JSON array of words (those the field knows) */
      wordIds: db.query<{ word: string; id: number }, [string]>(
        "SELECT word, id FROM vocab WHERE word IN (SELECT value FROM json_each(?))",
      ),
      // system messages are no speech: never observed
      unsettled: db.query<StoredText, [number]>(
        "SELECT id, text FROM messages WHERE id > ? AND role IN ('user', 'arianna') ORDER BY id",
      ),
      insertWord: db.query<{ id: number }, [string]>("INSERT INTO vocab (word) VALUES (?) RETURNING id"),
      /** occurrences, of them spoken (all of a user message's or a reply's, none of a ring's), word id */
      countWords: db.query<never, [number, number, number]>(
        "UPDATE vocab SET count = count + ?, count_spoken = count_spoken + ? WHERE id = ?",
      ),
      counts: db.query<{ count: number; count_spoken: number }, [string]>("SELECT count, count_spoken FROM vocab WHERE word = ?"),
      /** the counts of a JSON array of words (those the field knows) */
      countsOf: db.query<{ word: string; count: number; count_spoken: number }, [string]>(
        "SELECT word, count, count_spoken FROM vocab WHERE word IN (SELECT value FROM json_each(?))",
      ),
      spokenAtLeast: db.query<{ word: string; count_spoken: number }, [number]>(
        "SELECT word, count_spoken FROM vocab WHERE count_spoken >= ?",
      ),
      // the last value is the key's count in this text: a new row starts there, an existing one gains it
      addBigram: db.query<never, [number, number, number]>(
        "INSERT INTO bigram VALUES (?, ?, ?) ON CONFLICT (a, b) DO UPDATE SET n = n + excluded.n",
      ),
      addTrigram: db.query<never, [number, number, number, number]>(
        "INSERT INTO trigram VALUES (?, ?, ?, ?) ON CONFLICT (a, b, c) DO UPDATE SET n = n + excluded.n",
      ),
      addCooc: db.query<never, [number, number, number]>(
        "INSERT INTO cooc VALUES (?, ?, ?) ON CONFLICT (a, b) DO UPDATE SET n = n + excluded.n",
      ),
      bigram: db.query<{ n: number }, [number, number]>("SELECT n FROM bigram WHERE a = ? AND b = ?"),
      trigram: db.query<{ n: number }, [number, number, number]>(
        "SELECT n FROM trigram WHERE a = ? AND b = ? AND c = ?",
      ),
      /** how many of a JSON array of [a, b, c] id triples the field holds (each position counted) */
      knownTrigrams: db.query<{ n: number }, [string]>(
        `SELECT count(*) AS n FROM json_each(?) AS j
         JOIN trigram t ON t.a = j.value ->> 0 AND t.b = j.value ->> 1 AND t.c = j.value ->> 2`,
      ),
      cooc: db.query<{ n: number }, [number, number]>("SELECT n FROM cooc WHERE a = ? AND b = ?"),
      pairs: db.query<{ a: string; b: string; n: number }, []>(
        `SELECT va.word AS a, vb.word AS b, c.n FROM cooc c
         JOIN vocab va ON va.id = c.a JOIN vocab vb ON vb.id = c.b WHERE c.a != c.b`,
      ),
      decay: db.query<never, []>(`UPDATE cooc SET n = CAST(n * (CASE ${decayCase} END) AS INTEGER)`),
      dropDead: db.query<never, []>("DELETE FROM cooc WHERE n <= 0"),
    };
  }

  /** The id of a word the field knows, else undefined. */
  idOf(word: string): number | undefined {
    const cached = this.wordIds.get(word);
    if (cached !== undefined) return cached;
    const id = this.q.wordId.get(word)?.id;
    if (id !== undefined) this.wordIds.set(word, id);
    return id;
  }

  /**
   * After a rolled-back transaction: forget cached ids (it may have un-made words
   * the cache still holds) and read the messages waiting to settle from SQLite
   * again (a rolled-back reply is not among them, a committed prompt is).
   */
  reload(): void {
    this.dropCachedRows();
    this.pending = [];
    this.pendingWords.clear();
    this.pendingObservations = 0;
    for (const message of this.q.unsettled.all(this.state.value(THROUGH))) this.enqueue(message);
  }

  /** Word ids, counts and the observation count cached from rows that a rolled-back write may have changed. */
  private dropCachedRows(): void {
    this.wordIds.clear();
    this.counts.clear();
    this.observed = undefined;
  }

  /** A stored message joins the field: its word counts now, its n-grams at `settle`. */
  enqueue(message: StoredText): void {
    const tokens = fieldTokens(message.text);
    this.pending.push(message);
    if (tokens.length > 0) this.pendingObservations++;
    for (const token of tokens) this.pendingWords.set(token, (this.pendingWords.get(token) ?? 0) + 1);
  }

  /** Observe the enqueued messages, oldest first, in one transaction (or as part of the caller's). */
  settle(): void {
    if (this.pending.length === 0) return;
    try {
      this.atomically(() => {
        for (const { text } of this.pending) this.observeNow(text, true, false);
        this.state.set(THROUGH, this.pending.at(-1)!.id, this.clock());
      });
    } catch (error) {
      this.dropCachedRows();
      throw error;
    }
    this.pending = [];
    this.pendingWords.clear();
    this.pendingObservations = 0;
  }

  /**
   * Observe a text into the field (one transaction, or part of the caller's).
   * `spoken`: a user message or a reply (its words count as spoken); false for
   * a ring. `knownOnly`: only words the field has heard spoken are observed
   * (the stretches between unknown words, each as its own sequence), so a hot
   * ring cannot teach the field non-words.
   */
  observe(text: string, options: { spoken?: boolean; knownOnly?: boolean } = {}): void {
    const { spoken = true, knownOnly = false } = options;
    try {
      this.atomically(() => this.observeNow(text, spoken, knownOnly));
    } catch (error) {
      this.dropCachedRows();
      throw error;
    }
  }

  /**
   * `fn` in a transaction of its own, or as part of the caller's, not in a
   * savepoint there: SQLite first copies each page a savepoint changes into a
   * statement journal, and a turn's two texts change ~270 (the settle inside the
   * idle work's commit cost 2.2 ms of CPU instead of 1.5, 100k messages). So a
   * throw from here must roll the caller's transaction back, as every caller's
   * does (memory.atomically, Leo.storeRing).
   */
  private atomically(fn: () => void): void {
    if (this.db.inTransaction) fn();
    else this.db.transaction(fn).immediate();
  }

  private observeNow(text: string, spoken: boolean, knownOnly: boolean): void {
    const tokens = fieldTokens(text);
    if (tokens.length === 0) return;
    const runs = knownOnly ? this.knownRuns(tokens) : [tokens];
    for (const run of runs) this.observeTokens(run, spoken);
    const observed = (this.observed = this.state.increment(OBSERVATIONS, this.clock()));
    if (observed % this.config.forgetEvery === 0) this.forget();
  }

  /** The stretches of `tokens` made of punctuation and words spoken at least once. */
  private knownRuns(tokens: readonly string[]): string[][] {
    const runs: string[][] = [[]];
    for (const token of tokens) {
      if (!isWord(token) || this.spokenCount(token) > 0) runs.at(-1)!.push(token);
      else if (runs.at(-1)!.length > 0) runs.push([]);
    }
    return runs.filter((run) => run.length > 0);
  }

  private observeTokens(tokens: string[], spoken: boolean): void {
    const fresh = new Set<number>();
    const ids = tokens.map((token) => {
      const known = this.idOf(token);
      if (known !== undefined) return known;
      const id = this.q.insertWord.get(token)!.id;
      this.wordIds.set(token, id);
      fresh.add(id);
      return id;
    });
    // counted first, then one upsert per distinct key (a 64 KB text: 49k statements instead of 116k;
    // an ordinary turn has few repeats, and its cost is the rows it touches, not the statements:
    // multi-row upserts took a turn's ~256 statements to 40 but their CPU from 1.45 to 2.3 ms at
    // 100k messages, since SQLite journals a multi-row write that may fail halfway)
    const words = new Map<number, { token: string; n: number }>();
    const bigrams = new Map<string, [number, number, number]>();
    const trigrams = new Map<string, [number, number, number, number]>();
    const pairs = new Map<string, [number, number, number]>();
    const window = this.config.coocWindow;
    const coocEnd = Math.min(ids.length, this.config.coocTokens);
    for (let i = 0; i < ids.length; i++) {
      const a = ids[i];
      const word = words.get(a);
      if (word) word.n++;
      else words.set(a, { token: tokens[i], n: 1 });
      if (i + 1 < ids.length) count(bigrams, [a, ids[i + 1], 0]);
      if (i + 2 < ids.length) count(trigrams, [a, ids[i + 1], ids[i + 2], 0]);
      // positions i < j: the pair (i,j) counts for cooc(a,b) and cooc(b,a), one row;
      // (i,j) and (j,i) both land on (a,a), so a self pair gains 2
      for (let j = i + 1; j <= Math.min(coocEnd - 1, i + window); j++) {
        const b = ids[j];
        count(pairs, [Math.min(a, b), Math.max(a, b), 0], a === b ? 2 : 1);
      }
    }
    for (const [id, { token, n }] of words) {
      this.q.countWords.run(n, spoken ? n : 0, id);
      const cached = this.counts.get(token); // the cached counts follow the row
      if (cached) {
        cached.count += n;
        if (spoken) cached.spoken += n;
      }
    }
    for (const [a, b, n] of bigrams.values()) this.q.addBigram.run(a, b, n);
    for (const [a, b, c, n] of trigrams.values()) this.q.addTrigram.run(a, b, c, n);
    // a pair with a fresh word cannot have a row yet: it starts at newPairStart, and each
    // later occurrence adds 1; an existing pair gains its count
    const { newPairStart } = this.config;
    for (const [a, b, n] of pairs.values()) {
      this.q.addCooc.run(a, b, fresh.has(a) || fresh.has(b) ? newPairStart + n - 1 : n);
    }
  }

  /** Co-occurrence decays (n-grams do not); pairs reaching zero disappear. */
  forget(): void {
    this.q.decay.run();
    this.q.dropDead.run();
  }

  /** Texts observed, enqueued ones included. */
  observations(): number {
    return (this.observed ??= this.state.value(OBSERVATIONS)) + this.pendingObservations;
  }

  /** The ids of the words (undefined: unknown); the ones not cached are read in one statement. */
  private ids(words: readonly string[]): (number | undefined)[] {
    const missing = [...new Set(words.filter((w) => !this.wordIds.has(w)))];
    if (missing.length > 1) {
      for (const { word, id } of this.q.wordIds.all(JSON.stringify(missing))) this.wordIds.set(word, id);
    }
    return words.map((w) => this.idOf(w));
  }

  bigram(a: string, b: string): number {
    const [x, y] = this.ids([a, b]);
    return x === undefined || y === undefined ? 0 : (this.q.bigram.get(x, y)?.n ?? 0);
  }

  trigram(a: string, b: string, c: string): number {
    const [x, y, z] = this.ids([a, b, c]);
    return x === undefined || y === undefined || z === undefined ? 0 : (this.q.trigram.get(x, y, z)?.n ?? 0);
  }

  cooc(a: string, b: string): number {
    const [x, y] = this.ids([a, b]);
    return x === undefined || y === undefined ? 0 : (this.q.cooc.get(Math.min(x, y), Math.max(x, y))?.n ?? 0);
  }

  private stored(word: string): StoredCounts {
    let counts = this.counts.get(word);
    if (counts === undefined) {
      const row = this.q.counts.get(word);
      this.counts.set(word, (counts = { count: row?.count ?? 0, spoken: row?.count_spoken ?? 0 }));
    }
    return counts;
  }

  /**
   * Read the stored counts of the words not cached yet in one statement, so a
   * turn's look-ups of them (novelty, the non-word test) hit the cache instead
   * of one statement a word.
   */
  readCounts(words: Iterable<string>): void {
    const missing = [...new Set(words)].filter((w) => !this.counts.has(w));
    if (missing.length < 2) return;
    const rows = new Map(this.q.countsOf.all(JSON.stringify(missing)).map((r) => [r.word, r]));
    for (const word of missing) {
      const row = rows.get(word);
      this.counts.set(word, { count: row?.count ?? 0, spoken: row?.count_spoken ?? 0 });
    }
  }

  /** Occurrences of the word, enqueued messages included (n-grams and co-occurrence count settled ones only). */
  wordCount(word: string): number {
    return this.stored(word).count + (this.pendingWords.get(word) ?? 0);
  }

  /** How often the word occurred in user messages and replies (rings not counted), enqueued ones included. */
  spokenCount(word: string): number {
    return this.stored(word).spoken + (this.pendingWords.get(word) ?? 0);
  }

  /** Every word spoken at least `n` times, with its count (the theme rebuild's candidates). */
  spokenAtLeast(n: number): Map<string, number> {
    return new Map(this.q.spokenAtLeast.all(n).map((r) => [r.word, r.count_spoken]));
  }

  /** Share of the token sequence's trigrams already in the field; undefined with fewer than 3 tokens. */
  knownTrigramShare(tokens: readonly string[]): number | undefined {
    if (tokens.length < 3) return undefined;
    const ids = this.ids(tokens);
    const triples: number[][] = [];
    for (let i = 0; i + 2 < ids.length; i++) {
      const [a, b, c] = [ids[i], ids[i + 1], ids[i + 2]];
      if (a !== undefined && b !== undefined && c !== undefined) triples.push([a, b, c]);
    }
    // one statement for the whole prompt, not one a trigram (~10 a turn)
    const known = triples.length === 0 ? 0 : this.q.knownTrigrams.get(JSON.stringify(triples))!.n;
    return known / (ids.length - 2);
  }

  /**
   * The whole co-occurrence graph, read in one scan (forgetting keeps it to the
   * pairs reinforced lately, so this stays small; used by the theme rebuild).
   */
  graph(): CooccurrenceGraph {
    const graph: CooccurrenceGraph = new Map();
    const link = (from: string, to: string, n: number) => {
      let edges = graph.get(from);
      if (!edges) graph.set(from, (edges = new Map()));
      edges.set(to, n);
    };
    for (const { a, b, n } of this.q.pairs.all()) {
      link(a, b, n);
      link(b, a, n);
    }
    return graph;
  }
}
