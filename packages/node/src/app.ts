/**
 * {@link Spikard}: the functional API. Register routes with `websocket`, then `listen`.
 *
 * @module
 */

import { type CloseInfo, WebSocketContext, toBuffer } from "./context.js";
import { type Contract, type Outcome, contractOf } from "./contract.js";
import { collectRoutes } from "./decorators.js";
import { HandlerError, Rejection, SpikardError, fromNative, native as call } from "./errors.js";
import { fromJson, toJson } from "./json.js";
import { type Logger, logRecord, stderrLogger } from "./logger.js";
import { type JsBatch, type NativeCapture, type NativeConnection, native } from "./native.js";
import { type Infer, type InferReply, type SchemaLike, toJsonSchema } from "./schema.js";

/** What a handler may return: a reply (sent as JSON), or nothing to send no reply. */
export type Reply<R> = InferReply<R> | undefined | void;

/** A message handler: gets each validated message (in order per connection) and its context. */
export type MessageHandler<M = undefined, R = undefined, State extends object = Record<string, unknown>> = (
  message: Infer<M>,
  ctx: WebSocketContext<State>,
) => Reply<R> | Promise<Reply<R>>;

/** Called before the upgrade completes; throw a {@link Rejection} to refuse. */
export type ConnectHook<State extends object = Record<string, unknown>> = (
  ctx: WebSocketContext<State>,
) => void | Promise<void>;

/** Called exactly once per accepted connection, after it ended. */
export type DisconnectHook<State extends object = Record<string, unknown>> = (
  ctx: WebSocketContext<State>,
  close: CloseInfo,
) => void | Promise<void>;

/** Handles binary frames: return bytes (sent as a binary frame), a JSON value, or nothing. */
export type BinaryHandler<State extends object = Record<string, unknown>> = (
  data: Buffer,
  ctx: WebSocketContext<State>,
) => unknown;

/** Options of one WebSocket route. */
export interface WebSocketOptions<M = undefined, R = undefined, State extends object = Record<string, unknown>> {
  /** Every message must match it (validated in Rust before the handler runs): raw JSON Schema,
   * a zod 4 schema or a TypeBox schema. The handler's `message` type is inferred from it. */
  messageSchema?: M;
  /** Every reply must match it; a failing reply is dropped and logged, never sent. */
  responseSchema?: R;
  /** Runs before the upgrade completes; a {@link Rejection} thrown refuses the connection with
   * its status (403 by default), anything else thrown refuses it with 500 and is logged. */
  onConnect?: ConnectHook<State>;
  /** Runs once per accepted connection, after it ended, with the close code. */
  onDisconnect?: DisconnectHook<State>;
  /** Accept binary frames (without it a binary frame closes the connection with 1003). */
  onBinary?: BinaryHandler<State>;
  /** Largest accepted message on this route, in bytes (larger ones close with 1009). */
  maxMessageSize?: number;
  /** The subprotocols this route speaks (`Sec-WebSocket-Protocol`), in order of preference: the
   * upgrade selects the first one the client offered ({@link WebSocketContext.subprotocol}); a
   * client offering none of them connects without one. */
  subprotocols?: readonly string[];
  /** A plain-text route: each text message reaches the handler as the string it is (no JSON
   * parsing, no `invalid_json`), and a string reply is sent as that text, not JSON-quoted; any
   * other reply is sent as JSON. A `messageSchema` cannot be given with it (`invalid_config`). */
  rawText?: boolean;
  /** What the route is for: its channel's description in the AsyncAPI document. */
  description?: string;
}

/** The handler of a raw-text route (`rawText: true`): each text message arrives as the string it
 * is; a string reply is sent as that text, anything else as JSON, `undefined` sends nothing. */
export type RawTextHandler<State extends object = Record<string, unknown>> = (
  message: string,
  ctx: WebSocketContext<State>,
) => unknown;

/** Options of a raw-text route: {@link WebSocketOptions} with `rawText: true` and no
 * `messageSchema`. */
export type RawTextOptions<State extends object = Record<string, unknown>> = Omit<
  WebSocketOptions<undefined, SchemaLike | undefined, State>,
  "messageSchema" | "rawText"
> & { rawText: true };

/** A handler of one message type of a dispatching route: gets each message of that type (validated
 * against the branch's schema, in order per connection) and its context; its reply is checked
 * against the branch's `replySchema`. */
export type BranchHandler<M = undefined, R = undefined, State extends object = Record<string, unknown>> = MessageHandler<
  M,
  R,
  State
>;

/** Options of one message type (branch) of a dispatching route ({@link DispatchRoute.on}). */
export interface BranchOptions<M = undefined, R = undefined> {
  /** Every message of this type must match it (validated in Rust after the core picked the
   * branch): raw JSON Schema, a zod 4 schema or a TypeBox schema, as a route's `messageSchema`.
   * The handler's `message` type is inferred from it. */
  schema?: M;
  /** Every reply of this branch's handler must match it; a failing reply is dropped and logged. */
  replySchema?: R;
  /** What this message type does: the message's description in the AsyncAPI document. */
  description?: string;
}

