/**
 * `spikard/testing`: run an app on a real socket (127.0.0.1, port 0) and talk to it with a
 * real WebSocket client (the `ws` package).
 *
 * ```ts
 * import { TestServer } from "spikard/testing";
 *
 * const server = await TestServer.start(app);
 * const client = await server.connect("/echo");
 * client.sendJson({ hello: "world" });
 * expect(await client.receiveJson()).toEqual({ hello: "world" });
 * await client.close();
 * await server.close();
 * ```
 *
 * @module
 */

import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";

import WebSocket from "ws";

import type { PublishCapture, Spikard } from "./app.js";

/** How long a `receive*` waits by default, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 5000;

/** One frame (or the end of the connection) as the client saw it. */
export type Received =
  | { readonly type: "text"; readonly data: string }
  | { readonly type: "binary"; readonly data: Buffer }
  | { readonly type: "pong"; readonly data: Buffer }
  | { readonly type: "close"; readonly code: number; readonly reason: string };

/** The upgrade was refused with an HTTP status. */
export class UpgradeRejected extends Error {
  /** The HTTP status of the refusal. */
  readonly status: number;
  /** The response body (the `connection_rejected` envelope). */
  readonly body: string;

  /** A refusal with this status and body. */
  constructor(status: number, body: string) {
    super(`the upgrade was refused with HTTP ${status}`);
    this.name = "UpgradeRejected";
    this.status = status;
    this.body = body;
  }
}

/** Options of {@link TestClient.connect}. */
export interface ConnectOptions {
  /** Extra headers of the upgrade request. */
  headers?: Record<string, string>;
  /** Answer the server's pings (default `true`); `false` plays a peer that vanished. */
  answerPings?: boolean;
  /** Subprotocols to offer (`Sec-WebSocket-Protocol`); see {@link TestClient.subprotocol}. */
  protocols?: string[];
  /** Offer permessage-deflate, as browsers do (default `false`: the client offers no
   * extension, unlike a plain `ws` client); see {@link TestClient.extensions}. */
  compression?: boolean;
}

