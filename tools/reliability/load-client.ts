/**
 * load-client.ts — the bounded, self-stopping load generator behind load.ts,
 * run as a child process (so that when it exits every connection it held is
 * closed, and the service's descriptors can be compared before and after).
 *
 *   bun tools/reliability/load-client.ts URL CLIENTS SECONDS MIN_TURNS MAX_SECONDS TAG
 *
 * Loopback only: it refuses any URL that is not http://127.0.0.1:PORT.
 * CLIENTS concurrent loops send chat turns (Ollama and OpenAI shapes,
 * streamed and not, a few streams dropped right after their status line) plus
 * read-only requests, until SECONDS have passed and MIN_TURNS turns were
 * acknowledged, or MAX_SECONDS in any case. A 429 must carry Retry-After;
 * the client then backs off briefly. It prints one JSON object (LoadRun).
 */

export interface Ack {
  text: string;
  kind: string;
  /** the assistant message id the service returned (absent for a dropped stream) */
  messageId?: number;
}

export interface LoadRun {
  clients: number;
  seconds: number;
  requests: number;
  turns: number;
  acks: Ack[];
  status: Record<string, number>;
  rejected429: number;
  retryAfterMissing: number;
  serverErrors: number;
  networkErrors: number;
  failures: string[];
  maxQueueDepth: number;
  maxRunning: number;
  readOnly: number;
  dropped: number;
  latencyMs: { p50: number; p95: number; max: number };
}

const [url, clientsArg, secondsArg, minTurnsArg, maxSecondsArg, tag = "load"] = process.argv.slice(2);
if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(url ?? "")) {
  console.error("load-client: the URL must be http://127.0.0.1:PORT (loopback only)");
  process.exit(2);
}
const clients = Number(clientsArg);
const seconds = Number(secondsArg);
const minTurns = Number(minTurnsArg);
const maxSeconds = Number(maxSecondsArg);

const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;
const run: LoadRun = {
  clients, seconds: 0, requests: 0, turns: 0, acks: [], status: {}, rejected429: 0, retryAfterMissing: 0, serverErrors: 0,
  networkErrors: 0, failures: [], maxQueueDepth: 0, maxRunning: 0, readOnly: 0, dropped: 0, latencyMs: { p50: 0, p95: 0, max: 0 },
};
const latencies: number[] = [];
const done = () => elapsed() >= maxSeconds || (elapsed() >= seconds && run.acks.length >= minTurns);
const fail = (msg: string) => {
  if (run.failures.length < 50) run.failures.push(msg);
};

/** xorshift32 per client: deterministic back-off and request mix. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

const KINDS = ["ollama", "ollama-stream", "openai", "openai-stream"] as const;
const READ_ONLY = ["/health", "/api/status", "/metrics", "/api/history?limit=5", "/api/tags", "/v1/models"];

function requestFor(kind: (typeof KINDS)[number], text: string): [string, unknown] {
  const messages = [{ role: "user", content: text }];
  switch (kind) {
    case "ollama": return ["/api/chat", { messages, stream: false, options: { num_predict: 8 } }];
    case "ollama-stream": return ["/api/chat", { messages, options: { num_predict: 8 } }];
    case "openai": return ["/v1/chat/completions", { messages, max_tokens: 8 }];
    case "openai-stream": return ["/v1/chat/completions", { messages, max_tokens: 8, stream: true }];
  }
}

/** The assistant message id from a finished body, or an error. */
function finalId(kind: string, body: string): number | string {
  try {
    if (kind === "ollama") return JSON.parse(body).arianna.message_id;
    if (kind === "openai") return JSON.parse(body).arianna.message_id;
    if (kind === "ollama-stream") {
      const last = JSON.parse(body.trim().split("\n").at(-1)!);
      if (last.error) return `in-band error: ${last.error}`;
      return last.done ? last.arianna.message_id : "stream without a final chunk";
    }
    const events = body.split("\n\n").filter((b) => b.startsWith("data: ")).map((b) => b.slice(6));
    if (events.at(-1) !== "[DONE]") return "SSE without [DONE]";
    for (const e of events.slice(0, -1).reverse()) {
      const j = JSON.parse(e);
      if (j.error) return `in-band error: ${JSON.stringify(j.error)}`;
      if (j.arianna?.message_id) return j.arianna.message_id;
    }
    return "SSE without arianna.message_id";
  } catch (e) {
    return `unparsable body: ${(e as Error).message}: ${body.slice(0, 200)}`;
  }
}

