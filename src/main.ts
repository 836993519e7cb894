/**
 * main.ts — `bun run start`: load the live kernel (ARIANNA_HOME/models/current,
 * else the bundled models/default), open the living session, watch for new
 * kernels, and serve HTTP on ARIANNA_HOST:ARIANNA_PORT (default 127.0.0.1:8080).
 * ARIANNA_THREADS caps the compute threads (default: CPU cores - 1). Non-loopback
 * clients need the bearer token in ARIANNA_HOME/api-token. `--help` lists
 * every setting (src/config/runtime.ts); a wrong one is refused in one line.
 */
import { join } from "node:path";
import { loadModelProfile } from "./config/model-profile.ts";
import { homePaths } from "./config/runtime.ts";
import { Engine } from "./engine/index.ts";
import { DatabaseRefused } from "./memory/index.ts";
import { openSession } from "./orchestrator/index.ts";
import { createModelManager, loadProven, loadStartKernel, swapProven, type StartKernel } from "./reload/index.ts";
import { ensureToken, TOKEN_FILE, TokenRefused } from "./server/auth.ts";
import { createServer } from "./server/app.ts";
import { engineStep, holdHome, listen, localUrl, log, refuse, standbyWhileFull, startServiceNotifier, startupSettings, tooFullToStart, type Level } from "./service/index.ts";

const { config, settings: configured } = startupSettings();
// the home is taken before anything starts, so a refusal is one line; a first start on a disk
// too full to write there waits for room first, serving a notice (it needs the engine's notifier)
const waitForRoom = tooFullToStart(config.home) !== null;
let homeLock = waitForRoom ? null : holdHome(config.home, "service");
const engine = await engineStep("cannot start the engine", () => Engine.open({ threads: configured.threads }));
const service = startServiceNotifier(engine, { log });
const settings = waitForRoom ? await standbyWhileFull(config.home, configured, service) : configured;
homeLock ??= holdHome(config.home, "service");
const start = await startKernel();
const modelDir = start.dir;

/**
 * models/current verified like a hot reload, else the last good copy, else the
 * bundled kernel (src/reload/startup.ts); exits when none can serve.
 */
async function startKernel(): Promise<StartKernel> {
  try {
    const start = await loadStartKernel({
      home: config.home,
      bundled: homePaths(config.home).bundledModel,
      load: (dir) => loadProven(engine, dir, loadModelProfile(dir).template),
    });
    if (start.warning) log.warn(start.warning);
    const info = engine.info!;
    log.info(`loaded ${start.dir}: ${(info.nParams / 1e6).toFixed(1)}M params, v${info.format}, ` +
      `seq_len ${info.seqLen}, kernel ${info.kernel}, ${info.threads} threads`);
    return start;
  } catch (e) {
    log.error(`${(e as Error).message}; train the default kernel (see README, 'Training') or deploy one into ARIANNA_HOME/models/current`);
    process.exit(1);
  }
}

// before the database: a token missing from a home that already holds a conversation is said so
const token = apiToken();
function apiToken(): string {
  try {
    return ensureToken(config.home, { warn: (line) => log.warn(line) });
  } catch (e) {
    if (e instanceof TokenRefused) refuse(e.message);
    throw e;
  }
}
// a database that is empty beside its WAL, foreign, or failing quick_check is refused in one line
const session = await openSession({ model: engine, modelDir, config }).catch((e) => (e instanceof DatabaseRefused ? refuse(e.message) : Promise.reject(e)));
if (session.memory.headroom && !session.memory.headroom.held)
  log.warn(`the disk under ${config.home} is full: serving history and export only; turns get 507 until space is freed`);

/** The reload manager writes "<N>text" lines; route them through the service logger by priority. */
const LEVELS: Record<string, Level> = { "3": "error", "4": "warn", "5": "notice", "6": "info", "7": "debug" };
const models = await createModelManager({
  engine,
  home: config.home,
  swap: (dir) => {
    const profile = loadModelProfile(dir);
    return session.replaceModel(() => swapProven(engine, dir, profile.template), profile);
  },
  startProblems: start.problems,
  log: (line) => {
    const [, priority, text] = /^<(\d)>([\s\S]*)$/.exec(line) ?? [null, "6", line];
    log[LEVELS[priority!] ?? "info"](text!);
  },
});
process.on("SIGHUP", () => void models.reload({ trigger: "signal" }));

// the token itself is never logged: only where to find it
const { app } = createServer({ model: engine, session, registry: models, token, accessLog: log });
log.info(`clients off loopback need the bearer token in ${join(config.home, TOKEN_FILE)}`);
const server = listen(settings, app.fetch);
const url = `http://${server.hostname}:${server.port}`;
homeLock.publish(localUrl(server.hostname!, server.port!));
log.info(`InnerArianna listening on ${url}`);
await service.ready(`serving on ${url}`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    log.info(`${signal}: shutting down`);
    await service.stopping();
    server.stop();
    await models.close();
    await session.close();
    await engine.close();
    process.exit(0);
  });
}
