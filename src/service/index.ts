/** The service layer: journald logging, the systemd notifications, the home lock and start-up checks. */
export { createLogger, log, type Level, type Logger, type LoggerOptions } from "./log.ts";
export {
  startServiceNotifier, watchdogUsec, type NotifierOptions, type Notifying, type ServiceNotifier,
} from "./watchdog.ts";
export { acquireHomeLock, describeHolder, lockHolder, LOCK_FILE, type Holder, type HomeLock } from "./home-lock.ts";
export { engineStep, EXIT_CONFIG, holdHome, listen, localUrl, refuse, startupSettings } from "./startup.ts";
export { standbyWhileFull, tooFullToStart } from "./standby.ts";