async function client(i: number): Promise<void> {
  const rand = rng(0x9e3779b9 ^ (i * 2654435761));
  for (let n = 0; !done(); n++) {
    run.requests++;
    if (n % 10 === 9) {
      const path = READ_ONLY[(i + n) % READ_ONLY.length];
      try {
        const res = await fetch(url + path);
        await res.arrayBuffer();
        run.status[res.status] = (run.status[res.status] ?? 0) + 1;
        run.readOnly++;
        if (res.status !== 200) fail(`GET ${path}: ${res.status}`);
        if (res.status >= 500) run.serverErrors++;
      } catch (e) {
        run.networkErrors++;
        fail(`GET ${path}: ${(e as Error).message}`);
      }
      continue;
    }
    const kind = KINDS[Math.floor(rand() * KINDS.length)];
    const drop = kind.endsWith("stream") && rand() < 0.05;
    const text = `${tag} c${i} n${n} river ${Math.floor(rand() * 1e6)}`;
    const [path, payload] = requestFor(kind, text);
    const controller = new AbortController();
    const t0 = performance.now();
    try {
      const res = await fetch(url + path, {
        method: "POST", body: JSON.stringify(payload), headers: { "content-type": "application/json" }, signal: controller.signal,
      });
      run.status[res.status] = (run.status[res.status] ?? 0) + 1;
      if (res.status === 429) {
        run.rejected429++;
        const ra = res.headers.get("retry-after");
        if (!ra || !/^\d+$/.test(ra) || Number(ra) < 1) {
          run.retryAfterMissing++;
          fail(`429 without a valid Retry-After (${ra})`);
        }
        const b = await res.text();
        try {
          // Ollama routes answer { error: "…" }, OpenAI routes { error: { message: "…", type, … } }
          const error = JSON.parse(b).error;
          if (typeof (typeof error === "string" ? error : error?.message) !== "string") fail(`429 body without error: ${b}`);
        } catch {
          fail(`429 body not JSON: ${b.slice(0, 100)}`);
        }
        // a polite client: a fraction of Retry-After (capped), so the queue stays full without a 429 storm
        await Bun.sleep(Math.min(1500, Math.max(1, Number(ra) || 1) * 1000 * (0.2 + 0.4 * rand())));
        continue;
      }
      if (res.status >= 500) {
        run.serverErrors++;
        fail(`${kind} ${res.status}: ${(await res.text()).slice(0, 200)}`);
        continue;
      }
      if (res.status !== 200) {
        fail(`${kind} ${res.status}: ${(await res.text()).slice(0, 200)}`);
        continue;
      }
      if (drop) {
        // the status line is the acknowledgement (it waits for the commit): hang up right after it
        controller.abort();
        run.acks.push({ text, kind: `${kind}-dropped` });
        run.dropped++;
        continue;
      }
      const body = await res.text();
      const id = finalId(kind, body);
      if (typeof id !== "number") fail(`${kind}: ${id}`);
      else {
        run.acks.push({ text, kind, messageId: id });
        latencies.push(performance.now() - t0);
      }
    } catch (e) {
      if (drop && controller.signal.aborted) continue;
      run.networkErrors++;
      fail(`${kind}: ${(e as Error).message}`);
    }
  }
}

/** Watch the queue through /metrics while the load runs. */
async function sampler(): Promise<void> {
  while (!done()) {
    try {
      const text = await (await fetch(url + "/metrics")).text();
      const depth = Number(/^arianna_queue_depth (\S+)/m.exec(text)?.[1] ?? NaN);
      const running = Number(/^arianna_inference_running (\S+)/m.exec(text)?.[1] ?? NaN);
      if (Number.isFinite(depth)) run.maxQueueDepth = Math.max(run.maxQueueDepth, depth);
      if (Number.isFinite(running)) run.maxRunning = Math.max(run.maxRunning, running);
    } catch (e) {
      fail(`GET /metrics (sampler): ${(e as Error).message}`);
    }
    await Bun.sleep(100);
  }
}

await Promise.all([sampler(), ...Array.from({ length: clients }, (_, i) => client(i))]);
run.seconds = Math.round(elapsed() * 10) / 10;
run.turns = run.acks.length;
latencies.sort((a, b) => a - b);
const q = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0);
run.latencyMs = { p50: q(0.5), p95: q(0.95), max: Math.round(latencies.at(-1) ?? 0) };
process.stdout.write(JSON.stringify(run) + "\n");
