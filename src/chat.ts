/**
 * chat.ts — `bun run chat`: the terminal on the living session.
 *
 * Streams Arianna's tokens as they come, then shows what leo made of the turn
 * (presence, trauma, themes). Works as a REPL on a terminal and with piped
 * stdin, one message per line:  printf 'hello\nwho are you?\n' | bun run chat
 *
 * Commands: /new (start a new episode), /status, /quit. Ctrl-C stops a reply
 * being written; a second Ctrl-C (or Ctrl-D) leaves.
 */
import { createInterface } from "node:readline";
import type { Highlight } from "./leo/index.ts";
import type { TurnResult } from "./orchestrator/index.ts";
import { openLiveSession } from "./orchestrator/index.ts";

const tty = process.stdout.isTTY === true;
const paint = (code: string, text: string) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
const dim = (text: string) => paint("2", text);

function withHighlights(text: string, highlights: readonly Highlight[]): string {
  let out = "";
  let at = 0;
  for (const [start, end, kind] of highlights) {
    out += text.slice(at, start) + paint(kind === "wound" ? "31" : "36", text.slice(start, end));
    at = end;
  }
  return out + text.slice(at);
}

function describe(r: TurnResult): string {
  const p = r.presence;
  const trauma = `trauma ${r.trauma.level.toFixed(2)}${r.trauma.wounded ? " WOUNDED" : ""}${r.trauma.event ? " (event)" : ""}`;
  const themes = r.themes.map((t) => `${t.words.slice(0, 3).join("·")}${t.trend === "steady" ? "" : ` ${t.trend}`}`);
  return dim(
    `  presence ${p.pulse.toFixed(2)} (N ${p.novelty.toFixed(2)} A ${p.arousal.toFixed(2)} E ${p.entropy.toFixed(2)}) · ${trauma}` +
      ` · quality ${r.quality.toFixed(2)}${r.candidates.length > 1 ? ` of ${r.candidates.length}` : ""}` +
      (themes.length ? ` · themes ${themes.join(", ")}` : "") +
      (r.externalWarning ? ` · echoing you (${r.externalRatio.toFixed(2)})` : ""),
  );
}

const live = await openLiveSession({ threads: process.env.ARIANNA_THREADS ? Number(process.env.ARIANNA_THREADS) : undefined });
const { session } = live;
const interactive = process.stdin.isTTY === true;
let running: AbortController | undefined;

const episode = session.memory.episodes.latest();
console.log(
  dim(
    `InnerArianna · ${session.modelProfile.name} · ${session.memory.messages.count()} messages remembered` +
      (episode?.title ? ` · episode "${episode.title}"` : "") +
      (interactive ? " · /new /status /quit" : ""),
  ),
);

const rl = createInterface({ input: process.stdin, terminal: interactive, prompt: "you › " });
rl.on("SIGINT", () => {
  if (running) running.abort();
  else rl.close();
});
if (interactive) rl.prompt();

for await (const line of rl) {
  const text = line.trim();
  if (text === "/quit") break;
  if (text === "/new") {
    await session.newEpisode();
    console.log(dim("  a new episode begins"));
  } else if (text === "/status") {
    const t = session.leo.trauma.reading();
    const flow = session.leo.themes.flow().map((f) => `${f.words.slice(0, 3).join("·")} ${f.trend}`);
    console.log(dim(`  trauma ${t.level.toFixed(2)} · wounded words ${t.woundedWords.join(", ") || "none"} · themes ${flow.join(", ") || "none"}`));
  } else if (text) {
    if (!interactive) console.log(`you › ${text}`);
    process.stdout.write("arianna › ");
    running = new AbortController();
    let raw = "";
    let shown = 0;
    try {
      const result = await session.turn(text, {
        signal: running.signal,
        onToken: (piece, candidate) => {
          if (candidate !== shown) {
            shown = candidate;
            raw = "";
            process.stdout.write(dim(`\n  (trying again)\n`) + "arianna › ");
          }
          raw += piece;
          process.stdout.write(piece);
        },
      });
      // the reply given is trimmed (and maybe another candidate): show it when it differs
      if (result.text !== raw.trim()) process.stdout.write(`\n  ↳ ${withHighlights(result.text, result.highlights)}`);
      process.stdout.write(`\n${describe(result)}\n`);
    } catch (error) {
      console.error(`\n  (no reply: ${error instanceof Error ? error.message : error})`);
    } finally {
      running = undefined;
    }
  }
  if (interactive) rl.prompt();
}
await live.close();
