/**
 * main.ts — `bun run start`: load the live kernel (ARIANNA_HOME/models/current,
 * else the bundled models/default) and serve HTTP on ARIANNA_HOST:ARIANNA_PORT
 * (default 127.0.0.1:8080). Log lines carry journald priority prefixes.
 */
import { Engine } from "./engine/index.ts";
import { loadRuntimeConfig, resolveModelDir } from "./config/runtime.ts";
import { createApp } from "./server/app.ts";

const config = loadRuntimeConfig();
const host = process.env.ARIANNA_HOST ?? "127.0.0.1";
const port = Number(process.env.ARIANNA_PORT ?? 8080);
const modelDir = resolveModelDir(config.home);

const engine = await Engine.open();
try {
  const info = await engine.load(modelDir);
  console.log(`<6>loaded ${modelDir}: ${(info.nParams / 1e6).toFixed(1)}M params, v${info.format}, ` +
    `seq_len ${info.seqLen}, kernel ${info.kernel}, ${info.threads} threads`);
} catch (e) {
  console.error(`<3>cannot load a model from ${modelDir}: ${(e as Error).message}`);
  console.error("<3>train the default kernel (see README, 'Training') or deploy one into ARIANNA_HOME/models/current");
  process.exit(1);
}

const server = Bun.serve({ hostname: host, port, fetch: createApp(engine).fetch, idleTimeout: 0 });
console.log(`<6>InnerArianna listening on http://${server.hostname}:${server.port}`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    console.log(`<6>${signal}: shutting down`);
    server.stop();
    await engine.close();
    process.exit(0);
  });
}
