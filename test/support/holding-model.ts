/**
 * holding-model.ts — a stand-in for the engine that holds a reply open: while
 * `sentence()` gives a string, each generation writes it word by word and then
 * waits until it is stopped (30 s at most), so a test can stop a reply under
 * way at a known point. While it gives null, the real engine answers.
 */
import type { Engine, GenerationSummary, SamplingParams, TokenEvent } from "../../src/engine/index.ts";
import type { ServedModel } from "../../src/server/inference.ts";

export function holdingModel(engine: Engine, sentence: () => string | null): ServedModel & { tokenize: Engine["tokenize"] } {
  return {
    get info() {
      return engine.info;
    },
    tokenize: (text, opts) => engine.tokenize(text, opts),
    embed: (texts, opts) => engine.embed(texts, opts),
    generate(prompt, params: SamplingParams, signal?: AbortSignal) {
      const held = sentence();
      if (held === null) return engine.generate(prompt, params, signal);
      const words = held ? held.split(/(?<= )/) : [];
      let settle!: (s: GenerationSummary) => void;
      const result = new Promise<GenerationSummary>((r) => (settle = r));
      async function* tokens(): AsyncGenerator<TokenEvent> {
        for (const w of words) yield { id: 100, text: w, entropy: 0.5 };
        const deadline = Date.now() + 30_000;
        while (!signal?.aborted && Date.now() < deadline) await Bun.sleep(10);
        settle({
          promptTokens: 3, reusedTokens: 0, completionTokens: words.length, ttftMs: 1, prefillMs: 1, tokensPerSecond: 100,
          stopReason: signal?.aborted ? "cancelled" : "length", text: words.join(""), contextTokens: 3 + words.length,
        });
      }
      const iterator = tokens();
      return { result, [Symbol.asyncIterator]: () => iterator };
    },
  };
}
