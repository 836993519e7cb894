/** The service layer: journald logging and the systemd notifications. */
export { createLogger, log, type Level, type Logger, type LoggerOptions } from "./log.ts";
export {
  startServiceNotifier, watchdogUsec, type NotifierOptions, type Notifying, type ServiceNotifier,
} from "./watchdog.ts";
