/**
 * leo-calibrate.ts — `bun run leo:calibrate`: does each leo signal mean
 * something on a real conversation with a real kernel? (docs/leo.md §9)
 *
 * Starts the real service (src/main.ts) on the bundled kernel in a fresh
 * temporary home, plays the labelled conversation of tools/leo-conversation.ts
 * over HTTP (waiting for the idle rings where it says so), then reads the
 * per-turn record and prints each signal's min / median / max and every target
 * as pass or fail. Then two A/B comparisons: the topics' bins on and off (same
 * seeds, in-process sessions on copies of the home), and re-sampling (the
 * chosen candidate against the ones it beat). Exits 1 when a target fails.
 *
 *   bun run leo:calibrate                     # the whole conversation, full A/B
 *   bun run leo:calibrate --quick             # rings after a third of the pauses, no bins A/B (bun run test runs it)
 *   bun run leo:calibrate --model DIR         # another kernel (e.g. a freshly trained one)
 *   bun run leo:calibrate --json FILE         # also write every figure as JSON
 *   bun run leo:calibrate --keep              # keep the temporary home to look into
 */
import { Database } from "bun:sqlite";
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { withLeoOverrides } from "../src/config/leo.ts";
import { loadRuntimeConfig, REPO_ROOT, resolveModelDir } from "../src/config/runtime.ts";
import { Engine } from "../src/engine/index.ts";
import { contentWords, words } from "../src/leo/tokens.ts";
import { openSession } from "../src/orchestrator/index.ts";
import { CONVERSATION, PROBES, TOPIC_WORDS, type Line, type Topic } from "./leo-conversation.ts";

export interface CalibrationOptions {
  quick?: boolean;
  /** a kernel directory; default: the bundled models/default */
  modelDir?: string;
  /** compute threads of the service and the A/B engine */
  threads?: number;
  /** keep the temporary home (its path is logged) for a closer look */
  keep?: boolean;
  log?: (line: string) => void;
}

export interface Target {
  signal: string;
  target: string;
  measured: string;
  pass: boolean;
}

export interface Calibration {
  kernel: string;
  turns: number;
  signals: { name: string; min: number; median: number; max: number }[];
  targets: Target[];
  bins: { topic: Topic; words: string[]; on: number; off: number; nonWordsOn: number; nonWordsOff: number; probes: number }[];
  resampling: { turns: number; chosenNonWords: number; rejectedNonWords: number; chosenStock: number; rejectedStock: number };
  seconds: number;
}

const SEED = 7;
const TURN_DEADLINE_MS = 120_000;
const RING_DEADLINE_MS = 60_000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);
const std = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const pct = (x: number) => `${(100 * x).toFixed(0)} %`;
const f2 = (x: number) => x.toFixed(2);

/** The service as a child process: resolves with its URL once it listens. */
async function startService(home: string, threads: number, log: (line: string) => void) {
  const child = Bun.spawn(["bun", join(REPO_ROOT, "src", "main.ts")], {
    cwd: REPO_ROOT,
    env: { ...process.env, ARIANNA_HOME: home, ARIANNA_HOST: "127.0.0.1", ARIANNA_PORT: "0", ARIANNA_SEED: String(SEED), ARIANNA_THREADS: String(threads) },
    stdout: "pipe",
    stderr: "pipe",
  });
  let output = "";
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`the service did not start within 60 s:\n${output}`)), 60_000);
    const read = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        output += decoder.decode(chunk, { stream: true });
        const m = /listening on (http:\/\/[^\s]+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolveUrl(m[1]);
        }
      }
    };
    void read(child.stdout);
    void read(child.stderr);
    void child.exited.then((code) => reject(new Error(`the service exited (${code}) before listening:\n${output}`)));
  });
  log(`service: ${url} (home ${home})`);
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      await child.exited;
    },
  };
}

interface TurnRecord {
  line: Line;
  messageId: number;
  text: string;
  arianna: {
    presence: { novelty: number; arousal: number; entropy: number; pulse: number };
    trauma: { score: number; level: number; wounded: boolean; event: boolean };
    /** the active themes, with their words as they were at that turn */
    themes: { themeId: number; words: string[]; trend: string }[];
    quality: number;
    candidates: number;
    external_ratio: number;
    /** the recalled words the recall bias pointed the reply at */
    recall: string[];
  };
  /** snapshots that entered this turn's context (their use count went up) */
  recalled: number[];
}

