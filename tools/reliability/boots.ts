/**
 * boots.ts — many reboots, each after a fault (issue 15): the service must come
 * back healthy every time, and no acknowledged message may be lost.
 *
 *   bun tools/reliability/boots.ts [--boots 200] [--seed N]
 *
 * ARIANNA_HOME is a small tmpfs (a loop-mounted ext4 when tmpfs cannot be
 * mounted; without root, the full-disk fault is left out and said so). Before
 * each boot the running service is SIGKILLed (mid-turn or idle) and one fault
 * is injected at random:
 *   upload      a broken kernel in models/current: truncated, failing its
 *               sha256, a manifest that is not JSON, seq_len 8
 *   fifo        a FIFO as models/current's tokenizer.bin or manifest.json
 *   full-disk   the file system filled to the last byte
 *   torn-wal    a torn, uncommitted frame appended to the WAL (power lost mid-write)
 *   stale-shm   the WAL index (-shm) overwritten with junk
 *   backup-kill a migration backup cut short (a partial .bak.tmp beside the database)
 *   good-upload a good kernel (the other one) deployed: faults end as operators fix them
 * Each boot must: start (bounded), answer /health 200, serve /api/history with
 * every acknowledged message, and take a streamed turn (a 507 is the right
 * answer while the disk is full). At the end: PRAGMA integrity_check, and every
 * acknowledged message is in the database.
 */
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, rmSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fill, mountSmall } from "./crash.ts";
import { chatTurn, checkDatabase, getJson, rng, startService, switchCurrent, tempDir, TINY, writeKernel, type Service } from "./service.ts";

export const FAULTS = ["upload", "fifo", "full-disk", "torn-wal", "stale-shm", "backup-kill", "good-upload"] as const;
export type Fault = (typeof FAULTS)[number];

export interface BootsSummary {
  boots: number;
  mount: string;
  faults: Record<string, number>;
  healthy: number;
  acknowledged: number;
  lost: number;
  /** turns refused with 507 while the disk was full (expected) */
  fullDiskRefusals: number;
  integrity: string;
  startMs: { median: number; max: number };
  failures: string[];
  seconds: number;
}

/**
 * The home the boots run on: two good kernels and a broken one kept beside it, the trainer's
 * deploy into models/current, and the faults injected between boots.
 */
class FaultyHome {
  private version = 0;
  /** which of the two good kernels was deployed last */
  private good = 0;
  diskFull = false;
  private readonly models: string;
  private readonly db: string;
  private readonly filler: string;
  private readonly kernels: string[];
  private readonly broken: string;

  private constructor(root: string, home: string, private readonly rand: () => number) {
    this.models = join(home, "models");
    this.db = join(home, "resonance.sqlite3");
    this.filler = join(home, "filler");
    this.kernels = [join(root, "kA"), join(root, "kB")];
    this.broken = join(root, "broken"); // seq_len 8: loads, cannot hold a turn
  }