/** Options of a route that dispatches by message type ({@link Spikard.dispatch}). Hooks and
 * binary frames stay with the route, as on any route. */
export interface DispatchOptions<State extends object = Record<string, unknown>>
  extends Omit<WebSocketOptions<undefined, undefined, State>, "messageSchema" | "responseSchema" | "rawText"> {
  /** The field naming a message's type (default `"type"`). */
  discriminator?: string;
}

/** The Info Object of an AsyncAPI document: `title` (default `"Spikard app"`), `version` (default
 * `"0.0.0"`), and any other field AsyncAPI 3.0 allows (`description`, `contact`, ...). */
export interface AsyncApiInfo {
  /** The application's name. */
  title?: string;
  /** The application's version (not the AsyncAPI version). */
  version?: string;
  /** What the application does. */
  description?: string;
  /** Any other Info Object field. */
  [field: string]: unknown;
}

/** An AsyncAPI 3.0.0 document, as {@link Spikard.asyncapi} returns it (parsed JSON). */
export type AsyncApiDocument = { readonly asyncapi: string } & Record<string, unknown>;

/** One branch as the app keeps it. */
interface BranchEntry {
  readonly name: string;
  readonly handler: (message: unknown, ctx: WebSocketContext<object>) => unknown;
  readonly options: BranchOptions<SchemaLike | undefined, SchemaLike | undefined>;
}

/**
 * A route that dispatches by message type, returned by {@link Spikard.dispatch}: add one
 * handler per type with {@link DispatchRoute.on}. The route is registered with the core when the
 * app starts listening or first builds its AsyncAPI document (no branch can be added after
 * that); a route the core refuses (no branch, a schema that does not compile, a duplicate path)
 * throws then.
 */
export class DispatchRoute<State extends object = Record<string, unknown>> {
  /** The route's path. */
  readonly path: string;
  readonly #branches: BranchEntry[] = [];
  readonly #sealed: () => boolean;

  /** @internal Made by {@link Spikard.dispatch}. */
  constructor(path: string, branches: BranchEntry[], sealed: () => boolean) {
    this.path = path;
    this.#branches = branches;
    this.#sealed = sealed;
  }

  /**
   * Handle the messages whose discriminator is `type` with `handler` (`(message, ctx)`, whose
   * return value is the reply, as for {@link Spikard.websocket}). When a message carries an `id`
   * (a string or an integer), the core puts it into an object reply. Branches keep the order
   * they were added in (the order the `validation_failed` text of an unknown type lists them).
   */
  on<const M extends SchemaLike | undefined = undefined, const R extends SchemaLike | undefined = undefined>(
    type: string,
    handler: BranchHandler<M, R, State>,
    options: BranchOptions<M, R> = {},
  ): this {
    if (this.#sealed()) {
      throw new SpikardError(
        "invalid_state",
        `the route ${this.path} is registered already: add branches before listen or asyncapi`,
      );
    }
    this.#branches.push({
      name: type,
      handler: handler as BranchEntry["handler"],
      options: options as BranchEntry["options"],
    });
    return this;
  }
}

/** App-wide options; each defaults to the core's value (`docs/protocol.md`, "Limits and
 * defaults"). Sizes are in bytes, times in milliseconds. */
