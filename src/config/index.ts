export { LEO, withLeoOverrides, type LeoConfig, type LeoOverrides } from "./leo.ts";
export {
  DEFAULT_PERSONA,
  REPO_ROOT,
  RUNTIME_DEFAULTS,
  homePaths,
  loadRuntimeConfig,
  resolveModelDir,
  type GenerationDefaults,
  type RuntimeConfig,
} from "./runtime.ts";
export { loadChatTemplate, loadModelProfile, parseChatTemplate, type ChatTemplate, type ModelProfile } from "./model-profile.ts";
export { systemClock, type Clock } from "./clock.ts";
