/**
 * model-profile.ts — what the runtime needs to know about a kernel besides its
 * weights: the chat template, the origin text, its name and its sha256.
 *
 * manifest.json keys read here: `chat_template` (the trainer's template object),
 * `origin` (the founding text), `name`, `display_name` and `origin_generic`
 * (the leo layer's: the name the kernel is addressed by, and origin words too
 * common to count as a pull to it), `sha256.model` (hex of model.bin).
 * A bare model dir falls back to trainer/chat_template.json and
 * trainer/corpus/origin.txt, and the hash is computed. The manifest and the
 * chat template are described in docs/architecture.md §4.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./runtime.ts";

export interface ChatTemplate {
  version: number;
  /** each field holds `{text}` where the turn's text goes */
  system: string;
  user: string;
  assistant: string;
  /** what the prompt ends with so the model answers as Arianna */
  generation_prefix: string;
  /** generation stops before any of these */
  stop: string[];
  /** the system text the kernel was trained with; the runtime's persona when none is configured */
  default_system?: string;
}

export interface ModelProfile {
  dir: string;
  name: string;
  template: ChatTemplate;
  origin: string;
  /** manifest display_name, when given */
  displayName?: string;
  /** manifest origin_generic: words added to leo's generic list */
  originGeneric: string[];
  sha256: string;
}

export const TRAINER_TEMPLATE_PATH = join(REPO_ROOT, "trainer", "chat_template.json");
export const TRAINER_ORIGIN_PATH = join(REPO_ROOT, "trainer", "corpus", "origin.txt");

function readJson(path: string): Record<string, unknown> | undefined {
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>) : undefined;
}

export function parseChatTemplate(raw: unknown): ChatTemplate {
  const t = raw as Partial<ChatTemplate> | undefined;
  const fields = ["system", "user", "assistant"] as const;
  if (!t || fields.some((f) => typeof t[f] !== "string" || !t[f]!.includes("{text}"))) {
    throw new Error("chat template: system, user and assistant must be strings containing {text}");
  }
  return {
    version: t.version ?? 1,
    system: t.system!,
    user: t.user!,
    assistant: t.assistant!,
    generation_prefix: t.generation_prefix ?? t.assistant!.slice(0, t.assistant!.indexOf("{text}")).trimEnd(),
    stop: Array.isArray(t.stop) ? t.stop : [],
    default_system: typeof t.default_system === "string" ? t.default_system : undefined,
  };
}

/** The template of a model dir: its manifest's, else (a bare llama2.c dir) the trainer's. */
export function loadChatTemplate(modelDir: string): ChatTemplate {
  const manifest = readJson(join(modelDir, "manifest.json"));
  const raw = manifest?.chat_template ?? readJson(TRAINER_TEMPLATE_PATH);
  if (!raw) throw new Error(`no chat template: ${modelDir} has no manifest and ${TRAINER_TEMPLATE_PATH} is missing`);
  return parseChatTemplate(raw);
}

export function loadModelProfile(modelDir: string, originOverride?: string): ModelProfile {
  const manifest = readJson(join(modelDir, "manifest.json")) ?? {};
  const sha = (manifest.sha256 as { model?: unknown } | undefined)?.model;
  const origin =
    originOverride ??
    (typeof manifest.origin === "string" ? manifest.origin : undefined) ??
    (existsSync(TRAINER_ORIGIN_PATH) ? readFileSync(TRAINER_ORIGIN_PATH, "utf8") : "");
  return {
    dir: modelDir,
    name: typeof manifest.name === "string" ? manifest.name : "Arianna",
    template: loadChatTemplate(modelDir),
    origin,
    displayName: typeof manifest.display_name === "string" ? manifest.display_name : undefined,
    originGeneric: Array.isArray(manifest.origin_generic) ? manifest.origin_generic.filter((w): w is string => typeof w === "string") : [],
    sha256: typeof sha === "string" ? sha : hashFile(join(modelDir, "model.bin")),
  };
}

function hashFile(path: string): string {
  if (!existsSync(path)) return "";
  const hasher = new Bun.CryptoHasher("sha256");
  hasher.update(readFileSync(path));
  return hasher.digest("hex");
}
