/**
 * Error classes: {@link SpikardError} for what the core refuses (bad schema, duplicate route,
 * bind failure, ...), each with the core's stable `code`, and {@link Rejection} for `onConnect`
 * to refuse a connection.
 *
 * @module
 */

/** An error from the Rust core, with its stable code (`schema_compile`, `bind_failed`, ...). */
export class SpikardError extends Error {
  /** The core's stable error code; see `docs/protocol.md`. */
  readonly code: string;

  /** An error with this code and message. */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SpikardError";
    this.code = code;
  }
}

/**
 * Throw it from `onConnect` to refuse the connection: the upgrade is answered with `status`
 * (403 by default) and a `connection_rejected` envelope carrying `message`. Any other error
 * thrown by `onConnect` refuses with 403 and its message too.
 */
export class Rejection extends Error {
  /** HTTP status of the refusal (4xx or 5xx). */
  readonly status: number;

  /** A refusal with this reason and status. */
  constructor(message: string, status = 403) {
    super(message);
    this.name = "Rejection";
    this.status = status;
  }
}

const CODED = /^\[([a-z_]+)\] ([\s\S]*)$/;

/** The native addon tags its errors `[code] message`; turn them into {@link SpikardError}s. */
export function fromNative(err: unknown): unknown {
  if (err instanceof Error) {
    const match = CODED.exec(err.message);
    if (match !== null) {
      return new SpikardError(match[1] ?? "unknown", match[2] ?? "", { cause: err });
    }
  }
  return err;
}

/** Run `f`, rethrowing native errors as {@link SpikardError}s. */
export function native<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw fromNative(err);
  }
}

/**
 * Run `f`, which hands a JavaScript value to the core as JSON: a value that has no JSON form (a
 * `BigInt`, a function, a symbol) throws a `TypeError`, like `JSON.stringify` does; other native
 * errors become {@link SpikardError}s.
 */
export function nativeJson<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof Error && (err as { code?: unknown }).code === "InvalidArg") {
      throw new TypeError(`not a JSON value: ${err.message}`, { cause: err });
    }
    throw fromNative(err);
  }
}

/** The message a thrown value gives the client in a `handler_error` envelope. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) {
    return err.message;
  }
  return typeof err === "string" ? err : String(err);
}
