/**
 * server-fixture.ts — what the server tests share: a tiny generated kernel on
 * a real Engine, a living session in a temp ARIANNA_HOME, an in-test model
 * registry, and the server itself (through app.request or on loopback).
 */
import { afterAll, beforeAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { withLeoOverrides } from "../src/config/leo.ts";
import { loadRuntimeConfig } from "../src/config/runtime.ts";
import { Engine } from "../src/engine/index.ts";
import { openSession, type Session } from "../src/orchestrator/index.ts";
import type { KernelInfo, ModelRegistry, ReloadEvent } from "../src/reload/types.ts";
import { createServer, type Server, type ServerOptions } from "../src/server/app.ts";
import { ensureToken } from "../src/server/auth.ts";
import type { ServedModel } from "../src/server/inference.ts";
import { writeModelDir } from "../tools/gen-model.ts";

/** A registry that "reloads" by recording events (the real one lives in src/reload). */
export class FakeRegistry implements ModelRegistry {
  current: KernelInfo | null;
  previous: KernelInfo | null = null;
  events: ReloadEvent[] = [];
  reloads = 0;
  failNext: string | null = null;
  private listeners: ((e: ReloadEvent) => void)[] = [];

  constructor(dir: string) {
    this.current = { dir, sha256: "a".repeat(64), name: "test-kernel", loadedAt: Date.now() };
  }

  async reload(options: { rollback?: boolean; trigger?: ReloadEvent["trigger"] } = {}): Promise<ReloadEvent> {
    const from = this.current!.sha256;
    const ok = this.failNext === null;
    const to = ok ? (options.rollback ? "c" : "b").repeat(64) : from;
    const event: ReloadEvent = {
      at: Date.now(), trigger: options.trigger ?? "api", ok, from, to, dir: this.current!.dir, reason: this.failNext ?? undefined, swapMs: 1,
    };
    this.failNext = null;
    if (ok) {
      this.previous = this.current;
      this.current = { ...this.current!, sha256: to, loadedAt: event.at };
      this.reloads++;
    }
    this.events.push(event);
    for (const l of this.listeners) l(event);
    return event;
  }

  onReload(listener: (e: ReloadEvent) => void): () => void {
    this.listeners.push(listener);
    return () => (this.listeners = this.listeners.filter((l) => l !== listener));
  }

  async close(): Promise<void> {}
}

export interface Fixture {
  root: string;
  modelDir: string;
  engine: Engine;
  session: Session;
  registry: FakeRegistry;
  token: string;
  server: Server;
  /** app.request with the bearer token */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** a POST of `body` as JSON, through request */
  post(path: string, body: unknown): Promise<Response>;
  /** a Bun server on 127.0.0.1, started on demand */
  listen(hostname?: string): { url: string; stop(): void };
  close(): Promise<void>;
}

export interface FixtureOptions {
  /** what the server serves in place of the engine (a model that holds or slows its turns) */
  wrap?: (engine: Engine) => ServedModel;
  server?: Partial<ServerOptions>;
}

export async function openFixture(name: string, options: FixtureOptions = {}): Promise<Fixture> {
  const root = mkdtempSync(join(tmpdir(), `ia-${name}-`));
  const modelDir = join(root, "model");
  writeModelDir(modelDir, { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, vocabSize: 400, seqLen: 192, seed: 3 });
  const engine = await Engine.open({ threads: 1 });
  await engine.load(modelDir);
  const home = join(root, "home");
  const model = options.wrap?.(engine) ?? engine;
  const session = await openSession({
    model: model as Engine,
    modelDir,
    config: loadRuntimeConfig({ ARIANNA_HOME: home, ARIANNA_SEED: "11" }),
    leoConfig: withLeoOverrides({ overthinking: { idleDelayMs: 0 } }),
    overthink: false,
  });
  const registry = new FakeRegistry(modelDir);
  const token = ensureToken(home);
  const server = createServer({ model, session, registry, token, ...options.server });
  const servers: { stop(): void }[] = [];
  const request = async (path: string, init: RequestInit = {}) =>
    server.app.request(path, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });
  return {
    root, modelDir, engine, session, registry, token, server, request,
    post: (path, body) => request(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    listen(hostname = "127.0.0.1") {
      const s = Bun.serve({ hostname, port: 0, fetch: server.app.fetch, idleTimeout: 0 });
      servers.push({ stop: () => s.stop(true) });
      return { url: `http://${hostname}:${s.port}`, stop: () => s.stop(true) };
    },
    async close() {
      for (const s of servers) s.stop();
      await session.close();
      await engine.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * The fixture of a test file or describe block: opened in its beforeAll, closed in its afterAll.
 * The object returned is filled in when the fixture opens, so read it in tests and later hooks.
 */
export function fixtureForTests(name: string, options: FixtureOptions = {}): Fixture {
  const f = {} as Fixture;
  beforeAll(async () => {
    Object.assign(f, await openFixture(name, options));
  });
  afterAll(() => f.close?.());
  return f;
}

/** The JSON lines of an NDJSON body. */
export const ndjson = async (res: Response) => (await res.text()).trim().split("\n").map((l) => JSON.parse(l));

/** The data payloads of an SSE body, without the final [DONE]. */
export async function sse(res: Response): Promise<{ events: any[]; done: boolean }> {
  const data = (await res.text()).split("\n\n").filter((b) => b.startsWith("data: ")).map((b) => b.slice(6));
  return { events: data.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d)), done: data.at(-1) === "[DONE]" };
}
