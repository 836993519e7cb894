/**
 * chat.ts — `bun run chat`: the terminal on the living session.
 *
 * When the service runs on this ARIANNA_HOME the chat is its client (over
 * HTTP, like the page); otherwise it runs its own engine and holds the home
 * (src/chat/connect.ts). Shows Arianna's reply as it comes, then what leo made
 * of the turn (presence, trauma, themes). Works as a REPL on a terminal and
 * with piped stdin, one message per line:  printf 'hello\nwho are you?\n' | bun run chat
 *
 * Commands: /new (start a new episode), /status, /quit. Ctrl-C stops a reply
 * being written (what was written stays; an empty reply is not stored); at the
 * prompt, Ctrl-C or Ctrl-D leaves.
 */
import { createInterface } from "node:readline";
import { loadRuntimeConfig, loadThreads } from "./config/runtime.ts";
import type { Highlight } from "./leo/index.ts";
import { openLiveSession } from "./orchestrator/index.ts";
import { engineStep, setting } from "./service/startup.ts";
import { echoing, type ChatTurn, type Reading } from "./chat/backend.ts";
import { connect } from "./chat/connect.ts";

const tty = process.stdout.isTTY === true;
const paint = (code: string, text: string) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
const dim = (text: string) => paint("2", text);

function withHighlights(text: string, highlights: readonly Highlight[]): string {
  let out = "";
  let at = 0;
  for (const [start, end, kind] of highlights) {
    if (start < at) continue;
    out += text.slice(at, start) + paint(kind === "wound" ? "31" : "36", text.slice(start, end));
    at = end;
  }
  return out + text.slice(at);
}

function describe(r: Reading): string {
  const p = r.presence;
  const trauma = `trauma ${r.trauma.level.toFixed(2)}${r.trauma.wounded ? " WOUNDED" : ""}${r.trauma.event ? " (event)" : ""}`;
  const themes = r.themes.map((t) => `${t.words.slice(0, 3).join("·")}${t.trend === "steady" ? "" : ` ${t.trend}`}`);
  return dim(
    `  presence ${p.pulse.toFixed(2)} (N ${p.novelty.toFixed(2)} A ${p.arousal.toFixed(2)} E ${p.entropy.toFixed(2)}) · ${trauma}` +
      ` · quality ${r.quality.toFixed(2)}${r.candidates > 1 ? ` of ${r.candidates}` : ""}` +
      (themes.length ? ` · themes ${themes.join(", ")}` : "") +
      (echoing(r.externalRatio) ? ` · echoing you (${r.externalRatio.toFixed(2)})` : ""),
  );
}

/** After the streamed text: the stored reply when it differs, and leo's reading. */
function summary(r: ChatTurn, shown: string): string {
  let out = "";
  if (r.reading && (r.revised || r.text !== shown)) out += `\n  ↳ ${withHighlights(r.text, r.highlights)}`;
  if (r.stopped) out += dim(`\n  (${r.stopped})`);
  return `${out}\n${r.reading ? describe(r.reading) + "\n" : ""}`;
}

const config = setting(() => loadRuntimeConfig());
const threads = setting(() => loadThreads());
const backend = await connect(config.home, {
  open: () => engineStep("cannot start the engine", () => openLiveSession({ config, threads })),
  onWait: (h) => console.log(dim(`the service (pid ${h.pid}) is starting on this home; waiting for it…`)),
});
const interactive = process.stdin.isTTY === true;
let running: AbortController | undefined;

const hello = await backend.greeting();
console.log(
  dim(
    `InnerArianna · ${hello.kernel} · ${hello.messages} messages remembered` +
      (hello.episode ? ` · episode "${hello.episode}"` : "") +
      ` · through ${backend.where}` +
      (interactive ? " · /new /status /quit · Ctrl-C stops a reply" : ""),
  ),
);

// On a terminal readline echoes what is typed and draws the prompt: it needs the output stream.
const rl = createInterface({ input: process.stdin, ...(interactive ? { output: process.stdout, terminal: true } : { terminal: false }), prompt: "you › " });
rl.on("SIGINT", () => {
  if (running) running.abort();
  else rl.close();
});
if (interactive) rl.prompt();

for await (const line of rl) {
  const text = line.trim();
  if (text === "/quit") break;
  try {
    if (text === "/new") {
      await backend.newEpisode();
      console.log(dim("  a new episode begins"));
    } else if (text === "/status") {
      console.log(dim(`  ${await backend.status()}`));
    } else if (text) {
      if (!interactive) console.log(`you › ${text}`);
      process.stdout.write("arianna › ");
      running = new AbortController();
      let shown = "";
      const result = await backend.turn(text, {
        signal: running.signal,
        onText: (delta) => {
          shown += delta;
          process.stdout.write(delta);
        },
        onResample: (n) => process.stdout.write(dim(` (re-sampling: candidate ${n + 1})`)),
      });
      process.stdout.write(summary(result, shown));
    }
  } catch (error) {
    console.error(`\n  (no reply: ${error instanceof Error ? error.message : error})`);
  } finally {
    running = undefined;
  }
  if (interactive) rl.prompt();
}
rl.close();
await backend.close();