export interface SpikardOptions {
  /** Largest accepted message for routes without their own limit (default 1 MiB; 1009 above). */
  maxMessageSize?: number;
  /** Serve this directory's files on every path that is not a WebSocket route. */
  staticDir?: string;
  /** Capacity of each connection's outgoing queue, in messages (default 1024): a client that
   * stops reading until it is full is closed with 1013. */
  outgoingQueue?: number;
  /** The same queue's capacity in payload bytes (default 4 MiB; 1013 past it). */
  outgoingQueueBytes?: number;
  /** Bytes each connection reads from its socket at a time (default 2 KiB). */
  readBufferSize?: number;
  /** Largest upgrade request head (default 16 KiB; HTTP 431 above). */
  maxRequestHead?: number;
  /** Largest single header of an upgrade request (default 8 KiB; HTTP 431 above). */
  maxHeaderSize?: number;
  /** Most WebSocket connections open at once (default 10,000; HTTP 503 past it). */
  maxConnections?: number;
  /** The only origins allowed to upgrade, e.g. `["https://chat.example.com"]` (default: any);
   * a missing or other `Origin` gets HTTP 403 before `onConnect` runs. */
  allowedOrigins?: string[];
  /** How long a client has to send its upgrade request, and `onConnect` to decide (default 10 s). */
  handshakeTimeoutMs?: number;
  /** How long graceful shutdown waits for connections to close (default 10 s). */
  drainTimeoutMs?: number;
  /** The longest, in milliseconds, that a subscriber's published messages are held while some
   * connection is still handling messages that were already waiting (default 1; 0 holds
   * nothing). What such a burst publishes then leaves in one socket write per subscriber.
   * Replies and direct sends are never held. */
  fanoutFlushMs?: number;
  /** Time between the server's pings to each connection (default 25 s; 0 sends none). */
  pingIntervalMs?: number;
  /** Time a ping waits for its pong before the connection is closed with 1011 (default 20 s). */
  pingTimeoutMs?: number;
  /** Close a connection with 1001 when its client sent no message for this long (default 0:
   * never). */
  idleTimeoutMs?: number;
  /** Share rooms with every other server (process, machine, language) using the same backend:
   * a Redis URL such as `"redis://127.0.0.1:6379/0"`, or `"local"` (default, unless the
   * `SPIKARD_PUBSUB` environment variable names one). `listen` rejects with
   * `pubsub_unavailable` when it cannot be reached. See `docs/scaling.md`. */
  pubsub?: string;
  /** Bind with `SO_REUSEPORT`, so that several processes serve one port (default false). */
  reusePort?: boolean;
  /** Serve the app's AsyncAPI document ({@link Spikard.asyncapi}) over HTTP `GET` / `HEAD` at
   * `path` (e.g. `"/asyncapi.json"`), built by the core once when the server starts, with `info`
   * as its Info Object. Off by default; a path that is also a WebSocket route is refused. */
  asyncapi?: { path: string; info?: AsyncApiInfo };
  /** Negotiate permessage-deflate (RFC 7692) with clients that offer it (every browser does):
   * `true` with the defaults, or {@link CompressionOptions}. Off by default: it costs CPU per
   * message and memory per connection, and secrets compressed together with input an attacker
   * chooses can leak (CRIME/BREACH). Size limits and schemas apply to the inflated message.
   * See `docs/node.md`, "Compression". */
  compression?: boolean | CompressionOptions;
  /** Where errors thrown by handlers and hooks (with their stack) and the core's log records
   * go, at their level (default: errors and warnings to standard error). */
  logger?: Logger;
}

/** The settings of {@link SpikardOptions.compression}, each optional. */
export interface CompressionOptions {
  /** Messages the server sends (replies, pushes, published messages) of at least this many
   * payload bytes go out compressed, shorter ones as they are (default 1024; 0 compresses
   * every message). */
  threshold?: number;
  /** Keep the server's compressor from one message to the next on each connection: better
   * ratios for similar messages, at about 260 KiB per connection for as long as it lives
   * (default false: each message is compressed on its own and the compressor freed). */
  serverContextTakeover?: boolean;
  /** zlib level of the messages the server compresses, 0 (stored) to 9 (smallest); default 1,
   * the fastest (on a 16 KiB JSON document less than half the CPU of level 6, for a reply about
   * 17% larger). The core refuses other values. */
  level?: number;
}

/** The options that are whole numbers, with the core's name for each. */
const COUNTS = {
  maxMessageSize: "max_message_size",
  outgoingQueue: "outgoing_queue",
  outgoingQueueBytes: "outgoing_queue_bytes",
  readBufferSize: "read_buffer_size",
  maxRequestHead: "max_request_head",
  maxHeaderSize: "max_header_size",
  maxConnections: "max_connections",
} as const;

/** The options that are times in milliseconds, with the core's name for each (in seconds). */
const DURATIONS = {
  handshakeTimeoutMs: "handshake_timeout",
  drainTimeoutMs: "drain_timeout",
  fanoutFlushMs: "fanout_flush_interval",
  pingIntervalMs: "ping_interval",
  pingTimeoutMs: "ping_timeout",
  idleTimeoutMs: "idle_timeout",
} as const;

/** `options` as the core reads them (snake_case names, times in seconds), each checked for its
 * kind here so that an error names the option as the caller spelled it; the core checks ranges. */
function coreSettings(options: SpikardOptions): Record<string, unknown> {
  const settings: Record<string, unknown> = {
    allowed_origins: options.allowedOrigins,
    static_dir: options.staticDir,
    pubsub: options.pubsub,
    reuse_port: options.reusePort,
    asyncapi: options.asyncapi,
    compression: compressionSetting(options.compression),
  };
  for (const [name, core] of Object.entries(COUNTS)) {
    const value = options[name as keyof typeof COUNTS];
    if (value !== undefined && !(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff)) {
      throw new SpikardError("invalid_config", `${name} must be a whole number from 0 to 4294967295`);
    }
    settings[core] = value;
  }
  for (const [name, core] of Object.entries(DURATIONS)) {
    const value = options[name as keyof typeof DURATIONS];
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
      throw new SpikardError("invalid_config", `${name} must be a non-negative number of milliseconds`);
    }
    settings[core] = value === undefined ? undefined : value / 1000;
  }
  return settings;
}

