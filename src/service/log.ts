/**
 * log.ts — a journald-friendly logger.
 *
 * Every line starts with its sd-daemon priority prefix (`<3>` error ... `<7>`
 * debug): journald, reading our stdout/stderr under systemd, turns the prefix
 * into the entry's priority (`journalctl -p warning -u arianna`). On a terminal
 * the prefix is left out. Errors and warnings go to stderr, the rest to stdout.
 * Debug lines are written only when ARIANNA_DEBUG is set.
 */

export type Level = "error" | "warn" | "notice" | "info" | "debug";
export type Logger = Record<Level, (msg: string) => void>;

const PRIORITY: Record<Level, number> = { error: 3, warn: 4, notice: 5, info: 6, debug: 7 };

export interface LoggerOptions {
  /** write debug lines (default: ARIANNA_DEBUG is set) */
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
  const debug = opts.debug ?? !!process.env.ARIANNA_DEBUG;
  const prefix = opts.prefix ?? !process.stdout.isTTY;
  const write = opts.write ?? writeStd;
  const emit = (level: Level) => (msg: string) => {
    if (level === "debug" && !debug) return;
    // journald makes one entry per line: each line carries its own priority
    const p = prefix ? `<${PRIORITY[level]}>` : level === "info" || level === "notice" ? "" : `${level}: `;
    write(msg.split("\n").map((l) => p + l).join("\n") + "\n", level);
  };
  return { error: emit("error"), warn: emit("warn"), notice: emit("notice"), info: emit("info"), debug: emit("debug") };
}

/** The process-wide logger. */
export const log: Logger = createLogger();
