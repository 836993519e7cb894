/**
 * Hot reload of the kernel: import from here.
 *
 *   const models = await createModelManager({
 *     engine, home,
 *     swap: (dir) => session.replaceModel(() => engine.swap(dir), loadModelProfile(dir)),
 *   });
 *   process.on("SIGHUP", () => void models.reload({ trigger: "signal" }));
 *
 * The caller has loaded the first kernel; the manager adopts it (moving it onto
 * a private copy when it came from ARIANNA_HOME/models), then watches
 * ARIANNA_HOME/models and swaps in every new, complete, verified kernel.
 * docs/architecture.md §5 tells the whole path of an upload.
 */
import { ModelManager, type ModelManagerOptions } from "./manager.ts";
import type { ModelRegistry } from "./types.ts";

export async function createModelManager(opts: ModelManagerOptions): Promise<ModelRegistry> {
  const manager = new ModelManager(opts);
  await manager.start();
  return manager;
}

export type { ModelManagerOptions } from "./manager.ts";
export type { KernelInfo, ModelRegistry, ReloadEvent, ReloadTrigger } from "./types.ts";
export { expectedModelSize } from "./verify.ts";
export { loadProven, smokeTurn, swapProven } from "./smoke.ts";
export { loadStartKernel, type StartKernel } from "./startup.ts";