/** The `compression` option as the core reads it (`true`, `false` or snake_case settings). */
function compressionSetting(value: SpikardOptions["compression"]): unknown {
  if (value === undefined || typeof value === "boolean") {
    return value;
  }
  const refused = (why: string): SpikardError => new SpikardError("invalid_config", `compression ${why}`);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw refused("must be true, false or { threshold, serverContextTakeover, level }");
  }
  const unknown = Object.keys(value).find((key) => !["threshold", "serverContextTakeover", "level"].includes(key));
  if (unknown !== undefined) {
    throw refused(`takes threshold, serverContextTakeover and level, not ${unknown}`);
  }
  const { threshold, serverContextTakeover, level } = value;
  if (threshold !== undefined && !(Number.isInteger(threshold) && threshold >= 0 && threshold <= 0xffff_ffff)) {
    throw refused("threshold must be a whole number from 0 to 4294967295");
  }
  if (serverContextTakeover !== undefined && typeof serverContextTakeover !== "boolean") {
    throw refused("serverContextTakeover must be true or false");
  }
  return defined({ threshold, server_context_takeover: serverContextTakeover, level });
}

/** Where to listen. */
export interface ListenOptions {
  /** Interface to bind (default `127.0.0.1`). */
  host?: string;
  /** Port to bind (default 8000; 0 picks a free port). */
  port?: number;
}

/** The address a server is bound to. */
export interface Address {
  /** The bound IP address. */
  readonly host: string;
  /** The bound port (the real one when port 0 was asked for). */
  readonly port: number;
  /** `ws://host:port`, to append a route path to. */
  readonly url: string;
}

/** Where a message goes: its handler, with the parse and encode of its schemas. */
interface Target {
  readonly handler: (message: unknown, ctx: WebSocketContext<object>) => unknown;
  /** zod / TypeBox parse of each message that passed the core's check (see contract.ts). */
  readonly parse: Contract["run"];
  /** zod / TypeBox encode of each JSON reply before the core checks and sends it. */
  readonly encode: Contract["run"];
}

interface RouteEntry extends Target {
  /** A dispatching route's branches by name (the core names the branch of each message). */
  readonly branches: ReadonlyMap<string, Target> | undefined;
  readonly onConnect: ((ctx: WebSocketContext<object>) => unknown) | undefined;
  readonly onDisconnect: ((ctx: WebSocketContext<object>, close: CloseInfo) => unknown) | undefined;
  readonly onBinary: ((data: Buffer, ctx: WebSocketContext<object>) => unknown) | undefined;
}

/** `object` without its `undefined` fields (the addon reads JSON, which has no `undefined`). */
function defined(object: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}

/** The number of each kind of job, as the addon numbers them. */
const KIND = native.callKinds();

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/**
 * Call `then` with a value or the settled value of a promise; `caught` gets a rejection, and
 * what `then` throws once the promise settled.
 */
function settle<T>(value: T | Promise<T>, then: (value: T) => void, caught: (err: unknown) => void): void {
  if (value instanceof Promise) {
    value.then(then).catch(caught);
  } else {
    then(value);
  }
}

/** The messages published to one topic since {@link Spikard.capture}, oldest first. */
export class PublishCapture {
  /** The topic it records. */
  readonly topic: string;
  readonly #native: NativeCapture;
  #final: unknown[] | undefined;

  /** @internal Made by {@link Spikard.capture}. */
  constructor(topic: string, capture: NativeCapture) {
    this.topic = topic;
    this.#native = capture;
  }

  /** The messages published so far, as JSON values. */
  get messages(): unknown[] {
    return this.#final ?? this.#recorded();
  }

  /** Stop recording; {@link PublishCapture.messages} keeps what was recorded. */
  stop(): void {
    if (this.#final === undefined) {
      this.#final = this.#recorded();
      this.#native.stop();
    }
  }

  /** What the core recorded so far, parsed from its JSON texts. */
  #recorded(): unknown[] {
    return this.#native.messages().map((text) => fromJson(text));
  }
}

/**
 * A Spikard app: WebSocket routes served by the Rust core.
 *
 * ```ts
 * const app = new Spikard();
 * app.websocket("/echo", (message) => message);
 * const { url } = await app.listen({ port: 0 });
 * // ...
 * await app.close();
 * ```
 */
export class Spikard {
  readonly #app = new native.NativeApp();
  readonly #routes: RouteEntry[] = [];
  /** Dispatching routes whose branches may still grow, registered by {@link Spikard.#flush}. */
  #pending: { route: DispatchRoute<object>; options: DispatchOptions<object>; branches: BranchEntry[] }[] = [];
  #sealed = false;
  readonly #connections = new Map<number, WebSocketContext<object>>();
  readonly #logger: Logger;
  readonly #onStartup: (() => unknown)[] = [];
  readonly #onShutdown: (() => unknown)[] = [];
  #address: Address | undefined;
  #closing: Promise<void> | undefined;

