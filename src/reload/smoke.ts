/**
 * smoke.ts — a kernel answers one turn before it serves.
 *
 * Header, size and sha256 say the files are intact, not that they can hold a
 * conversation: a kernel with seq_len 8 loads, /health says ok, and every turn
 * fails (leaving its user message without a reply). So after a kernel is
 * loaded, and before anything else uses it, it must take a one-word turn in
 * its own chat template with room left for the reply, and generate.
 */
import { dirname } from "node:path";
import type { ChatTemplate } from "../config/model-profile.ts";
import { renderTurn } from "../orchestrator/context.ts";
import type { TextModel } from "../orchestrator/model.ts";

/** What the smoke turn needs of the engine. */
export interface ProvableModel extends TextModel {
  readonly info: (NonNullable<TextModel["info"]> & { modelPath: string }) | null;
  load(dir: string): Promise<unknown>;
  swap(dir: string): Promise<unknown>;
}

/** Run the smoke turn on the loaded kernel; returns why it cannot serve, or null. */
export async function smokeTurn(model: TextModel, template: ChatTemplate): Promise<string | null> {
  const info = model.info;
  if (!info) return "no model loaded";
  try {
    const ids = await model.tokenize(renderTurn(template, "user", "hello") + template.generation_prefix, { bos: true });
    // the session leaves at most half of seq_len to the reply: the prompt must fit in the other half
    if (ids.length > info.seqLen / 2)
      return `seq_len ${info.seqLen} is too small: a one-word turn takes ${ids.length} tokens, and the reply needs room too`;
    const generation = model.generate(ids, { temperature: 0, maxTokens: 2 });
    for await (const _ of generation);
    await generation.result;
    return null;
  } catch (e) {
    return `the smoke turn failed: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** Load `dir` (the engine's first kernel, or a start-up fallback) and prove it; throws why it cannot serve. */
export async function loadProven(model: ProvableModel, dir: string, template: ChatTemplate): Promise<void> {
  await model.load(dir);
  const problem = await smokeTurn(model, template);
  if (problem) throw new Error(problem);
}

/** Swap `dir` in and prove it with a smoke turn; on failure the previous kernel is swapped back and this throws. */
export async function swapProven(model: ProvableModel, dir: string, template: ChatTemplate): Promise<void> {
  const back = model.info ? dirname(model.info.modelPath) : null;
  await model.swap(dir);
  const problem = await smokeTurn(model, template);
  if (!problem) return;
  if (back) await model.swap(back);
  throw new Error(problem);
}
