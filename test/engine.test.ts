/**
 * engine.test.ts — the Engine (main thread) + Worker + libarianna.so, end to
 * end, on small synthetic models written by tools/gen-model.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Engine, EngineError, FormatError, libraryCandidates, resolveLibrary, type GenerationSummary, type SamplingParams,
  type TokenEvent,
} from "../src/engine/index.ts";
import { REPO_ROOT } from "../src/engine/library.ts";
import { writeModelDir, type ModelOptions } from "../tools/gen-model.ts";

const SMALL = { dim: 64, hiddenDim: 192, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 512, seqLen: 128 };
// Long enough that a full-context generation takes a while (for the timer / cancel tests).
const MEDIUM = { dim: 128, hiddenDim: 384, nLayers: 4, nHeads: 4, nKvHeads: 4, vocabSize: 1024, seqLen: 768 };
const NO_EOS = { ids: [1, 2], weights: [-1000, -1000] };
const PROMPT = "Once upon a time, the sea";

let root: string;
let engine: Engine;
const dirs: Record<string, string> = {};

function model(name: string, opts: ModelOptions): string {
  const dir = join(root, name);
  writeModelDir(dir, opts);
  dirs[name] = dir;
  return dir;
}

async function run(
  prompt: string | number[], params: SamplingParams = {}, e: Engine = engine,
): Promise<{ events: TokenEvent[]; ids: number[]; text: string; summary: GenerationSummary }> {
  const gen = e.generate(prompt, params);
  const events: TokenEvent[] = [];
  for await (const ev of gen) events.push(ev);
  const summary = await gen.result;
  return { events, ids: events.map((x) => x.id), text: events.map((x) => x.text).join(""), summary };
}

const greedy = (maxTokens: number): SamplingParams => ({ temperature: 0, maxTokens });

beforeAll(async () => {
  // Make sure the host library is current (the .so target only: the runner may be absent).
  const mk = Bun.spawnSync(["make", "-s", "-C", join(REPO_ROOT, "csrc"), "../build/host/libarianna.so"]);
  if (mk.exitCode !== 0) throw new Error(`building libarianna.so failed:\n${mk.stderr.toString()}`);
  root = mkdtempSync(join(tmpdir(), "arianna-engine-"));
  for (const f of [0, 1, 2] as const) {
    model(`v${f}`, { ...SMALL, format: f, seed: 1 });
    model(`v${f}sep`, { ...SMALL, format: f, seed: 1, sharedClassifier: false });
  }
  model("other", { ...SMALL, format: 1, seed: 2, seqLen: 96 });
  model("medium", { ...MEDIUM, format: 1, seed: 5 });
  engine = await Engine.open({ threads: 1 });
  await engine.load(dirs.v1);
});

afterAll(async () => {
  await engine?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe("library choice", () => {
  test("candidates follow the CPU", () => {
    const arm = (f: string) =>
      libraryCandidates({ root: "/r", arch: "arm64", cpuinfo: `Features\t: fp asimd ${f}\n` }).map((c) => c.variant);
    expect(arm("asimddp")).toEqual(["host", "aarch64-cortex_a76", "aarch64-cortex_a72"]);
    expect(arm("crc32")).toEqual(["host", "aarch64-cortex_a72"]);
    const x86 = (f: string) =>
      libraryCandidates({ root: "/r", arch: "x64", cpuinfo: `flags\t\t: sse ${f}\n` }).map((c) => c.variant);
    expect(x86("avx2 fma")).toEqual(["host", "x86_64"]);
    expect(x86("avx2")).toEqual(["host"]);
  });

  test("a host build older than csrc/ is rebuilt before it is used; an up-to-date one is not", () => {
    const root = mkdtempSync(join(tmpdir(), "ia-library-"));
    try {
      // a csrc/ whose make "builds" the real library by copying it: the staleness is make's own answer
      mkdirSync(join(root, "csrc"));
      writeFileSync(join(root, "csrc", "core.c"), "/* a source */\n");
      const lib = join(REPO_ROOT, "build", "host", "libarianna.so");
      writeFileSync(join(root, "csrc", "Makefile"),
        `host: ../build/host/libarianna.so\n../build/host/libarianna.so: core.c\n\tmkdir -p ../build/host && cp ${lib} $@\n`);
      const lines: string[] = [];
      const pick = (build = true) => resolveLibrary({ root, env: {}, arch: "x64", cpuinfo: "", build, log: (l) => lines.push(l) });
      expect(pick()).toMatchObject({ variant: "host", built: true });
      expect(pick()).toMatchObject({ variant: "host", built: false });
      const before = new Date(Date.now() - 3_600_000);
      utimesSync(join(root, "build", "host", "libarianna.so"), before, before); // a `git pull` changed a source since
      expect(pick(false)).toMatchObject({ variant: "host", built: false }); // asked not to build: used as it is
      expect(pick()).toMatchObject({ variant: "host", built: true });
      expect(lines.some((l) => l.includes("is older than csrc/"))).toBe(true);
      expect(pick()).toMatchObject({ variant: "host", built: false });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("the engine reports its library and kernel", () => {
    expect(engine.library.libPath).toEndWith("libarianna.so");
    expect(["scalar", "avx2", "neon", "neon-dotprod"]).toContain(engine.library.kernel);
    expect(engine.library.version).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe("loading", () => {
  test("v0 and v1 load with the right info", async () => {
    for (const f of [0, 1]) {
      for (const sep of [false, true]) {
        const info = await engine.load(dirs[`v${f}${sep ? "sep" : ""}`]);
        expect(info).toMatchObject({
          dim: 64, hiddenDim: 192, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 512, seqLen: 128,
          format: f, groupSize: f === 2 ? 32 : 0, sharedClassifier: !sep, threads: 1,
        });
        const params = 512 * 64 * (sep ? 2 : 1) + 2 * (2 * 64 + 64 * 64 * 2 + 32 * 64 * 2 + 3 * 192 * 64) + 64;
        expect(info.nParams).toBe(params);
        expect(info.fileBytes).toBe(readFileSync(info.modelPath).length);
        expect(engine.info).toEqual(info);
      }
    }
    await engine.load({ model: join(dirs.v1, "model.bin"), tokenizer: join(dirs.v1, "tokenizer.bin") });
    expect(engine.info?.format).toBe(1);
  });

  test("tokenize / detokenize round trip", async () => {
    await engine.load(dirs.v1);
    const text = "hello world, the memory of the sea";
    const ids = await engine.tokenize(text);
    expect(ids[0]).toBe(1);
    expect(ids.length).toBeLessThan(text.length); // merges happened
    expect(await engine.detokenize(ids)).toBe(text);
    expect((await engine.tokenize(text, { bos: false }))[0]).not.toBe(1);
    expect(await engine.detokenize(await engine.tokenize("é ✓ ünïcödé"))).toBe("é ✓ ünïcödé");
  });

  test("corrupt models raise E_FORMAT and the old model keeps serving", async () => {
    await engine.load(dirs.v1);
    const before = await run(PROMPT, greedy(12));
    const good = readFileSync(join(dirs.v1, "model.bin"));
    const tok = readFileSync(join(dirs.v1, "tokenizer.bin"));
    const bad = (name: string, bytes: Uint8Array) => {
      const d = join(root, name);
      rmSync(d, { recursive: true, force: true });
      Bun.spawnSync(["mkdir", "-p", d]);
      writeFileSync(join(d, "model.bin"), bytes);
      writeFileSync(join(d, "tokenizer.bin"), tok);
      return d;
    };
    const truncated = bad("truncated", good.subarray(0, good.length - 1000));
    const magic = Buffer.from(good);
    magic.writeUInt32LE(0x616b3433, 0);
    const wrongMagic = bad("magic", magic);
    const version = Buffer.from(good);
    version.writeInt32LE(7, 4);
    const wrongVersion = bad("version", version);
    for (const d of [truncated, wrongMagic, wrongVersion]) {
      const err = await engine.load(d).then(() => null, (e) => e);
      expect(err).toBeInstanceOf(EngineError);
      expect(err).toBeInstanceOf(FormatError);
      expect(err.codeName).toBe("E_FORMAT");
      expect(err.code).toBe(-2);
      expect(err.message.length).toBeGreaterThan(0);
    }
    const missing = await engine.load(join(root, "nowhere")).then(() => null, (e) => e);
    expect(missing).toBeInstanceOf(EngineError);
    expect(missing.codeName).toBe("E_IO");
    // a tokenizer for another vocabulary
    const mismatch = await engine
      .load({ model: join(dirs.medium, "model.bin"), tokenizer: join(dirs.v1, "tokenizer.bin") })
      .then(() => null, (e) => e);
    expect(mismatch).toBeInstanceOf(EngineError);
    expect(mismatch.codeName).toBe("E_TOKENIZER");
    // still the old model, same answers
    expect(engine.info?.modelPath).toBe(join(dirs.v1, "model.bin"));
    const after = await run(PROMPT, greedy(12));
    expect(after.ids).toEqual(before.ids);
  });
});

describe("generation", () => {
  test("greedy decoding is deterministic, and identical in v0 and v1", async () => {
    await engine.load(dirs.v1);
    const a = await run(PROMPT, greedy(24));
    const b = await run(PROMPT, greedy(24));
    expect(a.ids.length).toBe(24);
    expect(b.ids).toEqual(a.ids);
    expect(new Set(a.ids).size).toBeGreaterThan(3); // not a degenerate loop
    expect(a.text).toBe(a.summary.text);
    expect(a.summary).toMatchObject({ completionTokens: 24, stopReason: "length" });
    await engine.load(dirs.v0);
    expect((await run(PROMPT, greedy(24))).ids).toEqual(a.ids);
    // separate classifiers: v0 and v1 agree too
    await engine.load(dirs.v1sep);
    const s1 = await run(PROMPT, greedy(24));
    await engine.load(dirs.v0sep);
    expect((await run(PROMPT, greedy(24))).ids).toEqual(s1.ids);
  });

  test("v2 (Q8_0, llama2.c layout) loads and decodes like its fp32 original", async () => {
    // llama2.c's export.py writes, and runq.c reads, Q8_0 weights per layer:
    // tok_emb q, s; then for each layer wq[l] q, s; ...; then wk, wv, ... the same way.
    for (const sep of [false, true]) {
      await engine.load(dirs[`v1${sep ? "sep" : ""}`]);
      const a = await run(PROMPT, greedy(8));
      const info = await engine.load(dirs[`v2${sep ? "sep" : ""}`]);
      expect(info).toMatchObject({ format: 2, groupSize: 32, sharedClassifier: !sep, dim: 64, hiddenDim: 192 });
      expect(info.fileBytes).toBe(readFileSync(info.modelPath).length);
      const q = await run(PROMPT, greedy(8));
      expect(q.ids.slice(0, 3)).toEqual(a.ids.slice(0, 3));
      expect((await run(PROMPT, greedy(8))).ids).toEqual(q.ids);
    }
  });

  test("KV prefix reuse gives the same tokens as a fresh session", async () => {
    await engine.load(dirs.v1);
    const first = await run(PROMPT, greedy(16));
    expect(first.summary.reusedTokens).toBe(0);
    const again = await run(PROMPT, greedy(16));
    expect(again.summary.reusedTokens).toBe(first.summary.promptTokens - 1);
    expect(again.ids).toEqual(first.ids);
    // continue the conversation: the prompt extends what is cached
    const prompt = await engine.tokenize(PROMPT);
    const longer = [...prompt, ...first.ids, ...(await engine.tokenize(" and then", { bos: false }))];
    const reused = await run(longer, greedy(16));
    expect(reused.summary.reusedTokens).toBeGreaterThanOrEqual(prompt.length);
    await engine.reset();
    const fresh = await run(longer, greedy(16));
    expect(fresh.summary.reusedTokens).toBe(0);
    expect(fresh.ids).toEqual(reused.ids);
    // a diverging prompt reuses only the shared prefix
    const other = await run([...prompt.slice(0, 3), 300, 301, 302], greedy(4));
    expect(other.summary.reusedTokens).toBe(3);
  });

  test("seeded sampling is reproducible; entropy stays in [0, 1]", async () => {
    await engine.load(dirs.v1);
    const p: SamplingParams = { temperature: 1, topP: 0.95, topK: 40, seed: 42, maxTokens: 32, bias: NO_EOS };
    const a = await run(PROMPT, p);
    const b = await run(PROMPT, p);
    expect(b.ids).toEqual(a.ids);
    const c = await run(PROMPT, { ...p, seed: 1042 });
    expect(c.ids).not.toEqual(a.ids);
    const d = await run(PROMPT, { ...p, seed: 42n, repeatPenalty: 1.3, repeatWindow: 16 });
    expect(d.ids.length).toBe(32);
    for (const r of [a, c, d, await run(PROMPT, greedy(8))]) {
      for (const ev of r.events) {
        expect(Number.isFinite(ev.entropy)).toBe(true);
        expect(ev.entropy).toBeGreaterThanOrEqual(0);
        expect(ev.entropy).toBeLessThanOrEqual(1);
      }
    }
    expect(a.events.some((e) => e.entropy > 0)).toBe(true);
  });

  test("adjacent seeds give different samples", async () => {
    await engine.load(dirs.v1);
    const p: SamplingParams = { temperature: 1, topP: 1, maxTokens: 16, bias: NO_EOS };
    const runs = await Promise.all([42, 43, 44, 45].map((seed) => run(PROMPT, { ...p, seed })));
    expect(new Set(runs.map((r) => r.ids.join(","))).size).toBe(4);
  });

  test("a +1000 logit bias forces a token", async () => {
    await engine.load(dirs.v1);
    const [target] = await engine.tokenize("the", { bos: false }); // " the" (dummy prefix space)
    for (const params of [greedy(10), { temperature: 1, seed: 7, maxTokens: 10 }]) {
      const r = await run(PROMPT, { ...params, bias: { ids: new Int32Array([target]), weights: new Float32Array([1000]) } });
      expect(r.ids).toEqual(new Array(10).fill(target));
      expect(r.text).toBe(" the".repeat(10));
    }
    // the bias is per request
    const plain = await run(PROMPT, greedy(10));
    expect(plain.ids).not.toEqual(new Array(10).fill(target));
    // a lone UTF-8 lead byte (<0xC3>) comes out as U+FFFD when the generation ends
    const lead = 3 + 0xc3;
    const bytes = await run(PROMPT, { ...greedy(2), bias: { ids: [lead], weights: [1000] } });
    expect(bytes.ids).toEqual([lead, lead]);
    expect(bytes.text).toBe("\ufffd\ufffd");
    expect(bytes.summary.text).toBe(bytes.text);
    // biasing EOS ends the generation at once
    const eos = await run(PROMPT, { ...greedy(10), bias: { ids: [2], weights: [1000] } });
    expect(eos.summary).toMatchObject({ stopReason: "eos", completionTokens: 0, text: "" });
    // …unless minTokens holds it off: exactly that many tokens, then the (request's) EOS bias is back
    const held = await run(PROMPT, { ...greedy(10), minTokens: 3, bias: { ids: [2], weights: [1000] } });
    expect(held.summary).toMatchObject({ stopReason: "eos", completionTokens: 3 });
  });

  test("minTokens also holds off the stop strings", async () => {
    await engine.load(dirs.v1);
    const full = await run(PROMPT, { ...greedy(12), bias: NO_EOS });
    const first = full.text.slice(0, 2); // a stop string at the very start
    expect((await run(PROMPT, { ...greedy(12), bias: NO_EOS, stop: first })).summary).toMatchObject({ stopReason: "stop", text: "" });
    const held = await run(PROMPT, { ...greedy(12), bias: NO_EOS, stop: first, minTokens: 3 });
    expect(held.text.startsWith(first)).toBe(true);
    expect(held.ids).toEqual(full.ids.slice(0, held.ids.length));
    expect(held.ids.length).toBeGreaterThanOrEqual(3);
  });

  test("stop strings end the text before them", async () => {
    await engine.load(dirs.v1);
    const full = await run(PROMPT, { ...greedy(40), bias: NO_EOS });
    // an ASCII stretch from the middle of the text as the stop string
    let at = -1;
    for (let i = 8; i + 3 <= full.text.length; i++) {
      const s = full.text.slice(i, i + 3);
      if (/^[a-z ]{3}$/i.test(s) && full.text.indexOf(s) === i) {
        at = i;
        break;
      }
    }
    expect(at).toBeGreaterThan(0);
    const stop = full.text.slice(at, at + 3);
    const r = await run(PROMPT, { ...greedy(40), bias: NO_EOS, stop: ["\u0000never", stop] });
    expect(r.summary.stopReason).toBe("stop");
    expect(r.text).toBe(full.text.slice(0, at));
    expect(r.summary.text).toBe(r.text);
    expect(r.ids).toEqual(full.ids.slice(0, r.ids.length));
    // a stop string that never completes: the held-back text comes out at the end
    const partial = full.text.slice(full.text.length - 2) + "\u0001";
    const q = await run(PROMPT, { ...greedy(40), bias: NO_EOS, stop: partial });
    expect(q.summary.stopReason).toBe("length");
    expect(q.text).toBe(full.text);
  });

  test("context exhaustion ends with 'length'; an oversized prompt is E_CONTEXT", async () => {
    await engine.load(dirs.v1);
    const r = await run(PROMPT, { temperature: 0.9, seed: 3, bias: NO_EOS });
    expect(r.summary.stopReason).toBe("length");
    expect(r.summary.contextTokens).toBe(128);
    expect(r.summary.promptTokens + r.summary.completionTokens).toBe(129);
    // and the engine carries on
    const next = await run(PROMPT, greedy(4));
    expect(next.ids.length).toBe(4);
    const huge = Array.from({ length: 200 }, (_, i) => 300 + (i % 100));
    const err = await run(huge, greedy(4)).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.codeName).toBe("E_CONTEXT");
    const bad = await run([1, 99999], greedy(4)).then(() => null, (e) => e);
    expect(bad.codeName).toBe("E_ARG");
  });
});

describe("concurrency", () => {
  test("the main thread keeps running during a long generation", async () => {
    await engine.load(dirs.medium);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = performance.now();
    const gen = engine.generate("Once", { temperature: 1, seed: 1, bias: NO_EOS });
    let firstAt = 0;
    let n = 0;
    for await (const _ of gen) if (n++ === 0) firstAt = performance.now() - t0;
    const ms = performance.now() - t0;
    clearInterval(timer);
    const s = await gen.result;
    expect(s.stopReason).toBe("length");
    expect(n).toBe(s.completionTokens);
    expect(firstAt).toBeLessThan(ms / 4); // streamed, not delivered at the end
    expect(ms).toBeGreaterThan(50);
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(ms / 5 / 4));
    expect(s.tokensPerSecond).toBeGreaterThan(0);
  });

  test("an AbortSignal cancels within a few tokens; so does leaving the loop", async () => {
    await engine.load(dirs.medium);
    const ac = new AbortController();
    const gen = engine.generate("Once", { temperature: 1, seed: 1, bias: NO_EOS }, ac.signal);
    let n = 0;
    for await (const _ of gen) if (++n === 5) ac.abort();
    const s = await gen.result;
    expect(s.stopReason).toBe("cancelled");
    expect(s.completionTokens).toBe(n);
    expect(n).toBeLessThan(5 + 64);

    const gen2 = engine.generate("Once", { temperature: 1, seed: 1, bias: NO_EOS });
    let m = 0;
    for await (const _ of gen2) if (++m === 3) break;
    const s2 = await gen2.result;
    expect(s2.stopReason).toBe("cancelled");
    expect(s2.completionTokens).toBeLessThan(3 + 64);

    // aborted before it starts: nothing is generated
    const pre = new AbortController();
    pre.abort();
    const r = await engine.generate("Once", { maxTokens: 10 }, pre.signal).result;
    expect(r).toMatchObject({ stopReason: "cancelled", completionTokens: 0 });
  });

  test("swap waits for the generation in flight, then serves the new model", async () => {
    await engine.load(dirs.v1);
    const expectA = await run(PROMPT, greedy(20));
    const order: string[] = [];
    const genA = engine.generate(PROMPT, greedy(20));
    const a = genA.result.then((s) => (order.push("a"), s));
    const swapped = engine.swap(dirs.other).then((i) => (order.push("swap"), i));
    const genB = engine.generate(PROMPT, greedy(20));
    const b = genB.result.then((s) => (order.push("b"), s));
    const [sa, info, sb] = await Promise.all([a, swapped, b]);
    expect(order).toEqual(["a", "swap", "b"]);
    expect(sa.text).toBe(expectA.text);
    expect(info.seqLen).toBe(96);
    expect(engine.info?.modelPath).toBe(join(dirs.other, "model.bin"));
    expect(sb.reusedTokens).toBe(0); // a new model starts with an empty cache
    expect(sb.text).not.toBe(expectA.text);
    expect((await run(PROMPT, greedy(20))).text).toBe(sb.text);
  });

  test("a closed engine refuses work with EngineError", async () => {
    const e = await Engine.open({ threads: 1 });
    await e.load(dirs.v1);
    const pending = e.generate(PROMPT, { temperature: 0, bias: NO_EOS });
    await e.close();
    const s = await pending.result.catch((err) => err);
    expect(s.stopReason === "cancelled" || s.codeName === "E_CLOSED").toBe(true);
    const err = await e.tokenize("x").then(() => null, (x) => x);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.codeName).toBe("E_CLOSED");
    const noModel = await Engine.open({ threads: 1 });
    const nm = await noModel.tokenize("x").then(() => null, (x) => x);
    expect(nm.codeName).toBe("E_NO_MODEL");
    await noModel.close();
  });
});