  /** An app with no routes. */
  constructor(options: SpikardOptions = {}) {
    this.#logger = options.logger ?? stderrLogger;
    const settings = coreSettings(options);
    call(() => this.#app.configure(settings));
  }

  /**
   * Declare the schema of the messages published to the topics `pattern` matches: a topic name
   * (`"news"`), or a prefix followed by one `*` (`"news*"` matches `news`, `newsroom`,
   * `news/eu`). `schema` is raw JSON Schema, zod 4 or TypeBox, converted like a route's
   * `messageSchema`. Every publish to a matching topic (from a context or from the app) is
   * validated once, in Rust, before fan-out; a failing one is queued for nobody and throws a
   * {@link PublishError}. An exact name beats a prefix, a longer prefix a shorter one.
   *
   * Throws a `SpikardError` `schema_compile` for a schema that does not compile,
   * `invalid_config` for a bad or repeated pattern, `invalid_state` after `listen`.
   */
  topic(pattern: string, schema: SchemaLike): this {
    const json = toJsonSchema(schema, "input");
    call(() => this.#app.topicSchema(pattern, json));
    return this;
  }

  /**
   * Serve a WebSocket route. `handler` gets each message that passed `messageSchema`; what it
   * returns (or resolves to) is sent back (bytes as a binary frame, anything else as JSON),
   * `undefined` sends nothing. A {@link HandlerError} thrown sends a `handler_error` envelope with
   * its message; anything else thrown is logged with its stack and the client gets
   * `"internal error"`. The connection stays open either way.
   *
   * Throws a `SpikardError` (`schema_compile`, `invalid_path`, `duplicate_route`) naming the
   * route when it cannot be served.
   */
  websocket<State extends object = Record<string, unknown>>(
    path: string,
    handler: RawTextHandler<State>,
    options: RawTextOptions<State>,
  ): this;
  websocket<
    const M extends SchemaLike | undefined = undefined,
    const R extends SchemaLike | undefined = undefined,
    State extends object = Record<string, unknown>,
  >(path: string, handler: MessageHandler<M, R, State>, options?: WebSocketOptions<M, R, State>): this;
  websocket(path: string, handler: (message: never, ctx: never) => unknown, options: object = {}): this {
    this.#add(
      path,
      handler as RouteEntry["handler"],
      options as WebSocketOptions<SchemaLike | undefined, SchemaLike | undefined, object>,
    );
    return this;
  }

  #add(
    path: string,
    handler: RouteEntry["handler"],
    options: WebSocketOptions<SchemaLike | undefined, SchemaLike | undefined, object>,
  ): void {
    const message = options.messageSchema === undefined ? undefined : contractOf(options.messageSchema, "message");
    const response = options.responseSchema === undefined ? undefined : contractOf(options.responseSchema, "reply");
    const routeOptions = {
      messageSchema: message?.json,
      responseSchema: response?.json,
      maxMessageSize: options.maxMessageSize,
      subprotocols: options.subprotocols === undefined ? undefined : [...options.subprotocols],
      rawText: options.rawText,
      description: options.description,
      onConnect: options.onConnect !== undefined,
      onDisconnect: options.onDisconnect !== undefined,
      binary: options.onBinary !== undefined,
    };
    const index = call(() => this.#app.route(path, routeOptions));
    this.#routes[index] = {
      handler,
      parse: message?.run,
      encode: response?.run,
      branches: undefined,
      onConnect: options.onConnect,
      onDisconnect: options.onDisconnect,
      onBinary: options.onBinary,
    };
  }

