/**
 * log.ts — a journald-friendly logger.
 *
 * Every line starts with its sd-daemon priority prefix (`<3>` error ... `<7>`
 * debug): journald, reading our stdout/stderr under systemd, turns the prefix
 * into the entry's priority (`journalctl -p warning -u arianna`). On a terminal
 * the prefix is left out. Errors and warnings go to stderr, the rest to stdout.
 * Lines below the configured level are dropped (ARIANNA_LOG, see
 * src/config/runtime.ts); the access log is off unless asked for.
 */
import type { LogLevel, LogSettings } from "../config/runtime.ts";

export type Level = LogLevel;

export interface Logger extends Record<Level, (msg: string) => void> {
  /** one HTTP request, written at info priority when the access log is on */
  access(line: string): void;
  /** whether access lines are written (callers can skip building them) */
  readonly accessEnabled: boolean;
  /** change the level and the access log (main.ts, once the settings are read) */
  configure(settings: Partial<LogSettings>): void;
}

const PRIORITY: Record<Level, number> = { error: 3, warn: 4, notice: 5, info: 6, debug: 7 };

export interface LoggerOptions extends Partial<LogSettings> {
  /** shorthand for level "debug" */
  debug?: boolean;
  /** add the `<N>` prefixes (default: unless stdout is a terminal) */
  prefix?: boolean;
  /** where a finished line goes (default: stderr for error/warn, else stdout) */
  write?: (line: string, level: Level) => void;
}

function writeStd(line: string, level: Level): void {
  (PRIORITY[level] <= PRIORITY.warn ? process.stderr : process.stdout).write(line);
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const settings: LogSettings = { level: opts.debug ? "debug" : (opts.level ?? "info"), access: opts.access ?? false };
  const prefix = opts.prefix ?? !process.stdout.isTTY;
  const write = opts.write ?? writeStd;
  const line = (level: Level, msg: string) => {
    // journald makes one entry per line: each line carries its own priority
    const p = prefix ? `<${PRIORITY[level]}>` : level === "info" || level === "notice" ? "" : `${level}: `;
    write(msg.split("\n").map((l) => p + l).join("\n") + "\n", level);
  };
  const emit = (level: Level) => (msg: string) => {
    if (PRIORITY[level] <= PRIORITY[settings.level]) line(level, msg);
  };
  return {
    error: emit("error"), warn: emit("warn"), notice: emit("notice"), info: emit("info"), debug: emit("debug"),
    access: (msg) => settings.access && line("info", msg),
    get accessEnabled() {
      return settings.access;
    },
    configure: (next) => Object.assign(settings, next),
  };
}

/** The process-wide logger. */
export const log: Logger = createLogger();
