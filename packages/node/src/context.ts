/**
 * {@link WebSocketContext}: the connection as handlers and hooks see it.
 *
 * @module
 */

import { native as call, type PublishError } from "./errors.js";
import { toJson } from "./json.js";
import type { NativeConnection } from "./native.js";

/** How a connection ended, as given to `onDisconnect`. */
export interface CloseInfo {
  /** The close code: the client's when it closed first, 1001 on server shutdown, 1006 when the
   * socket just ended. */
  readonly code: number;
  /** The close frame's reason (may be empty). */
  readonly reason: string;
}

/**
 * One WebSocket connection: what it was opened with, per-connection `state`, `send` / `close`
 * usable at any time while it is open (not only as a reply), and rooms (`subscribe`,
 * `publish`), whose membership the Rust core keeps.
 *
 * @typeParam State - the shape of {@link WebSocketContext.state}.
 */
export class WebSocketContext<State extends object = Record<string, unknown>> {
  /** Per-connection state, kept between messages; starts empty. */
  state: State = {} as State;
  readonly #native: NativeConnection;
  #pathParams: Readonly<Record<string, string>> | undefined;
  #query: Readonly<Record<string, string>> | undefined;
  #headers: Readonly<Record<string, string>> | undefined;

  /** Built by the app when the connection's first event arrives; handlers receive it. */
  constructor(connection: NativeConnection) {
    this.#native = connection;
  }

  /** @internal The native handle, for completing events. */
  get native(): NativeConnection {
    return this.#native;
  }

  /** The connection's id, unique within the process. */
  get id(): number {
    return this.#native.id;
  }

  /** The request path, without the query string. */
  get path(): string {
    return this.#native.path;
  }

  /** The route pattern that matched, e.g. `/rooms/{room}`. */
  get route(): string {
    return this.#native.route;
  }

  /** Path parameters by name (`/rooms/{room}` gives `params.room`). */
  get params(): Readonly<Record<string, string>> {
    this.#pathParams ??= Object.freeze(this.#native.pathParams);
    return this.#pathParams;
  }

  /** Query parameters: the first value of each key. */
  get query(): Readonly<Record<string, string>> {
    this.#query ??= Object.freeze(this.#native.query);
    return this.#query;
  }

  /** Every query parameter as `[key, value]` pairs, in order (keys may repeat). */
  get queryPairs(): [string, string][] {
    return this.#native.queryPairs.map(([k, v]) => [k ?? "", v ?? ""]);
  }

  /** The upgrade request's headers, names in lower case. */
  get headers(): Readonly<Record<string, string>> {
    this.#headers ??= Object.freeze(this.#native.headers);
    return this.#headers;
  }

  /** The upgrade request's cookies by name (the first value of a name sent twice). */
  get cookies(): Readonly<Record<string, string>> {
    return Object.freeze(this.#native.cookies);
  }

  /** The subprotocol selected from the route's `subprotocols`, or `undefined` for none. */
  get subprotocol(): string | undefined {
    return this.#native.subprotocol ?? undefined;
  }

  /** The client's address, `ip:port`. */
  get remoteAddress(): string {
    return this.#native.remoteAddr;
  }

  /** `true` once a close was started by either side. */
  get closing(): boolean {
    return this.#native.closing;
  }

  /**
   * Queue a JSON value for the client. Never blocks; throws a `ConnectionClosedError` (code
   * `connection_closed`) once the connection is closing, or its subclass `QueueFullError` (code
   * `queue_full`) when the client stopped reading (the connection is then closed with 1013); a
   * `TypeError` when `value` has no JSON form.
   */
  send(value: unknown): void {
    const json = toJson(value);
    call(() => this.#native.send(json));
  }

  /** Queue a text frame, sent as is. */
  sendText(text: string): void {
    call(() => this.#native.sendText(text));
  }

  /** Queue a binary frame. */
  sendBinary(data: Uint8Array): void {
    call(() => this.#native.sendBinary(toBuffer(data)));
  }

  /**
   * Join the room `topic`: everything published to it reaches this connection until it
   * unsubscribes or disconnects (a connection that ends leaves its rooms before `onDisconnect`
   * runs). Returns `false` when already subscribed or when the connection is closing.
   */
  subscribe(topic: string): boolean {
    return call(() => this.#native.subscribe(topic));
  }

  /** Leave the room `topic`; `false` when this connection was not in it. */
  unsubscribe(topic: string): boolean {
    return call(() => this.#native.unsubscribe(topic));
  }

  /** The rooms this connection is in, in the order it joined them (the core's membership). */
  get subscriptions(): readonly string[] {
    return this.#native.subscriptions;
  }

  /**
   * Publish `value` to every member of `topic`, this connection included when it is a member.
   * It is serialised once in Rust and the same bytes are queued for each member: no JavaScript
   * runs per recipient. Returns how many connections it was queued for (0 for an empty room).
   * Throws a {@link PublishError} when the schema declared for the topic (`app.topic`) refuses
   * `value`, and then nothing is sent; a `TypeError` when `value` has no JSON form.
   */
  publish(topic: string, value: unknown): number {
    const json = toJson(value);
    return call(() => this.#native.publish(topic, json));
  }

  /** Like {@link WebSocketContext.publish}, but never to this connection. */
  publishOthers(topic: string, value: unknown): number {
    const json = toJson(value);
    return call(() => this.#native.publishOthers(topic, json));
  }

  /** How many connections are in the room `topic` now. */
  topicCount(topic: string): number {
    return call(() => this.#native.topicCount(topic));
  }

  /** Close the connection with `code` (default 1000) and `reason`, after the messages queued
   * before. Closing twice keeps the first code. Throws an `InvalidCloseError` for a code a server
   * may not send (use 1000-1003, 1007-1014 or 3000-4999) or a reason over 123 bytes. */
  close(code = 1000, reason = ""): void {
    call(() => this.#native.close(code, reason));
  }
}

/** A Buffer view of `data`, without copying. */
export function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
