// The living session on the real engine with a tiny generated model: the five steps, commit order,
// re-sampling, bins on the logits, overthinking, serialization, determinism, restarts (docs/leo.md §8.5, 8.7, 8.9, 8.10).
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { withLeoOverrides, type LeoOverrides } from "../src/config/leo.ts";
import { loadModelProfile, parseChatTemplate, TRAINER_TEMPLATE_PATH } from "../src/config/model-profile.ts";
import { loadRuntimeConfig, type RuntimeConfig } from "../src/config/runtime.ts";
import { Engine, TOKEN_EOS } from "../src/engine/index.ts";
import { decodeBin } from "../src/leo/index.ts";
import { MessageFlag } from "../src/memory/index.ts";
import { openSession, type Session, type TextModel } from "../src/orchestrator/index.ts";
import { writeModelDir } from "../tools/gen-model.ts";
import { waitFor } from "./support/wait.ts";

const root = mkdtempSync(join(tmpdir(), "ia-orchestrator-"));
const modelDir = join(root, "model");
const smallModelDir = join(root, "model-small");
let engine: Engine;
let small: Engine;
const now = Date.UTC(2025, 0, 1);
const clock = () => now;

beforeAll(async () => {
  writeModelDir(modelDir, { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, vocabSize: 400, seqLen: 192, seed: 3 });
  writeModelDir(smallModelDir, { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, vocabSize: 1000, seqLen: 64, seed: 3 });
  [engine, small] = await Promise.all([Engine.open({ threads: 1 }), Engine.open({ threads: 1 })]);
  await Promise.all([engine.load(modelDir), small.load(smallModelDir)]);
});
afterAll(async () => {
  await Promise.all([engine.close(), small.close()]);
  rmSync(root, { recursive: true, force: true });
});

let homes = 0;
interface OpenOptions {
  home?: string;
  model?: TextModel;
  dir?: string;
  leo?: LeoOverrides;
  overthink?: boolean;
  runtime?: Partial<RuntimeConfig>;
}
function open(opts: OpenOptions = {}) {
  const home = opts.home ?? join(root, `home-${++homes}`);
  return openSession({
    model: opts.model ?? engine,
    modelDir: opts.dir ?? modelDir,
    config: loadRuntimeConfig({ ARIANNA_HOME: home, ARIANNA_SEED: "11" }, opts.runtime),
    clock,
    leoConfig: withLeoOverrides({ overthinking: { idleDelayMs: 0 }, ...opts.leo }),
    overthink: opts.overthink ?? false,
  });
}
const homeOf = (s: Session) => s.memory.db.filename.replace(/\/resonance\.sqlite3$/, "");

describe("the kernel's profile", () => {
  test("the chat template comes from the manifest, else from the trainer; a bare dir's sha256 is computed", () => {
    const bare = loadModelProfile(modelDir);
    expect(bare.template).toEqual(parseChatTemplate(JSON.parse(readFileSync(TRAINER_TEMPLATE_PATH, "utf8"))));
    expect(bare.sha256).toBe(new Bun.CryptoHasher("sha256").update(readFileSync(join(modelDir, "model.bin"))).digest("hex"));
    const dir = join(root, "with-manifest");
    mkdirSync(dir);
    const chat_template = { system: "<sys>{text}</sys>", user: "Q: {text}\n", assistant: "A: {text}\n", generation_prefix: "A:", stop: ["\nQ:"] };
    writeFileSync(join(dir, "manifest.json"), JSON.stringify({ name: "Ari", origin: "I am a test.", sha256: { model: "ab" }, chat_template }));
    const profile = loadModelProfile(dir);
    expect(profile.template.user).toBe("Q: {text}\n");
    expect([profile.name, profile.origin, profile.sha256]).toEqual(["Ari", "I am a test.", "ab"]);
  });
});

