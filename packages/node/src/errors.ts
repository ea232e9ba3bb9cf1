/**
 * Error classes: {@link SpikardError} for what the core refuses (bad schema, duplicate route,
 * bind failure, a send on a closed connection, ...), each with the core's stable `code` and one
 * subclass per code a program may want to catch; {@link PublishError} for a message its topic's
 * schema refuses; {@link Rejection} for `onConnect` to refuse a connection; {@link HandlerError}
 * for a handler to send its client an error message.
 *
 * @module
 */

/** An error from the Rust core, with its stable code (`schema_compile`, `bind_failed`, ...). */
export class SpikardError extends Error {
  /** The core's stable error code; see `docs/protocol.md`. */
  readonly code: string;
  /** The route it concerns (route registration errors). */
  readonly route: string | undefined;

  /** An error with this code and message. */
  constructor(code: string, message: string, options?: ErrorOptions & { route?: string | undefined }) {
    super(message, options);
    this.name = "SpikardError";
    this.code = code;
    this.route = options?.route;
  }
}

/** A send on a connection that is closed or closing (code `connection_closed`). */
export class ConnectionClosedError extends SpikardError {
  /** An error with this message (`code` is for {@link QueueFullError}). */
  constructor(message: string, options?: ErrorOptions, code = "connection_closed") {
    super(code, message, options);
    this.name = "ConnectionClosedError";
  }
}

/**
 * A send that found the client's outgoing queue full (code `queue_full`): the client is not
 * reading, and the connection is being closed with 1013. A {@link ConnectionClosedError}.
 */
export class QueueFullError extends ConnectionClosedError {
  /** An error with this message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options, "queue_full");
    this.name = "QueueFullError";
  }
}

/**
 * `close(code, reason)` with a code a server may not send (use 1000-1003, 1007-1014 or
 * 3000-4999) or a reason longer than 123 bytes (code `invalid_close`); the connection stays open.
 */
export class InvalidCloseError extends SpikardError {
  /** An error with this message. */
  constructor(message: string, options?: ErrorOptions) {
    super("invalid_close", message, options);
    this.name = "InvalidCloseError";
  }
}

/**
 * Something done at the wrong time (code `invalid_state`): changing the app after `listen`,
 * listening twice, answering a call twice.
 */
export class InvalidStateError extends SpikardError {
  /** An error with this message. */
  constructor(message: string, options?: ErrorOptions) {
    super("invalid_state", message, options);
    this.name = "InvalidStateError";
  }
}

/**
 * Throw it from a handler to send the client a `handler_error` envelope with this message; the
 * connection stays open.
 *
 * Only this error's message reaches the client. Anything else a handler throws (or rejects
 * with) is an internal error: the client gets `"internal error"` and the error is logged with
 * its stack through the app's logger.
 */
export class HandlerError extends Error {
  /** An error whose message is sent to the client. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HandlerError";
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
 * text, the same in every language; uncaught in a handler, it is an internal error (logged,
 * the client gets `"internal error"`).
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
 * (403 by default; a status that is not 4xx or 5xx is a mistake answered with 500) and a
 * `connection_rejected` envelope carrying `message`. Anything else thrown by `onConnect` is an
 * internal error: logged with its stack, the upgrade refused with 500.
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

/** The classes of the core's codes that have their own (the other codes: {@link SpikardError}). */
const CLASSES = new Map<string, new (message: string, options?: ErrorOptions) => SpikardError>([
  ["connection_closed", ConnectionClosedError],
  ["queue_full", QueueFullError],
  ["invalid_close", InvalidCloseError],
  ["invalid_state", InvalidStateError],
]);

/** Every other code of the core (`docs/protocol.md`). */
const CODES = new Set([
  "schema_compile",
  "invalid_path",
  "duplicate_route",
  "invalid_config",
  "bind_failed",
  "serve_failed",
  "pubsub_unavailable",
  "invalid_value",
]);

/** What the native addon sets on the errors it throws. */
interface NativeFailure {
  code?: unknown;
  route?: unknown;
  topic?: unknown;
  errors?: unknown;
}

/**
 * The native addon's errors carry the core's code as their `code` property (and `route`,
 * `topic`, `errors` when known): each becomes the error class of its code, the one mapping of
 * codes to classes. Anything else is returned as it is.
 */
export function fromNative(err: unknown): unknown {
  if (!(err instanceof Error)) {
    return err;
  }
  const { code, route, topic, errors } = err as NativeFailure;
  if (typeof code !== "string") {
    return err;
  }
  const options = { cause: err };
  if (code === "publish_invalid") {
    const fields = Array.isArray(errors) ? (errors as FieldError[]) : [];
    return new PublishError(code, err.message, typeof topic === "string" ? topic : "", fields, options);
  }
  const cls = CLASSES.get(code);
  if (cls !== undefined) {
    return new cls(err.message, options);
  }
  if (CODES.has(code)) {
    return new SpikardError(code, err.message, { ...options, route: typeof route === "string" ? route : undefined });
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