/** A real WebSocket client with a queue of what it received. */
export class TestClient {
  readonly #socket: WebSocket;
  /** The TCP socket under {@link TestClient.#socket}, known once the upgrade succeeded. */
  #tcp: Socket | undefined;
  /** The server's `Sec-WebSocket-Extensions`, known once the upgrade succeeded. */
  #extensions = "";
  readonly #received: Received[] = [];
  #waiter: (() => void) | undefined;
  #closed = false;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.once("upgrade", (response: IncomingMessage) => {
      this.#tcp = response.socket;
      this.#extensions = response.headers["sec-websocket-extensions"] ?? "";
    });
    socket.on("message", (data: Buffer, isBinary: boolean) => {
      this.#push(isBinary ? { type: "binary", data } : { type: "text", data: data.toString("utf8") });
    });
    socket.on("pong", (data: Buffer) => this.#push({ type: "pong", data }));
    socket.on("close", (code: number, reason: Buffer) => {
      this.#closed = true;
      this.#push({ type: "close", code, reason: reason.toString("utf8") });
    });
    socket.on("error", () => {
      // The close event follows and is what tests look at.
    });
  }

  /** Connect to `url`; rejects with {@link UpgradeRejected} when the server refuses. */
  static connect(url: string, options: ConnectOptions = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, options.protocols ?? [], {
        headers: options.headers ?? {},
        autoPong: options.answerPings ?? true,
        perMessageDeflate: options.compression ?? false,
      });
      const client = new TestClient(socket);
      socket.once("open", () => resolve(client));
      socket.once("unexpected-response", (_request, response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          reject(new UpgradeRejected(response.statusCode ?? 0, Buffer.concat(chunks).toString("utf8")));
          socket.terminate();
        });
      });
      socket.once("error", (err) => reject(err));
    });
  }

  /** The subprotocol the server selected (`""` when none). */
  get subprotocol(): string {
    return this.#socket.protocol;
  }

  /** The extensions the server accepted, as its `Sec-WebSocket-Extensions` header says (`""`
   * when none), e.g. `"permessage-deflate; server_no_context_takeover"`. */
  get extensions(): string {
    return this.#extensions;
  }

  #push(frame: Received): void {
    this.#received.push(frame);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  /** Send `value` serialised as one text frame. */
  sendJson(value: unknown): void {
    this.#socket.send(JSON.stringify(value));
  }

  /** Send `text` as one text frame, as is. */
  sendText(text: string): void {
    this.#socket.send(text);
  }

  /** Send these raw bytes as one **text** frame (they need not be valid UTF-8). */
  sendTextBytes(bytes: Uint8Array): void {
    this.#socket.send(bytes, { binary: false });
  }

  /** Send these bytes as one binary frame. */
  sendBinary(bytes: Uint8Array): void {
    this.#socket.send(bytes, { binary: true });
  }

  /**
   * Write these bytes to the TCP socket as they are, in one write: frames built by hand, several
   * at once (the server reads them together) or broken ones. A client's frames must be masked.
   */
  sendRaw(bytes: Uint8Array): void {
    if (this.#tcp === undefined) {
      throw new Error("the client is not connected");
    }
    this.#tcp.write(bytes);
  }

  /** Send a ping frame with this payload. */
  ping(payload: string | Uint8Array = ""): void {
    this.#socket.ping(payload);
  }

  /**
   * Stop reading from the socket: frames pile up in the kernel's buffers, then in the server's
   * outgoing queue (a server closes such a client with 1013 once that queue is full). Until
   * {@link TestClient.resume}, `receive*` only returns what was read before.
   */
  pause(): void {
    this.#socket.pause();
  }

  /** Read from the socket again after {@link TestClient.pause}. */
  resume(): void {
    this.#socket.resume();
  }

  /** The next frame (pongs included), or the close. */
  async receive(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const next = this.#received.shift();
      if (next !== undefined) {
        return next;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`nothing received within ${timeoutMs} ms`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** The next data frame (text, binary or close), skipping pongs. */
  async receiveData(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Received> {
    for (;;) {
      const frame = await this.receive(timeoutMs);
      if (frame.type !== "pong") {
        return frame;
      }
    }
  }

  /** The next data frame, which must be a text frame holding JSON. */
  async receiveJson(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<unknown> {
    const frame = await this.receiveData(timeoutMs);
    if (frame.type !== "text") {
      throw new Error(`expected a text frame, got ${describe(frame)}`);
    }
    return JSON.parse(frame.data) as unknown;
  }

  /** Start the closing handshake and wait until it finished. */
  async close(code = 1000, reason = ""): Promise<void> {
    if (this.#closed) {
      return;
    }
    const done = new Promise<void>((resolve) => this.#socket.once("close", () => resolve()));
    this.#socket.close(code, reason);
    await done;
  }

  /** Drop the connection without a closing handshake. */
  terminate(): void {
    this.#socket.terminate();
  }
}

/** A short description of a received frame, for error messages. */
export function describe(frame: Received): string {
  switch (frame.type) {
    case "text":
      return `text ${frame.data}`;
    case "close":
      return `close ${frame.code} ${JSON.stringify(frame.reason)}`;
    default:
      return `${frame.type} ${frame.data.toString("hex")}`;
  }
}

/** An app listening on 127.0.0.1 with a free port, for tests. */
export class TestServer {
  /** The app being served. */
  readonly app: Spikard;
  /** `ws://127.0.0.1:<port>`. */
  readonly baseUrl: string;

  private constructor(app: Spikard, baseUrl: string) {
    this.app = app;
    this.baseUrl = baseUrl;
  }

  /** Listen on 127.0.0.1 port 0. */
  static async start(app: Spikard): Promise<TestServer> {
    const address = await app.listen({ host: "127.0.0.1", port: 0 });
    return new TestServer(app, address.url);
  }

  /** The full URL of `path` (which may carry a query). */
  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  /** Connect a client to `path`. */
  connect(path: string, options: ConnectOptions = {}): Promise<TestClient> {
    return TestClient.connect(this.url(path), options);
  }

  /** Record every message published to `topic` from now on (see {@link Spikard.capture}). */
  capture(topic: string): PublishCapture {
    return this.app.capture(topic);
  }

  /** Shut the app down gracefully (close 1001, every `onDisconnect` run). */
  close(): Promise<void> {
    return this.app.close();
  }
}
