/**
 * metrics.ts — the counters behind GET /metrics, rendered in Prometheus'
 * text format. Gauges that belong to others (queue, reloads) are read at
 * render time.
 */

export interface GenerationRecord {
  kind: "session" | "stateless";
  promptTokens: number;
  completionTokens: number;
  tokensPerSecond: number;
  ttftMs: number;
  cancelled: boolean;
  /** the turn's presence pulse and trauma (session turns only) */
  presence?: number;
  trauma?: number;
}

export interface LiveGauges {
  queueDepth: number;
  inferenceRunning: boolean;
  reloads: number;
  modelLoaded: boolean;
}

export class ServerMetrics {
  private readonly requests = new Map<string, number>();
  private readonly generations = new Map<string, number>();
  private promptTokens = 0;
  private completionTokens = 0;
  private last: GenerationRecord | null = null;
  private lastPresence: { presence: number; trauma: number } | null = null;
  private readonly startedAt = Date.now();

  request(route: string, status: number): void {
    const key = `route="${route}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  generation(r: GenerationRecord): void {
    const key = `kind="${r.kind}",outcome="${r.cancelled ? "cancelled" : "done"}"`;
    this.generations.set(key, (this.generations.get(key) ?? 0) + 1);
    this.promptTokens += r.promptTokens;
    this.completionTokens += r.completionTokens;
    this.last = r;
    if (r.presence !== undefined) this.lastPresence = { presence: r.presence, trauma: r.trauma ?? 0 };
  }

  render(g: LiveGauges): string {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [labels: string, value: number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) out.push(`${name}${labels ? `{${labels}}` : ""} ${value}`);
    };
    metric("arianna_http_requests_total", "counter", "HTTP requests by route and status.", [...this.requests]);
    metric("arianna_generations_total", "counter", "Generations by kind and outcome.", [...this.generations]);
    metric("arianna_prompt_tokens_total", "counter", "Prompt tokens evaluated.", [["", this.promptTokens]]);
    metric("arianna_completion_tokens_total", "counter", "Tokens generated.", [["", this.completionTokens]]);
    metric("arianna_tokens_per_second", "gauge", "Decode rate of the last generation.", [["", this.last?.tokensPerSecond ?? 0]]);
    metric("arianna_ttft_seconds", "gauge", "Time to first token of the last generation.", [["", (this.last?.ttftMs ?? 0) / 1000]]);
    metric("arianna_queue_depth", "gauge", "Requests waiting for the model.", [["", g.queueDepth]]);
    metric("arianna_inference_running", "gauge", "1 while a generation holds the model.", [["", g.inferenceRunning ? 1 : 0]]);
    metric("arianna_model_loaded", "gauge", "1 while a kernel is loaded.", [["", g.modelLoaded ? 1 : 0]]);
    metric("arianna_reloads_total", "counter", "Successful kernel swaps since start.", [["", g.reloads]]);
    metric("arianna_presence_pulse", "gauge", "Presence pulse of the last turn.", [["", this.lastPresence?.presence ?? 0]]);
    metric("arianna_trauma", "gauge", "Trauma score of the last turn.", [["", this.lastPresence?.trauma ?? 0]]);
    metric("arianna_uptime_seconds", "gauge", "Seconds since the server started.", [["", Math.round((Date.now() - this.startedAt) / 1000)]]);
    return out.join("\n") + "\n";
  }
}