  static async create(root: string, home: string, rand: () => number): Promise<FaultyHome> {
    const h = new FaultyHome(root, home, rand);
    await writeKernel(h.kernels[0]!, TINY, "A");
    await writeKernel(h.kernels[1]!, { ...TINY, seed: 2 }, "B");
    await writeKernel(h.broken, { ...TINY, seqLen: 8 }, "seq8");
    mkdirSync(h.models, { recursive: true });
    h.deploy(h.copyKernel(h.kernels[h.good]!));
    return h;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)]!;
  }

  /** the trainer's deploy: a fresh versioned directory, then an atomic switch of the link */
  private deploy(fill: (dir: string) => void): void {
    const dir = join(this.models, `v${++this.version}`);
    mkdirSync(dir, { recursive: true });
    fill(dir);
    switchCurrent(this.models, `v${this.version}`);
    rmSync(join(this.models, `v${this.version - 2}`), { recursive: true, force: true }); // keep the tmpfs small
  }

  private copyKernel(from: string): (dir: string) => void {
    return (dir) => {
      for (const f of ["model.bin", "tokenizer.bin", "manifest.json"]) copyFileSync(join(from, f), join(dir, f));
    };
  }

  freeDisk(): void {
    if (!this.diskFull) return;
    unlinkSync(this.filler);
    this.diskFull = false;
  }

  inject(fault: Fault | "none"): void {
    switch (fault) {
      case "none":
        return;
      case "upload": {
        const kind = this.pick(["truncated", "sha256", "manifest", "seq8"] as const);
        const from = this.kernels[1 - this.good]!;
        this.deploy((dir) => {
          this.copyKernel(from)(dir);
          if (kind === "truncated") spawnSync("truncate", ["-s", "50%", join(dir, "model.bin")]);
          if (kind === "sha256") { const fd = openSync(join(dir, "model.bin"), "r+"); writeSync(fd, Buffer.from([0x55]), 0, 1, 300); closeSync(fd); }
          if (kind === "manifest") writeFileSync(join(dir, "manifest.json"), '{"name": ');
          if (kind === "seq8") { rmSync(dir, { recursive: true }); mkdirSync(dir); this.copyKernel(this.broken)(dir); }
        });
        return;
      }
      case "fifo":
        this.deploy((dir) => {
          this.copyKernel(this.kernels[1 - this.good]!)(dir);
          const name = this.pick(["tokenizer.bin", "manifest.json"]);
          rmSync(join(dir, name));
          spawnSync("mkfifo", [join(dir, name)]);
        });
        return;
      case "full-disk":
        if (!this.diskFull) fill(this.filler);
        this.diskFull = true;
        return;
      case "torn-wal": {
        // a power cut while a frame was being appended: its bytes are there, its commit is not
        if (!existsSync(`${this.db}-wal`)) return;
        const fd = openSync(`${this.db}-wal`, "a");
        const junk = Buffer.alloc(1 + Math.floor(this.rand() * 4000));
        for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(this.rand() * 256);
        try { writeSync(fd, junk); } catch { /* a full disk */ }
        closeSync(fd);
        return;
      }
      case "stale-shm":
        if (existsSync(`${this.db}-shm`)) {
          const junk = Buffer.alloc(32768);
          for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(this.rand() * 256);
          writeFileSync(`${this.db}-shm`, junk);
        }
        return;
      case "backup-kill":
        // what a SIGKILL inside VACUUM INTO leaves: a temporary file with a header and no tables
        writeFileSync(`${this.db}.bak.tmp`, Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(4080)]));
        return;
      case "good-upload":
        this.good = 1 - this.good;
        this.deploy(this.copyKernel(this.kernels[this.good]!));
        return;
    }
  }
}