async function playConversation(url: string, db: Database, lines: readonly Line[], log: (line: string) => void) {
  const uses = () => new Map(db.query<{ id: number; uses: number }, []>("SELECT id, uses FROM snapshots").all().map((r) => [r.id, r.uses]));
  const records: TurnRecord[] = [];
  for (const [i, line] of lines.entries()) {
    const before = uses();
    const response = await fetch(`${url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "arianna", messages: [{ role: "user", content: line.text }], stream: false, options: { seed: 1000 + i } }),
      signal: AbortSignal.timeout(TURN_DEADLINE_MS),
    });
    if (!response.ok) throw new Error(`turn ${i + 1}: HTTP ${response.status} ${await response.text()}`);
    const body = (await response.json()) as { arianna: TurnRecord["arianna"] & { message_id: number; text: string } };
    const after = uses();
    const recalled = [...after].filter(([id, n]) => n > (before.get(id) ?? 0)).map(([id]) => id);
    records.push({ line, messageId: body.arianna.message_id, text: body.arianna.text, arianna: body.arianna, recalled });
    log(`${String(i + 1).padStart(2)} ${line.label.padEnd(8)} T${f2(body.arianna.trauma.score)} A${f2(body.arianna.presence.arousal)} N${f2(body.arianna.presence.novelty)} q${f2(body.arianna.quality)}×${body.arianna.candidates}  ${line.text.slice(0, 40)} → ${body.arianna.text.slice(0, 60)}`);
    if (line.idle) {
      const deadline = Date.now() + RING_DEADLINE_MS;
      const rings = () => db.query<{ n: number }, [number]>("SELECT count(*) AS n FROM rings WHERE message_id = ?").get(body.arianna.message_id)!.n;
      while (rings() < 3) {
        if (Date.now() > deadline) throw new Error(`turn ${i + 1}: the rings did not finish within ${RING_DEADLINE_MS / 1000} s`);
        await Bun.sleep(50);
      }
    }
  }
  return records;
}

interface CandidateScore {
  quality: number;
  nonWordShare?: number;
  stockShare?: number;
}

/** The bins' A/B: each probe on a fresh copy of the home, with the bins at β and at 0, same seed. */
async function binsAB(home: string, modelDir: string, threads: number, topics: { topic: Topic; words: string[] }[], seeds: number[], prompts: number) {
  const engine = await Engine.open({ threads });
  const out: Calibration["bins"] = [];
  try {
    await engine.load(modelDir);
    for (const { topic, words: themeWords } of topics) {
      const arms = { on: { uses: 0, nonWords: [] as number[] }, off: { uses: 0, nonWords: [] as number[] } };
      let probes = 0;
      for (const prompt of PROBES[topic].slice(0, prompts)) {
        for (const seed of seeds) {
          probes++;
          for (const arm of ["on", "off"] as const) {
            const copy = mkdtempSync(join(tmpdir(), "ia-calibrate-ab-"));
            try {
              cpSync(home, copy, { recursive: true });
              const session = await openSession({
                model: engine,
                modelDir,
                config: loadRuntimeConfig({ ARIANNA_HOME: copy, ARIANNA_SEED: String(SEED) }),
                // the recall bias is off in both arms: it copies the topic's words from the earlier
                // messages into either arm (garden: 50 % of the bin-off replies on the 1.6M kernel,
                // 25 % on the 5.9M), so with it the A/B measured recall, not the bins
                leoConfig: withLeoOverrides({ recall: { maxWords: 0 }, ...(arm === "on" ? {} : { bins: { beta: 0 } }) }),
                overthink: false,
              });
              const r = await session.turn(prompt, { seed });
              const metrics = session.memory.metrics.forMessage(r.messageId)!;
              await session.close();
              // the topic's own words (not the island's everyday ones); both arms answer the same prompt
              const used = words(r.text).some((w) => TOPIC_WORDS[topic].includes(w));
              if (used) arms[arm].uses++;
              arms[arm].nonWords.push(metrics.nonWordShare ?? 0);
            } finally {
              rmSync(copy, { recursive: true, force: true });
            }
          }
        }
      }
      out.push({
        topic, words: themeWords, probes,
        on: arms.on.uses / probes, off: arms.off.uses / probes,
        nonWordsOn: mean(arms.on.nonWords), nonWordsOff: mean(arms.off.nonWords),
      });
    }
  } finally {
    await engine.close();
  }
  return out;
}

export async function calibrate(options: CalibrationOptions = {}): Promise<Calibration> {
  const started = performance.now();
  const log = options.log ?? ((line: string) => console.log(line));
  const threads = options.threads ?? 1;
  const home = mkdtempSync(join(tmpdir(), "ia-calibrate-"));
  const modelDir = options.modelDir ? resolve(options.modelDir) : resolveModelDir(home);
  if (options.modelDir) {
    mkdirSync(join(home, "models"), { recursive: true });
    symlinkSync(modelDir, join(home, "models", "current"));
  }
  try {
    const service = await startService(home, threads, log);
    const db = new Database(join(home, "resonance.sqlite3"), { readonly: true });
    let records: TurnRecord[];
    try {
      // the quick form waits for the rings after every third idle pause only
      let pauses = 0;
      const lines = options.quick ? CONVERSATION.map((line) => (line.idle && pauses++ % 3 !== 0 ? { ...line, idle: false } : line)) : CONVERSATION;
      records = await playConversation(service.url, db, lines, log);
      // the last turn's idle work (bins, maintenance, rings) before reading the state
      const last = records.at(-1)!.messageId;
      const deadline = Date.now() + RING_DEADLINE_MS;
      while (db.query<{ n: number }, [number]>("SELECT count(*) AS n FROM rings WHERE message_id = ?").get(last)!.n < 3 && Date.now() < deadline) {
        await Bun.sleep(50);
      }
    } finally {
      await service.stop();
    }
    const result = analyse(db, records);
    db.close();

    // bins A/B on the topics that got a bin, pooled over them (the full run only: with the bundled
    // kernel the effect is a few replies in 36, which a handful of probes cannot show)
    const binned = result.topicBins.filter((t) => t.words.length > 0);
    const bins = options.quick ? [] : await binsAB(home, modelDir, threads, binned, [1, 2, 3], PROBES.garden.length);
    const probes = bins.reduce((n, b) => n + b.probes, 0);
    const pooled = (f: (b: Calibration["bins"][number]) => number) => bins.reduce((s, b) => s + f(b) * b.probes, 0) / probes;
    const [on, off] = [pooled((b) => b.on), pooled((b) => b.off)];
    const [nonWordsOn, nonWordsOff] = [pooled((b) => b.nonWordsOn), pooled((b) => b.nonWordsOff)];
    if (!options.quick) result.targets.push({
      signal: "bins",
      target: "with a topic's bin, replies use its words ≥ 3× as often (same seeds); non-words +≤ 1 point",
      measured: probes === 0 ? "no topic got a bin" : `${pct(on)} vs ${pct(off)} of ${probes} probes; non-words ${(100 * nonWordsOn).toFixed(1)} vs ${(100 * nonWordsOff).toFixed(1)} %`,
      pass: probes > 0 && on > off && on >= 3 * off && nonWordsOn - nonWordsOff <= 0.01,
    });
    return {
      kernel: modelDir,
      turns: records.length,
      signals: result.signals,
      targets: result.targets,
      bins,
      resampling: result.resampling,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    if (options.keep) log(`kept ${home}`);
    else rmSync(home, { recursive: true, force: true });
  }
}

/** Records one calibration target: what `signal` should do, what it did, and whether that is enough. */
type Judge = (signal: string, target: string, measured: string, pass: boolean) => void;

/** A turn's stored leo record (the metrics row), as the calibration reads it. */
interface MetricsRow {
  message_id: number;
  candidate_scores: string;
  quality: number;
  active_themes: string;
  non_word_share: number | null;
  stock_phrase_share: number | null;
}

function analyse(db: Database, records: TurnRecord[]) {
  const targets: Target[] = [];
  const target: Judge = (signal, text, measured, pass) => targets.push({ signal, target: text, measured, pass });
  presenceTargets(records, target);
  const rows = db
    .query<MetricsRow, []>(
      "SELECT message_id, candidate_scores, quality, active_themes, non_word_share, stock_phrase_share FROM metrics ORDER BY message_id",
    )
    .all();
  const resampling = resamplingTargets(rows, target);
  snapshotTargets(db, records, new Map(rows.map((r) => [r.message_id, r])), target);
  const { themes, topicBins } = themeTargets(db, records, target);

  // rings
  const rings = db.query<{ n: number; empty: number }, []>("SELECT count(*) AS n, sum(text = '') AS empty FROM rings").get()!;
  const nonEmpty = rings.n === 0 ? 0 : 1 - (rings.empty ?? 0) / rings.n;
  target("rings", "≥ 90 % non-empty", `${rings.n - (rings.empty ?? 0)}/${rings.n}`, rings.n > 0 && nonEmpty >= 0.9);
  const unspoken = themes.flatMap((t) => t.words).filter((w) => (db.query<{ c: number }, [string]>("SELECT count_spoken AS c FROM vocab WHERE word = ?").get(w)?.c ?? 0) === 0);
  target("rings", "no ring-only word in a theme", unspoken.length ? unspoken.join(", ") : "none", unspoken.length === 0);

  const signal = (name: string, xs: number[]) => ({ name, min: Math.min(...xs), median: median(xs), max: Math.max(...xs) });
  const signals = [
    signal("novelty", records.map((r) => r.arianna.presence.novelty)),
    signal("arousal", records.map((r) => r.arianna.presence.arousal)),
    signal("entropy", records.map((r) => r.arianna.presence.entropy)),
    signal("pulse", records.map((r) => r.arianna.presence.pulse)),
    signal("trauma score", records.map((r) => r.arianna.trauma.score)),
    signal("trauma level", records.map((r) => r.arianna.trauma.level)),
    signal("quality", records.map((r) => r.arianna.quality)),
    signal("candidates", records.map((r) => r.arianna.candidates)),
    signal("external ratio", records.map((r) => r.arianna.external_ratio)),
    signal("non-word share", rows.map((r) => r.non_word_share ?? 0)),
    signal("stock-phrase share", rows.map((r) => r.stock_phrase_share ?? 0)),
  ];
  return { signals, targets, resampling, topicBins };
}

/** Trauma, arousal and novelty against the conversation's labels. */
function presenceTargets(records: TurnRecord[], target: Judge): void {
  const byLabel = (...labels: string[]) => records.filter((r) => labels.includes(r.line.label));
  // trauma
  const pulled = byLabel("identity", "origin");
  const others = records.filter((r) => !pulled.includes(r));
  const eventsPulled = pulled.filter((r) => r.arianna.trauma.event).length / pulled.length;
  const eventsOthers = others.filter((r) => r.arianna.trauma.event).length / others.length;
  target("trauma events", "≥ 90 % of identity/origin messages, ≤ 10 % of the others", `${pct(eventsPulled)} / ${pct(eventsOthers)}`, eventsPulled >= 0.9 && eventsOthers <= 0.1);
  const smallTalk = byLabel("small");
  const smallLevel = median(smallTalk.map((r) => r.arianna.trauma.level));
  const smallWounded = smallTalk.filter((r) => r.arianna.trauma.wounded).length;
  target("trauma level", "median ≤ 0.2 over small talk; wounded on no small-talk turn", `median ${f2(smallLevel)}, wounded ${smallWounded}`, smallLevel <= 0.2 && smallWounded === 0);

  // arousal: capitals above every calm message (no ! and no word in capitals)
  const calm = records.filter((r) => r.line.label !== "caps" && !/!/.test(r.line.text) && !/\b\p{Lu}{2,}\b/u.test(r.line.text));
  const capsMin = Math.min(...byLabel("caps").map((r) => r.arianna.presence.arousal));
  const calmMax = Math.max(...calm.map((r) => r.arianna.presence.arousal));
  target("arousal", "every capitals/!!! message above every calm one", `caps min ${f2(capsMin)} > calm max ${f2(calmMax)}`, capsMin > calmMax);

  // novelty
  const noveltyStd = std(records.map((r) => r.arianna.presence.novelty));
  target("novelty", "standard deviation ≥ 0.15", f2(noveltyStd), noveltyStd >= 0.15);

  // the recall bias: this conversation never asks about something it told, so it should hardly fire
  const fired = records.filter((r) => r.arianna.recall.length > 0);
  target(
    "recall bias",
    "fires on ≤ 10 % of turns (nothing told is asked about)",
    `${pct(fired.length / records.length)} (${fired.length} of ${records.length}${fired.length ? `: ${fired.map((r) => `"${r.line.text.slice(0, 30)}" → ${r.arianna.recall.join(", ")}`).join("; ")}` : ""})`,
    fired.length <= 0.1 * records.length,
  );
}

/** Re-sampling: how often, and whether the chosen candidate has fewer defects than the rejected ones. */
function resamplingTargets(rows: MetricsRow[], target: Judge) {
  // re-sampling: candidate scores from the per-turn record
  const resampled = rows.filter((r) => (JSON.parse(r.candidate_scores) as CandidateScore[]).length > 1);
  const chosen = { nonWords: [] as number[], stock: [] as number[] };
  const rejected = { nonWords: [] as number[], stock: [] as number[] };
  for (const row of resampled) {
    const cands = JSON.parse(row.candidate_scores) as CandidateScore[];
    const best = cands.reduce((b, c, i) => (c.quality > cands[b].quality ? i : b), 0);
    cands.forEach((c, i) => {
      const side = i === best ? chosen : rejected;
      side.nonWords.push(c.nonWordShare ?? 0);
      side.stock.push(c.stockShare ?? 0);
    });
  }
  const resampling = {
    turns: resampled.length,
    chosenNonWords: mean(chosen.nonWords), rejectedNonWords: mean(rejected.nonWords),
    chosenStock: mean(chosen.stock), rejectedStock: mean(rejected.stock),
  };
  const resampleShare = resampled.length / rows.length;
  target("re-sampling", "on 10–40 % of turns", pct(resampleShare), resampleShare >= 0.1 && resampleShare <= 0.4);
  // non-words and stock phrases together, as shares of the reply (mean over the candidates of each side)
  const chosenDefects = resampling.chosenNonWords + resampling.chosenStock;
  const rejectedDefects = resampling.rejectedNonWords + resampling.rejectedStock;
  target(
    "re-sampling",
    "chosen: no more non-words + stock phrases than the rejected (mean share)",
    `${pct(chosenDefects)} vs ${pct(rejectedDefects)} (non-words ${pct(resampling.chosenNonWords)} vs ${pct(resampling.rejectedNonWords)}, stock ${pct(resampling.chosenStock)} vs ${pct(resampling.rejectedStock)})`,
    resampled.length > 0 && chosenDefects <= rejectedDefects,
  );
  return resampling;
}

/** Snapshots: how many replies are kept, and whether a recall is about the prompt. */
function snapshotTargets(db: Database, records: TurnRecord[], metricsOf: Map<number, MetricsRow>, target: Judge): void {
  // snapshots
  const snapshots = db.query<{ id: number; text: string; themes: string }, []>("SELECT id, text, themes FROM snapshots").all();
  const snapshotOf = new Map(snapshots.map((s) => [s.id, { words: contentWords(s.text), themes: new Set(JSON.parse(s.themes) as number[]) }]));
  const savedShare = snapshots.length / records.length;
  target("snapshots", "≤ 50 % of replies saved", pct(savedShare), savedShare <= 0.5);
  let recalls = 0;
  let relevant = 0;
  for (const r of records) {
    const promptWords = contentWords(r.line.text);
    const active = new Set(JSON.parse(metricsOf.get(r.messageId)?.active_themes ?? "[]") as number[]);
    for (const id of r.recalled) {
      const s = snapshotOf.get(id);
      if (!s) continue;
      recalls++;
      if ([...promptWords].some((w) => s.words.has(w)) || [...active].some((t) => s.themes.has(t))) relevant++;
    }
  }
  target("snapshots", "≥ 70 % of recalls share a content word or active theme with the prompt", recalls ? `${relevant}/${recalls}` : "no recalls", recalls > 0 && relevant / recalls >= 0.7);
}

/** Themes and bins: one theme per topic that keeps being activated, few themes, a bin for a recurring topic. */
function themeTargets(db: Database, records: TurnRecord[], target: Judge) {
  // themes
  const themes = db
    .query<{ id: number; words: string }, []>("SELECT id, words FROM themes WHERE dissolved_at IS NULL")
    .all()
    .map((t) => ({ id: t.id, words: JSON.parse(t.words) as string[] }));
  // a theme is about a topic when at least 3 of its 10 most central words are the topic's (and most of them)
  const topicOf = (themeWords: string[]): Topic | undefined => {
    let best: Topic | undefined;
    let bestShared = 2;
    for (const topic of Object.keys(TOPIC_WORDS) as Topic[]) {
      const shared = themeWords.slice(0, 10).filter((w) => TOPIC_WORDS[topic].includes(w)).length;
      if (shared > bestShared) [best, bestShared] = [topic, shared];
    }
    return best;
  };
  const bins = db.query<{ theme_id: number; words: string }, []>("SELECT theme_id, words FROM bins WHERE theme_id IS NOT NULL AND retired_at IS NULL").all();
  const topicBins: { topic: Topic; words: string[] }[] = [];
  const themeNotes: string[] = [];
  let themesPass = true;
  for (const topic of Object.keys(TOPIC_WORDS) as Topic[]) {
    const mine = themes.filter((t) => topicOf(t.words) === topic);
    // once a message of the topic has activated a theme about it (its words as they were then),
    // do the topic's later messages keep activating one?
    const hits = records.filter((r) => r.line.topic === topic).map((r) => r.arianna.themes.some((t) => topicOf(t.words) === topic));
    const first = hits.indexOf(true);
    const later = first < 0 ? [] : hits.slice(first + 1);
    const activated = later.filter(Boolean).length;
    if (mine.length === 1) {
      const bin = bins.find((b) => b.theme_id === mine[0].id);
      topicBins.push({ topic, words: bin ? (JSON.parse(bin.words) as string[]) : [] });
    }
    const ok = mine.length === 1 && later.length > 0 && activated / later.length >= 0.8;
    themesPass &&= ok;
    themeNotes.push(`${topic}: ${mine.length} theme${mine.length === 1 ? "" : "s"}, ${activated}/${later.length} later activated`);
  }
  target("themes", "each topic: exactly one theme, activated by ≥ 80 % of its later messages", themeNotes.join("; "), themesPass);
  target("themes", "at most 1 theme per 2 turns", `${themes.length} themes / ${records.length} turns`, themes.length <= records.length / 2);
  const trends = new Set(records.flatMap((r) => r.arianna.themes.map((t) => t.trend)));
  target("themes", "trends are not all one word", [...trends].join(", ") || "none", trends.size >= 2);
  const binnedTopics = topicBins.filter((t) => t.words.length > 0).map((t) => t.topic);
  target("bins", "a recurring topic gets a bin", binnedTopics.join(", ") || "none", binnedTopics.length > 0);
  return { themes, topicBins };
}

export function report(c: Calibration): string {
  const lines = [
    `kernel ${c.kernel}: ${c.turns} turns, ${c.seconds.toFixed(0)} s`,
    "",
    "| signal | min | median | max |",
    "|---|---|---|---|",
    ...c.signals.map((s) => `| ${s.name} | ${f2(s.min)} | ${f2(s.median)} | ${f2(s.max)} |`),
    "",
    "| signal | target | measured | |",
    "|---|---|---|---|",
    ...c.targets.map((t) => `| ${t.signal} | ${t.target} | ${t.measured} | ${t.pass ? "pass" : "**FAIL**"} |`),
    "",
    "bins A/B (same seeds): share of replies using the topic's own words, bin on vs off",
    ...c.bins.map((b) => `  ${b.topic}: ${pct(b.on)} vs ${pct(b.off)} over ${b.probes} probes; non-word share ${pct(b.nonWordsOn)} vs ${pct(b.nonWordsOff)}`),
    `re-sampling A/B over ${c.resampling.turns} re-sampled turns: chosen vs rejected non-word share ${pct(c.resampling.chosenNonWords)} vs ${pct(c.resampling.rejectedNonWords)}, stock-phrase share ${pct(c.resampling.chosenStock)} vs ${pct(c.resampling.rejectedStock)}`,
  ];
  return lines.join("\n");
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const valueOf = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const threads = Number(valueOf("--threads") ?? 1);
  const result = await calibrate({ quick: args.includes("--quick"), modelDir: valueOf("--model"), threads, keep: args.includes("--keep") });
  console.log(`\n${report(result)}`);
  const json = valueOf("--json");
  if (json) writeFileSync(json, JSON.stringify(result, null, 2));
  process.exit(result.targets.every((t) => t.pass) ? 0 : 1);
}
