/** A logger for tests that keeps what it is given. */

import type { Logger } from "spikard";

/** A logger that keeps every call as `[level, message, ...details]` in `calls`. */
export function capture(): Logger & { calls: unknown[][] } {
  const calls: unknown[][] = [];
  const at =
    (level: string) =>
    (...args: unknown[]): void => {
      calls.push([level, ...args]);
    };
  return { calls, error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug") };
}
