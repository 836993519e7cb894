/**
 * model.ts — the part of the Engine the orchestrator uses. The real Engine
 * (src/engine) satisfies it as is; the benchmark plugs in an instant stand-in
 * to measure everything except model compute.
 */
import type { EngineInfo, GenerationSummary, SamplingParams, TokenEvent } from "../engine/index.ts";

export type { GenerationSummary, SamplingParams, TokenEvent };

export interface TextGeneration extends AsyncIterable<TokenEvent> {
  readonly result: Promise<GenerationSummary>;
}

export interface TextModel {
  readonly info: Pick<EngineInfo, "vocabSize" | "seqLen"> | null;
  tokenize(text: string, opts?: { bos?: boolean }): Promise<number[]>;
  generate(prompt: string | readonly number[], params: SamplingParams, signal?: AbortSignal): TextGeneration;
}
