/**
 * paths.ts — where the repository is, for what ships beside the code (the
 * bundled kernel, the built library, the web page). Defined once; everything
 * else that needs the repository root imports it from here.
 */
import { resolve } from "node:path";

/** The repository root (src/config/ → ../..). */
export const REPO_ROOT = resolve(import.meta.dir, "..", "..");
