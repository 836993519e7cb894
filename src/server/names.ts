/**
 * names.ts — the names the APIs serve the one kernel under. Ollama clients
 * list and send `name:tag`; OpenAI clients send a bare id. Two tags exist:
 *
 *   arianna, arianna:latest   the living session (chat) and the kernel (generate)
 *   arianna:stateless         always stateless: the front-ends' "task model",
 *                             whose housekeeping never enters the conversation
 *
 * A chat request naming any other model is served as `arianna` (SDKs send a
 * default id such as "gpt-4o-mini"); only /api/show and /v1/models/{id}
 * answer 404 for a name the device does not serve.
 */

export const STATELESS_TAG = "stateless";

export interface ServedNames {
  /** the bare name (ARIANNA's modelName, default "arianna") */
  base: string;
  /** what /api/tags lists (Ollama names always carry a tag), living first */
  ollama: string[];
  /** what /v1/models lists, living first */
  openai: string[];
}

export function servedNames(base: string): ServedNames {
  const stateless = `${base}:${STATELESS_TAG}`;
  return { base, ollama: [`${base}:latest`, stateless], openai: [base, stateless] };
}

/** Whether a requested model name is the stateless alias (the tag decides, whatever the base). */
export function isStatelessName(name: string | undefined): boolean {
  return name !== undefined && name.endsWith(`:${STATELESS_TAG}`);
}

/** The served name a request means, or null when the device serves no such model. */
export function resolveName(names: ServedNames, name: string): string | null {
  if (name === names.base) return `${names.base}:latest`;
  return names.ollama.includes(name) ? name : null;
}
