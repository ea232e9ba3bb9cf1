/**
 * Error classes: {@link SpikardError} for what the core refuses (bad schema, duplicate route,
 * bind failure, ...), each with the core's stable `code`; {@link PublishError} for a message
 * its topic's schema refuses; {@link Rejection} for `onConnect` to refuse a connection.
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

/** One failing location of a message checked against a schema. */
export interface FieldError {
  /** JSON pointer to the failing value (`""` for the message itself). */
  readonly path: string;
  /** What is wrong there. */
  readonly message: string;
  /** The JSON Schema keyword that failed (`maxLength`, `required`, ...). */
  readonly keyword: string;
}

/**
 * A publish refused because the message does not match the schema declared for its topic
 * (`app.topic(pattern, schema)`): nothing was queued for anyone. Its `message` is the core's
 * text, the same in every language; uncaught in a handler, it becomes the `handler_error`
 * envelope with that message.
 */
export class PublishError extends SpikardError {
  /** The topic the message was published to. */
  readonly topic: string;
  /** Every failing location, as in a `validation_failed` envelope. */
  readonly errors: readonly FieldError[];

  /** A refusal of a message published to `topic`. */
  constructor(code: string, message: string, topic: string, errors: readonly FieldError[], options?: ErrorOptions) {
    super(code, message, options);
    this.name = "PublishError";
    this.topic = topic;
    this.errors = errors;
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
      const code = match[1] ?? "unknown";
      const message = match[2] ?? "";
      const { topic, errors } = err as { topic?: unknown; errors?: unknown };
      if (typeof topic === "string" && Array.isArray(errors)) {
        return new PublishError(code, message, topic, errors as FieldError[], { cause: err });
      }
      return new SpikardError(code, message, { cause: err });
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
