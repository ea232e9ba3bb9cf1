/**
 * {@link Logger}: where the package writes what goes wrong (errors thrown by handlers and hooks,
 * with their stack) and the Rust core's log records (dropped replies, slow consumers closed
 * with 1013, refusals answered wrongly, ...), each at its level.
 *
 * @module
 */

import { Console } from "node:console";

import type { JsLog } from "./native.js";

/**
 * A logger: `console`, pino, winston or anything with these four methods. Each call gets a
 * message first; an error thrown by a handler follows it as the second argument (its stack is
 * the place to look).
 */
export interface Logger {
  /** Something failed: a handler or hook threw, the core refused an answer. */
  error(message: string, ...details: unknown[]): void;
  /** Something went wrong with a client or a reply; the server carries on. */
  warn(message: string, ...details: unknown[]): void;
  /** Normal operation worth recording. */
  info(message: string, ...details: unknown[]): void;
  /** Diagnostics. */
  debug(message: string, ...details: unknown[]): void;
}

const stderr = new Console({ stdout: process.stderr, stderr: process.stderr });

/**
 * The default logger: errors, warnings and `info` (the listening line of `app.run`) to standard
 * error, as `console.error` writes them; `debug` is dropped (pass `logger: console` to see it too).
 */
export const stderrLogger: Logger = {
  error: (message, ...details) => stderr.error(message, ...details),
  warn: (message, ...details) => stderr.warn(message, ...details),
  info: (message, ...details) => stderr.info(message, ...details),
  debug: () => {},
};

/** Log one of the core's records at its level (`trace` as `debug`). */
export function logRecord(logger: Logger, record: JsLog): void {
  const text = `spikard: ${record.message} (${record.target})`;
  switch (record.level) {
    case "error":
      return logger.error(text);
    case "warn":
      return logger.warn(text);
    case "info":
      return logger.info(text);
    default:
      return logger.debug(text);
  }
}