  /**
   * Serve a WebSocket route that dispatches by message type: each JSON message must be an object
   * whose `discriminator` field (default `"type"`) names one of the route's branches, added with
   * {@link DispatchRoute.on}; the Rust core picks the branch and validates the message against
   * that branch's schema before its handler runs. A message it cannot dispatch gets
   * `validation_failed` listing the allowed types. `onConnect`, `onDisconnect` and `onBinary`
   * work as on any route.
   *
   * ```ts
   * app
   *   .dispatch("/chat", { description: "A chat without rooms." })
   *   .on("join", (m) => ({ joined: m.user }), { schema: Join, description: "Join the chat." })
   *   .on("leave", () => ({ left: true }));
   * ```
   */
  dispatch<State extends object = Record<string, unknown>>(
    path: string,
    options: DispatchOptions<State> = {},
  ): DispatchRoute<State> {
    if (this.#sealed) {
      throw new SpikardError("invalid_state", "routes and settings cannot change after listen");
    }
    const branches: BranchEntry[] = [];
    // Registered (by listen or asyncapi) means complete: a later branch would be ignored.
    const route = new DispatchRoute<State>(path, branches, () => !this.#pending.some((p) => p.branches === branches));
    this.#pending.push({ route: route as DispatchRoute<object>, options: options as DispatchOptions<object>, branches });
    return route;
  }

  /** Register a dispatching route with the core: its branches' schemas go to the core, their
   * zod / TypeBox parse and encode and their handlers stay here under the branch's name. */
  #addDispatch(path: string, options: DispatchOptions<object>, branches: readonly BranchEntry[]): void {
    const targets = new Map<string, Target>();
    const described: Record<string, Record<string, unknown>> = {};
    for (const branch of branches) {
      const { schema, replySchema, description } = branch.options;
      const message = schema === undefined ? undefined : contractOf(schema, "message");
      const reply = replySchema === undefined ? undefined : contractOf(replySchema, "reply");
      described[branch.name] = defined({ message_schema: message?.json, reply_schema: reply?.json, description });
      targets.set(branch.name, { handler: branch.handler, parse: message?.run, encode: reply?.run });
    }
    const routeOptions = {
      maxMessageSize: options.maxMessageSize,
      subprotocols: options.subprotocols === undefined ? undefined : [...options.subprotocols],
      description: options.description,
      dispatch: defined({ discriminator: options.discriminator, branches: described }) as {
        branches: Record<string, Record<string, unknown>>;
      },
      onConnect: options.onConnect !== undefined,
      onDisconnect: options.onDisconnect !== undefined,
      binary: options.onBinary !== undefined,
    };
    const index = call(() => this.#app.route(path, routeOptions));
    this.#routes[index] = {
      handler: () => undefined,
      parse: undefined,
      encode: undefined,
      branches: targets,
      onConnect: options.onConnect,
      onDisconnect: options.onDisconnect,
      onBinary: options.onBinary,
    };
  }