/** `opts.boots` boots in sequence on one home, each after a fault injected into what the earlier ones left. */
export async function runBoots(opts: { boots: number; seed?: number; log?: (s: string) => void }): Promise<BootsSummary> {
  const t0 = performance.now();
  const say = opts.log ?? (() => {});
  const rand = rng(opts.seed ?? 15);
  const root = tempDir("boots");
  const home = join(root, "home");
  const m = mountSmall(home, 24);
  const faults = m.kind === "none" ? FAULTS.filter((f) => f !== "full-disk") : FAULTS;
  const s: BootsSummary = {
    boots: 0, mount: m.kind === "none" ? `none (${m.why}): no full-disk fault` : m.kind, faults: {}, healthy: 0, acknowledged: 0, lost: 0,
    fullDiskRefusals: 0, integrity: "", startMs: { median: 0, max: 0 }, failures: [], seconds: 0,
  };
  const fail = (x: string) => { s.failures.push(x); say(`FAIL ${x}`); };
  const h = await FaultyHome.create(root, home, rand);
  const acked: string[] = [];
  const startTimes: number[] = [];
  let svc: Service | null = null;
  try {
    for (let boot = 0; boot < opts.boots; boot++) {
      // the fault before this boot (the first boot is clean)
      const fault: Fault | "none" = boot === 0 ? "none" : h.pick(faults);
      s.faults[fault] = (s.faults[fault] ?? 0) + 1;
      if (svc) {
        await svc.kill("SIGKILL");
        svc = null;
      }
      if (fault !== "full-disk") h.freeDisk(); // someone freed space
      h.inject(fault);
      const started = performance.now();
      try {
        svc = await startService(home, { timeoutMs: 30_000 });
      } catch (e) {
        fail(`boot ${boot} after ${fault}: ${(e as Error).message.split("\n").slice(0, 6).join(" | ")}`);
        h.freeDisk();
        continue;
      }
      startTimes.push(performance.now() - started);
      s.boots++;
      const health = await getJson(`${svc.url}/health`).catch((e) => ({ status: 0, body: String(e) }));
      const history = await getJson(`${svc.url}/api/history?limit=500`).catch((e) => ({ status: 0, body: String(e) }));
      const seen = new Set<string>((history.body?.messages ?? []).map((x: { text: string }) => x.text));
      const missing = acked.slice(-200).filter((t) => !seen.has(t)); // the newest 500 messages hold the last 200 user texts
      const text = `boot ${boot} after ${fault}: ${rand().toString(36).slice(2, 8)}`;
      // half the boots are killed in the middle of their turn (the next loop's SIGKILL), half after it
      const midTurn = rand() < 0.5;
      const turn = await chatTurn(svc.url, text, {
        numPredict: 12, timeoutMs: 30_000,
        onStage: (stage, n) => midTurn && stage === "token" && n >= 2,
      });
      if (turn.status === 200) acked.push(text);
      const turnOk = h.diskFull ? turn.status === 507 : turn.status === 200 && (midTurn || (turn.done && !turn.error));
      if (h.diskFull && turn.status === 507) s.fullDiskRefusals++;
      if (health.status === 200 && history.status === 200 && missing.length === 0 && turnOk) s.healthy++;
      else fail(`boot ${boot} after ${fault}: health ${health.status}, history ${history.status}, ${missing.length} acknowledged missing, turn ${JSON.stringify({ ...turn, text: undefined })}`);
      if (boot % 20 === 0) say(`boot ${boot}: ${fault}, started in ${Math.round(startTimes.at(-1)!)} ms, ${acked.length} acknowledged`);
    }
  } catch (e) {
    fail(`boots: ${(e as Error).stack ?? e}`);
  } finally {
    if (svc) await svc.kill("SIGKILL");
    h.freeDisk();
    const check = checkDatabase(home);
    s.integrity = check.integrity;
    if (check.integrity !== "ok") fail(`integrity_check: ${check.integrity}`);
    const lost = acked.filter((t) => !check.userTexts.has(t));
    s.lost = lost.length;
    s.acknowledged = acked.length;
    if (lost.length) fail(`${lost.length} acknowledged message(s) lost: ${lost.slice(0, 3).join(" | ")}`);
    if (m.kind !== "none") m.unmount();
    rmSync(root, { recursive: true, force: true });
  }
  startTimes.sort((a, b) => a - b);
  s.startMs = { median: Math.round(startTimes[startTimes.length >> 1] ?? 0), max: Math.round(startTimes.at(-1) ?? 0) };
  s.seconds = Math.round((performance.now() - t0) / 100) / 10;
  return s;
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Bun.argv.slice(2), options: { boots: { type: "string" }, seed: { type: "string" } }, strict: true });
  const s = await runBoots({ boots: Number(values.boots ?? 200), seed: values.seed === undefined ? undefined : Number(values.seed), log: (x) => console.error(x) });
  console.log(JSON.stringify(s, null, 2));
  process.exit(s.failures.length ? 1 : 0);
}