describe("a turn", () => {
  test("the user message is committed before generation; the reply commits with its metrics", async () => {
    const session = await open();
    const reader = new Database(session.memory.db.filename, { readonly: true });
    const seenDuringGeneration: string[][] = [];
    const result = await session.turn("hello, little one", {
      onToken: () => {
        if (seenDuringGeneration.length === 0) {
          seenDuringGeneration.push((reader.query("SELECT role FROM messages").all() as { role: string }[]).map((r) => r.role));
        }
      },
    });
    expect(seenDuringGeneration).toEqual([["user"]]);
    const rows = reader.query("SELECT id, role, text FROM messages ORDER BY id").all();
    expect(rows).toEqual([
      { id: result.userMessageId, role: "user", text: "hello, little one" },
      { id: result.messageId, role: "arianna", text: result.text },
    ]);
    const metrics = session.memory.metrics.forMessage(result.messageId)!;
    expect(metrics.presencePulse).toBeCloseTo(result.presence.pulse);
    expect(metrics.replyTokens).toBeGreaterThan(0);
    expect(metrics.modelSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(metrics.seed).toBe(11);
    for (const v of [result.presence.novelty, result.presence.arousal, result.presence.entropy, result.presence.pulse, result.quality]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    expect(result.context.promptTokens).toBeLessThanOrEqual(result.context.budget);
    reader.close();
    await session.close();
  });

  test("a failing commit leaves neither reply nor metrics, and the next turn works", async () => {
    const session = await open();
    const observations = () => session.leo.field.observations();
    session.memory.db.run("CREATE TRIGGER fail BEFORE INSERT ON metrics BEGIN SELECT RAISE(ABORT, 'disk on fire'); END");
    // (not expect().rejects: in Bun 1.4 it waits without letting the engine's worker answer)
    const failed = await session.turn("are you there").then(() => undefined, (e: Error) => e);
    expect(failed?.message).toMatch(/disk on fire/);
    expect(session.memory.messages.recent(5).map((m) => m.role)).toEqual(["user"]);
    expect(observations()).toBe(1); // only the prompt: the reply's observation rolled back
    session.memory.db.run("DROP TRIGGER fail");
    const ok = await session.turn("are you there now");
    expect(session.memory.metrics.forMessage(ok.messageId)).toBeDefined();
    await session.close();
  });
});

describe("re-sampling (§8.7)", () => {
  test("a reply below the threshold is re-sampled and the best candidate is returned", async () => {
    const session = await open({ leo: { quality: { resampleBelow: 1.01 } } }); // nothing is good enough
    const result = await session.turn("tell me about the night");
    expect(result.candidates.length).toBe(3);
    const best = Math.max(...result.candidates.map((c) => c.quality));
    expect(result.quality).toBe(best);
    expect(result.text).toBe(result.candidates[result.chosen].text);
    expect(new Set(result.candidates.map((c) => c.temperature.toFixed(2))).size).toBe(3);
    const metrics = session.memory.metrics.forMessage(result.messageId)!;
    expect(metrics.candidateScores.map((c) => c.quality)).toEqual(result.candidates.map((c) => c.quality));
    expect(session.memory.messages.get(result.messageId)!.flags & MessageFlag.Resampled).toBeTruthy();
    await session.close();
  });
});

describe("themes become bins (§8.5)", () => {
  test("a theme active for 3 turns gets a bin that parses, enters the bias, and changes the logits", async () => {
    const session = await open({ leo: { bins: { beta: 1 } } });
    const { leo, memory } = session;
    memory.atomically(() => {
      for (let i = 0; i < 4; i++) leo.field.observe("waves salt harbor sailors anchor tide lighthouse");
    });
    leo.themes.rebuild();
    const sea = leo.themes.all().find((t) => t.words.includes("harbor"))!;
    // the third prompt also asks who she is: trauma rises, and the origin's bin joins the next bias
    for (const prompt of ["the tide and the harbor", "sailors at the harbor", "waves against the lighthouse. who are you?"]) {
      await session.turn(prompt);
      await session.idle();
    }
    const bin = leo.bins.forTheme(sea.id)!;
    expect(bin).toBeDefined();
    const data = decodeBin(readFileSync(join(homeOf(session), bin.path)));
    expect(data.vocabSize).toBe(engine.info!.vocabSize);
    expect(data.ids.length).toBeGreaterThan(0);

    const fourth = await session.turn("anchor and salt");
    expect(fourth.binsUsed).toContain(bin.id);
    expect(memory.metrics.forMessage(fourth.messageId)!.binsUsed).toContain(bin.id);
    expect(memory.episodes.latest()!.title).toBe(sea.words.slice(0, 3).join(" · ")); // titled from its theme
    // bootstrap gravity: with trauma above 0 the origin's bin joins the bias too
    expect(leo.trauma.level()).toBeGreaterThan(0);
    expect(fourth.binsUsed).toContain(leo.bins.origin()!.id);

    // the bin's bias moves greedy decoding onto its tokens
    const greedy = async (bias?: { ids: number[]; weights: number[] }) => {
      const g = engine.generate("quiet", { temperature: 0, maxTokens: 1, bias });
      const tokens = [];
      for await (const t of g) tokens.push(t.id);
      return tokens[0];
    };
    const plain = await greedy();
    const biased = await greedy(leo.bins.bias([{ bin, scale: 100 }]));
    expect([...data.ids]).toContain(biased);
    expect(biased).not.toBe(plain);

    // a kernel with another vocabulary: the bins are rebuilt for it
    await engine.swap(smallModelDir);
    try {
      await session.useModel(loadModelProfile(smallModelDir));
      expect(leo.bins.forTheme(sea.id)!.vocabSize).toBe(small.info!.vocabSize);
      expect(decodeBin(readFileSync(join(homeOf(session), bin.path))).vocabSize).toBe(small.info!.vocabSize);
    } finally {
      await engine.swap(modelDir);
    }
    await session.close();
  });
});

describe("overthinking (§8.9)", () => {
  test("rings are stored with their turn and observed into the field, never returned", async () => {
    const session = await open({ overthink: true });
    const result = await session.turn("what do you dream about");
    const before = session.leo.field.observations();
    await session.idle();
    const rings = session.leo.rings.forMessage(result.messageId);
    expect(rings.map((r) => r.kind)).toEqual(["echo", "drift", "meta"]);
    // seeded in the chat format, with end-of-text held off for 3 tokens: none is empty
    for (const ring of rings) expect(ring.text.length).toBeGreaterThan(0);
    expect(session.memory.metrics.forMessage(result.messageId)!.emptyRings).toBe(0);
    expect(session.leo.field.observations()).toBe(before + 3);
    expect(session.memory.messages.count()).toBe(2); // rings are not messages
    for (const ring of rings) expect(result.text.includes(ring.text)).toBe(false);
    await session.close();
  });

  test("a new request cancels pending rings at once", async () => {
    // rings crawl (one token per 30 ms) so the next request surely arrives mid-ring
    const calls: { ring: boolean; tokens: number; budget: number; signal?: AbortSignal }[] = [];
    const crawlingRings: TextModel = {
      get info() {
        return engine.info;
      },
      tokenize: (text, opts) => engine.tokenize(text, opts),
      generate(prompt, params, signal) {
        const ring = params.bias === undefined;
        // a ring here never stops early on its own (no stop strings, no EOS): only the next request ends it
        const endless = { ...params, stop: undefined, bias: { ids: [TOKEN_EOS], weights: [-1e9] } };
        const inner = engine.generate(prompt, ring ? endless : params, signal);
        const call = { ring, tokens: 0, budget: params.maxTokens ?? Infinity, signal };
        calls.push(call);
        return {
          result: inner.result,
          async *[Symbol.asyncIterator]() {
            for await (const token of inner) {
              if (call.ring) await Bun.sleep(30);
              call.tokens++;
              yield token;
            }
          },
        };
      },
    };
    const session = await open({ model: crawlingRings, overthink: true });
    const first = await session.turn("first question");
    await waitFor(() => calls.some((c) => c.ring), "the echo ring's start");
    const echo = calls.findIndex((c) => c.ring);
    await session.turn("second question");
    // the turn did not wait for the ring: the ring was cancelled, short of its token budget
    expect(calls[echo].signal?.aborted).toBe(true);
    expect(calls[echo].tokens).toBeLessThan(calls[echo].budget);
    expect(calls.findIndex((c, i) => i > echo && !c.ring)).toBe(echo + 1); // no later ring of the first turn began
    expect(session.leo.rings.forMessage(first.messageId)).toEqual([]);
    await session.close();
  });
});

describe("the session", () => {
  test("turns never interleave", async () => {
    const session = await open();
    const log: number[] = [];
    const texts = ["one", "two", "three"];
    const results = await Promise.all(texts.map((t, i) => session.turn(t, { onToken: () => log.push(i) })));
    // each turn's tokens arrive as one block, in call order
    expect(log).toEqual([...log].sort((a, b) => a - b));
    const rows = session.memory.messages.recent(10).reverse();
    expect(rows.map((m) => m.role)).toEqual(["user", "arianna", "user", "arianna", "user", "arianna"]);
    expect(rows.filter((m) => m.role === "user").map((m) => m.text)).toEqual(texts);
    results.forEach((r) => expect(r.messageId).toBe(r.userMessageId + 1));
    await session.close();
  });

  test("given a seed, a turn is deterministic", async () => {
    const run = async () => {
      const session = await open();
      const out = [];
      for (const text of ["good evening", "tell me about rivers"]) {
        const r = await session.turn(text, { seed: 5 });
        out.push({ text: r.text, quality: r.quality, presence: r.presence, trauma: r.trauma.score });
      }
      await session.close();
      return out;
    };
    expect(await run()).toEqual(await run());
  });

  test("everything survives a restart (§8.10)", async () => {
    const roomy = { replyBudgetTokens: 24 }; // leaves the context room for earlier messages
    const first = await open({ overthink: true, runtime: roomy });
    const home = homeOf(first);
    const a = await first.turn("I remember the river and its memory");
    await first.idle();
    const state = (s: Session) => ({
      messages: s.memory.messages.count(),
      observations: s.leo.field.observations(),
      trauma: s.leo.trauma.level(),
      wounded: s.leo.trauma.reading().woundedWords,
      snapshots: s.leo.snapshots.all().length,
      bins: s.leo.bins.live().map((b) => b.path),
      rings: s.leo.rings.forMessage(a.messageId).length,
      episode: s.memory.episodes.latest(),
    });
    const before = state(first);
    await first.close();

    const second = await open({ home, overthink: true, runtime: roomy });
    expect(state(second)).toEqual(before);
    const b = await second.turn("and now?");
    expect(b.userMessageId).toBe(a.messageId + 1); // the conversation never reset
    expect(b.context.recent).toContain(a.userMessageId);
    expect(b.episodeId).toBe(a.episodeId);
    await second.close();
  });

  test("a small seq_len still gets the most relevant memory, within budget", async () => {
    const session = await open({ model: small, dir: smallModelDir });
    const { memory, leo } = session;
    const planted = memory.atomically(() => {
      const m = memory.messages.append("user", "zebra");
      leo.observe(m);
      for (let i = 0; i < 30; i++) leo.observe(memory.messages.append(i % 2 ? "arianna" : "user", `so so ${i}`));
      return m;
    });
    const result = await session.turn("zebra?");
    const replyBudget = 32; // half of seq_len 64
    expect(result.context.budget).toBe(64 - replyBudget);
    expect(result.context.promptTokens).toBeLessThanOrEqual(result.context.budget);
    expect(result.context.memory).toEqual([planted.id]);
    expect(result.context.persona).toBe(false); // the persona is too long for this kernel
    await session.close();
  });
});