  /** Register the dispatching routes made by {@link Spikard.dispatch} so far. */
  #flush(): void {
    for (const { route, options, branches } of this.#pending.splice(0)) {
      this.#addDispatch(route.path, options, branches);
    }
  }

  /**
   * The app's AsyncAPI 3.0.0 document (parsed JSON), built by the Rust core from the routes,
   * topic schemas and options registered so far, exactly as every Spikard language builds it:
   * a channel per route, a `receive` operation per message type with its reply, the error
   * envelope, the topics' messages. `info` is the Info Object (`title`, `version`, ...).
   */
  asyncapi(info: AsyncApiInfo = {}): AsyncApiDocument {
    if (!this.#sealed) {
      this.#flush();
    }
    return JSON.parse(call(() => this.#app.asyncapi(info))) as AsyncApiDocument;
  }

  /**
   * Register the routes of a class decorated with `@websocket` (and its `@onConnect` /
   * `@onDisconnect` hooks). Pass an instance, or a class with a constructor taking no
   * arguments; methods run with `this` bound to the instance.
   */
  register(instanceOrClass: object | (new () => object)): this {
    const instance: object =
      typeof instanceOrClass === "function" ? new (instanceOrClass as new () => object)() : instanceOrClass;
    for (const route of collectRoutes(instance)) {
      if (route.dispatch === undefined) {
        this.#add(route.path, route.handler, route.options);
      } else {
        this.#addDispatch(route.path, route.dispatch.options, route.dispatch.branches);
      }
    }
    return this;
  }

  /** The bound address once `listen` resolved. */
  get address(): Address | undefined {
    return this.#address;
  }

  /** Bind and start serving; resolves to the bound address (port 0 picks a free port). */
  async listen(options: ListenOptions = {}): Promise<Address> {
    const host = options.host ?? "127.0.0.1";
    const port = options.port ?? 8000;
    if (!this.#sealed) {
      this.#flush();
      this.#sealed = true;
    }
    for (const hook of this.#onStartup) {
      await hook();
    }
    try {
      const bound = await this.#app.listen(host, port, (batch) => {
        try {
          this.#dispatch(batch);
        } catch (err) {
          // Only a bug of this package can land here: handlers' errors are caught per job.
          this.#logger.error("spikard: dispatching a batch failed", err);
        }
      });
      const shown = bound.host.includes(":") ? `[${bound.host}]` : bound.host;
      this.#address = { host: bound.host, port: bound.port, url: `ws://${shown}:${bound.port}` };
      return this.#address;
    } catch (err) {
      throw fromNative(err);
    }
  }

  /**
   * Publish `value` to every member of the room `topic`, from anywhere: a timer, a background
   * task, another route's handler. Serialised once in Rust, the same bytes queued for each
   * member (no JavaScript per recipient). Returns how many connections it was queued for; 0 for
   * an empty room, and so always 0 before `listen` resolved and after `close`. Throws a
   * {@link PublishError} when the topic's schema refuses `value` (nothing is sent), a
   * `TypeError` when `value` has no JSON form (a `BigInt`, say).
   */
  publish(topic: string, value: unknown): number {
    const json = toJson(value);
    return call(() => this.#app.publish(topic, json));
  }

  /** How many connections are in the room `topic` now (0 when not listening). */
  topicCount(topic: string): number {
    return call(() => this.#app.topicCount(topic));
  }

  /**
   * Record every message published to `topic` from now on, whoever publishes it (a handler's
   * `ctx.publish`, {@link Spikard.publish}, a room nobody is in), for tests: Action Cable's
   * `assert_broadcast_on`. A publish the topic's schema refused is not recorded. The app must be
   * listening.
   */
  capture(topic: string): PublishCapture {
    return new PublishCapture(topic, call(() => this.#app.capture(topic)));
  }

  /** Every room with at least one member, sorted. */
  topics(): string[] {
    return call(() => this.#app.topics());
  }

  /** The server's counters by the core's names (the fields of its `MetricsSnapshot`:
   * `connections_accepted`, `handler_errors`, ...); `undefined` when not listening. */
  metrics(): Readonly<Record<string, number>> | undefined {
    return this.#app.metrics() ?? undefined;
  }

  /**
   * Graceful shutdown: stop accepting, close every connection with 1001 and wait until every
   * `onDisconnect` ran. Safe to call more than once.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    try {
      await this.#app.close();
    } catch (err) {
      throw fromNative(err);
    } finally {
      if (this.#address !== undefined) {
        for (const hook of this.#onShutdown) {
          try {
            await hook();
          } catch (err) {
            this.#logger.error("spikard: an onShutdown hook threw", err);
          }
        }
      }
    }
  }

  /**
   * Run `hook` (sync or async, awaited) each time before `listen` binds, after the hooks added
   * before it: open pools and connections there. One that throws rejects `listen`, and the
   * port is never opened.
   */
  onStartup(hook: () => unknown): this {
    this.#onStartup.push(hook);
    return this;
  }

  /**
   * Run `hook` (sync or async, awaited) once `close` has drained the server (every connection
   * closed, every `onDisconnect` run), after the hooks added before it; `close` resolves after
   * them. One that throws is logged and the next still runs.
   */
  onShutdown(hook: () => unknown): this {
    this.#onShutdown.push(hook);
    return this;
  }

  /** Listen, close gracefully on SIGINT or SIGTERM, and log `spikard listening on ws://HOST:PORT`
   * on the app's logger (`info`; the default logger writes it to stderr) once both are set up. */
  async run(options: ListenOptions = {}): Promise<Address> {
    const address = await this.listen(options);
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      void this.close();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    this.#logger.info(`spikard listening on ${address.url}`);
    return address;
  }

  /** Handle one batch from the core (one call per event-loop wake-up): its log records, then
   * its jobs. */
  #dispatch(batch: JsBatch): void {
    for (const record of batch.logs) {
      logRecord(this.#logger, record);
    }
    const connections = this.#connections;
    for (const job of batch.jobs) {
      let ctx: WebSocketContext<object> | undefined;
      if (job.connection !== undefined && job.connection !== null) {
        ctx = new WebSocketContext(job.connection);
        connections.set(job.id, ctx);
      } else {
        ctx = connections.get(job.id);
      }
      const route = this.#routes[job.route];
      if (ctx === undefined || route === undefined) {
        continue;
      }
      switch (job.kind) {
        case KIND.MESSAGE: {
          const target = route.branches === undefined ? route : route.branches.get(job.branch ?? "");
          if (target === undefined) {
            // The core only names branches this route registered.
            this.#fail(ctx.native, "the dispatch", new Error(`no handler for the branch ${String(job.branch)}`));
          } else {
            const message = job.text ?? fromJson(job.data ?? "null");
            if (target.parse === undefined) {
              this.#message(target.handler, message, ctx, target.encode);
            } else {
              this.#parsed(target, target.parse, message, ctx);
            }
          }
          break;
        }
        case KIND.BINARY:
          if (route.onBinary !== undefined && job.binary !== undefined) {
            this.#message(route.onBinary as RouteEntry["handler"], job.binary, ctx, route.encode);
          }
          break;
        case KIND.CONNECT:
          this.#connect(route, ctx, job.id);
          break;
        default:
          this.#disconnect(route, ctx, job.id, { code: job.code ?? 1006, reason: job.reason ?? "" });
      }
    }
  }

  /**
   * Answer a call whose handler threw `err`: a {@link HandlerError}'s message goes to the
   * client; anything else is logged with its stack and the client gets `"internal error"` (a
   * connection being opened is refused with 500).
   */
  #fail(conn: NativeConnection, what: string, err: unknown): void {
    if (err instanceof HandlerError) {
      conn.fail(err.message);
    } else {
      this.#logger.error(`spikard: ${what} of ${conn.route} threw`, err);
      conn.failInternal();
    }
  }

  /**
   * Run the route's zod / TypeBox parse on a message the core's check let through: a refusal is
   * the client's `validation_failed` (the library's error locations), an accepted message
   * reaches the handler as the parse's output. A parse that throws (a transform of the app's)
   * fails like a handler that throws.
   */
  #parsed(route: Target, parse: NonNullable<Contract["run"]>, data: unknown, ctx: WebSocketContext<object>): void {
    const conn = ctx.native;
    const failed = (err: unknown): void => this.#fail(conn, "the message schema", err);
    const deliver = (parsed: Outcome): void => {
      if (parsed.ok) {
        this.#message(route.handler, parsed.value, ctx, route.encode);
      } else {
        conn.invalid(parsed.errors);
      }
    };
    try {
      settle(parse(data), deliver, failed);
    } catch (err) {
      failed(err);
    }
  }

  #message(handler: RouteEntry["handler"], data: unknown, ctx: WebSocketContext<object>, encode: Contract["run"]): void {
    const conn = ctx.native;
    const answer = (value: unknown): void => this.#reply(conn, value, encode);
    let result: unknown;
    try {
      result = handler(data, ctx);
    } catch (err) {
      this.#fail(conn, "the handler", err);
      return;
    }
    if (isThenable(result)) {
      result.then(answer, (err: unknown) => this.#fail(conn, "the handler", err));
    } else {
      answer(result);
    }
  }

  /**
   * Answer a message with what its handler returned: bytes go out as a binary frame, `undefined`
   * sends nothing, anything else is encoded by the response schema's library (when it is zod or
   * TypeBox) and sent as JSON. A reply the library refuses, or whose encoding throws, is
   * dropped and logged as the core drops a reply that fails its schema.
   */
  #reply(conn: NativeConnection, value: unknown, encode: Contract["run"]): void {
    const send = (json: unknown): void => {
      try {
        if (json instanceof Uint8Array) {
          conn.replyBinary(toBuffer(json));
        } else if (typeof json === "string") {
          conn.replyString(json);
        } else {
          conn.reply(toJson(json));
        }
      } catch (err) {
        // A reply with no JSON form (a BigInt, a cycle): the handler's mistake.
        this.#fail(conn, "the reply of the handler", err);
      }
    };
    const unencodable = (err: unknown): void => {
      this.#logger.warn(`spikard: reply of ${conn.route} could not be encoded by its response schema; dropped`, err);
      conn.done();
    };
    const encoded = (outcome: Outcome): void => {
      if (outcome.ok) {
        send(outcome.value);
        return;
      }
      const paths = outcome.errors.map((e) => `${e.path === "" ? "/" : e.path} (${e.keyword})`).join(", ");
      this.#logger.warn(`spikard: reply of ${conn.route} failed the response schema; dropped: ${paths}`);
      conn.done();
    };
    if (value === undefined) {
      conn.done();
    } else if (value instanceof Uint8Array || encode === undefined) {
      send(value);
    } else {
      let outcome: ReturnType<typeof encode>;
      try {
        outcome = encode(value);
      } catch (err) {
        unencodable(err);
        return;
      }
      settle(outcome, encoded, unencodable);
    }
  }

  #connect(route: RouteEntry, ctx: WebSocketContext<object>, id: number): void {
    const conn = ctx.native;
    const refuse = (err: unknown): void => {
      this.#connections.delete(id);
      if (err instanceof Rejection) {
        conn.reject(err.status, err.message);
      } else {
        this.#logger.error(`spikard: onConnect of ${conn.route} threw`, err);
        conn.failInternal();
      }
    };
    let result: unknown;
    try {
      result = route.onConnect?.(ctx);
    } catch (err) {
      refuse(err);
      return;
    }
    // `false`: the connect was abandoned meanwhile (client gone, handshake timed out); no
    // disconnect will come for it.
    const accept = (): void => {
      if (!conn.done()) {
        this.#connections.delete(id);
      }
    };
    if (isThenable(result)) {
      result.then(accept, refuse);
    } else {
      accept();
    }
  }

  #disconnect(route: RouteEntry, ctx: WebSocketContext<object>, id: number, close: CloseInfo): void {
    const conn = ctx.native;
    const failed = (err: unknown): void => {
      this.#logger.error(`spikard: onDisconnect of ${ctx.route} threw`, err);
    };
    const finish = (): void => {
      this.#connections.delete(id);
      conn.done();
    };
    let result: unknown;
    try {
      result = route.onDisconnect?.(ctx, close);
    } catch (err) {
      failed(err);
    }
    if (isThenable(result)) {
      result.then(finish, (err: unknown) => {
        failed(err);
        finish();
      });
    } else {
      finish();
    }
  }
}
