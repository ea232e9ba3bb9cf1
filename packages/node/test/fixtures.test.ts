/**
 * The shared conformance fixtures (`fixtures/websocket/*.json`), loaded at run time: each is
 * checked against `fixtures/schema.json`, then run against a real server (127.0.0.1, port 0)
 * with real `ws` clients. Every named handler behaviour is implemented here once, with the
 * public API of the `spikard` package.
 */

import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { Ajv2020 } from "ajv/dist/2020.js";
import {
  HandlerError,
  type JsonSchema,
  type Logger,
  Rejection,
  Spikard,
  SpikardError,
  type WebSocketContext,
  type WebSocketOptions,
} from "spikard";
import { type Received, type TestClient, TestServer, UpgradeRejected, describe as show } from "spikard/testing";
import { describe, expect, test } from "vitest";

const LANGUAGE = "node";
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "../../../fixtures");

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Step = Record<string, Json>;

interface Fixture {
  name: string;
  routes: {
    path: string;
    handler: string;
    message_schema?: Json;
    response_schema?: Json;
    options?: { max_message_size?: number; subprotocols?: string[]; raw_text?: boolean };
    dispatch?: {
      discriminator?: string;
      branches: Record<string, { handler: string; message_schema?: Json; reply_schema?: Json; description?: string }>;
    };
  }[];
  app?: {
    max_message_size?: number;
    outgoing_queue?: number;
    outgoing_queue_bytes?: number;
    fanout_flush_ms?: number;
    ping_interval_ms?: number;
    ping_timeout_ms?: number;
    idle_timeout_ms?: number;
    handshake_timeout_ms?: number;
    drain_timeout_ms?: number;
    max_connections?: number;
    allowed_origins?: string[];
    topics?: { pattern: string; schema: Json }[];
    compression?: boolean | { threshold?: number; server_context_takeover?: boolean };
  };
  skip?: Record<string, string>;
  steps: Step[];
}

/** The hook log of one fixture, shared by its clients. */
class Log {
  readonly events: string[] = [];
  #waiters: (() => void)[] = [];

  push(event: string): void {
    this.events.push(event);
    for (const wake of this.#waiters.splice(0)) {
      wake();
    }
  }

  /** Wait (at most 5 s) until the log holds `count` entries. */
  async atLeast(count: number): Promise<void> {
    const deadline = Date.now() + 5000;
    while (this.events.length < count && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

type Message = { [key: string]: Json };
type Ctx = WebSocketContext<{ count?: number }>;

type Options = WebSocketOptions<Json | undefined, Json | undefined, { count?: number }>;
type Behaviour = { handler: (message: Message, ctx: Ctx) => unknown; extra: Partial<Options> };

/** Register the named behaviour of `route` on its path; a route with `dispatch` gets one
 * behaviour per branch, and keeps its own behaviour's hooks. */
function addRoute(app: Spikard, log: Log, route: Fixture["routes"][number]): void {
  const options: Options = {
    messageSchema: route.message_schema,
    responseSchema: route.response_schema,
    maxMessageSize: route.options?.max_message_size,
    ...(route.options?.subprotocols === undefined ? {} : { subprotocols: route.options.subprotocols }),
    rawText: route.options?.raw_text,
  };
  const own = behaviour(log, route.handler);
  if (route.dispatch === undefined) {
    app.websocket(route.path, own.handler as never, { ...options, ...own.extra } as never);
    return;
  }
  const { onConnect, onDisconnect, onBinary } = own.extra;
  const dispatching = app.dispatch<{ count?: number }>(route.path, {
    discriminator: route.dispatch.discriminator,
    maxMessageSize: options.maxMessageSize,
    ...(onConnect === undefined ? {} : { onConnect }),
    ...(onDisconnect === undefined ? {} : { onDisconnect }),
    ...(onBinary === undefined ? {} : { onBinary }),
  });
  for (const [name, branch] of Object.entries(route.dispatch.branches)) {
    dispatching.on(name, behaviour(log, branch.handler).handler as never, {
      schema: branch.message_schema as JsonSchema | undefined,
      replySchema: branch.reply_schema as JsonSchema | undefined,
      description: branch.description,
    });
  }
}

/** The named handler behaviour `name`: its message handler and hooks. */
function behaviour(log: Log, name: string): Behaviour {
  const add = (handler: Behaviour["handler"], extra: Partial<Options> = {}): Behaviour => ({ handler, extra });
  switch (name) {
    case "echo":
      return add((message) => message);
    case "chat_reply":
      return add(async (message) => ({ echo: message.text, from: message.user }));
    case "raise":
      return add(() => {
        throw new HandlerError("boom");
      });
    case "crash":
      return add(() => {
        throw new Error("secret internal detail");
      });
    case "connect_crash":
      return add((message) => message, {
        onConnect: () => {
          throw new Error("secret internal detail");
        },
      });
    case "reject_status":
      return add((message) => message, {
        onConnect: (ctx) => {
          throw new Rejection("not allowed", Number(ctx.query.status));
        },
      });
    case "bytes_reply":
      return add((message) => Buffer.from(String(message.text), "utf8"));
    case "send_until_full":
      return add((message, ctx) => {
        const fill = Buffer.alloc(Number(message.bytes ?? 0), "x").toString("latin1");
        for (let seq = 0; seq < Number(message.count ?? 0); seq++) {
          try {
            ctx.send({ seq, fill });
          } catch (err) {
            log.push(`send_failed:${err instanceof SpikardError ? err.code : String(err)}`);
            break;
          }
        }
        return undefined;
      });
    case "reply_when_asked":
      return add((message) => (message.reply === true ? message : undefined));
    case "lifecycle":
      return add(
        (message) => {
          log.push("message");
          return message;
        },
        {
          onConnect: async () => {
            log.push("connect");
          },
          onDisconnect: (_ctx, close) => log.push(`disconnect:${close.code}`),
        },
      );
    case "connect_slow":
      return add((message) => message, {
        onConnect: async (ctx) => {
          log.push("connect");
          await new Promise((resolve) => setTimeout(resolve, Number(ctx.query.ms)));
        },
      });
    case "connection_info":
      return add((_message, ctx) => ({ subprotocol: ctx.subprotocol ?? null, cookies: ctx.cookies }));
    case "sleep":
      return add(
        async (message) => {
          log.push("message");
          await new Promise((resolve) => setTimeout(resolve, Number(message.ms)));
          return message;
        },
        { onDisconnect: (_ctx, close) => log.push(`disconnect:${close.code}`) },
      );
    case "reject":
      return add((message) => message, {
        onConnect: () => {
          throw new Rejection("not allowed");
        },
        onDisconnect: (_ctx, close) => log.push(`disconnect:${close.code}`),
      });
    case "close_on_connect":
      return add((message) => message, { onConnect: (ctx) => ctx.close(1008, "not allowed") });
    case "params":
      return add((_message, ctx) => ({
        path_params: ctx.params,
        query: ctx.query,
        header: ctx.headers["x-fixture"] ?? null,
      }));
    case "counter":
      return add((_message, ctx) => {
        ctx.state.count = (ctx.state.count ?? 0) + 1;
        return { count: ctx.state.count };
      });
    case "binary_echo":
      return add((message) => message, { onBinary: (data) => data });
    case "push":
      return add((message, ctx) => {
        const times = typeof message.times === "number" ? message.times : 0;
        for (let i = 0; i < times; i++) {
          ctx.send({ push: i });
        }
        return { done: true };
      });
    case "close_on_message":
      return add((message, ctx) => {
        ctx.close(Number(message.code ?? 1000), String(message.reason ?? ""));
        return undefined;
      });
    case "rooms": {
      const room = (ctx: Ctx): string => ctx.params.room ?? "";
      const user = (ctx: Ctx): string => ctx.query.user ?? "anonymous";
      return add(
        (message, ctx) => {
          switch (message.action) {
            case "leave":
              ctx.unsubscribe(room(ctx));
              return { left: room(ctx) };
            case "count":
              return { members: ctx.topicCount(room(ctx)) };
            case "publish":
              return { delivered: ctx.publish(String(message.topic), { user: user(ctx), text: message.text ?? null }) };
            case "flood": {
              const count = Number(message.count ?? 0);
              // A flat string ("x".repeat builds a rope that each publish would flatten again).
              const fill = Buffer.alloc(Number(message.bytes ?? 0), "x").toString("latin1");
              for (let seq = 0; seq < count; seq++) {
                try {
                  ctx.publish(String(message.topic), { seq, fill });
                } catch {
                  // A refused publish is ignored, as the behaviour says.
                }
              }
              return { flooded: count };
            }
            default:
              ctx.publish(room(ctx), { user: user(ctx), text: message.text ?? null });
              return undefined;
          }
        },
        {
          onConnect: (ctx) => {
            ctx.subscribe(room(ctx));
            ctx.publish(room(ctx), { event: "join", user: user(ctx) });
          },
          onDisconnect: (ctx, close) => {
            ctx.publish(room(ctx), { event: "leave", user: user(ctx) });
            log.push(`disconnect:${close.code}`);
          },
        },
      );
    }
    default:
      throw new Error(`unknown handler behaviour ${name}`);
  }
}

function hex(value: Json | undefined): Buffer {
  if (typeof value !== "string") {
    throw new Error("expected a hex string");
  }
  return Buffer.from(value, "hex");
}

/**
 * The bytes of a `send_frames` step: each frame as a client sends it (FIN, masked with the key 0,
 * which leaves the payload as it is), or raw bytes.
 */
function frames(list: Json | undefined): Buffer {
  const parts: Buffer[] = [];
  for (const item of list as { text?: string; close?: number; raw_hex?: string }[]) {
    if (item.raw_hex !== undefined) {
      parts.push(hex(item.raw_hex));
      continue;
    }
    const [opcode, payload] =
      item.text !== undefined ? [0x1, Buffer.from(item.text, "utf8")] : [0x8, Buffer.alloc(2)];
    if (item.close !== undefined) {
      payload.writeUInt16BE(item.close);
    }
    let head: Buffer;
    if (payload.length < 126) {
      head = Buffer.from([0x80 | opcode, 0x80 | payload.length]);
    } else if (payload.length < 0x10000) {
      head = Buffer.alloc(4);
      head.writeUInt8(0x80 | opcode, 0);
      head.writeUInt8(0x80 | 126, 1);
      head.writeUInt16BE(payload.length, 2);
    } else {
      head = Buffer.alloc(10);
      head.writeUInt8(0x80 | opcode, 0);
      head.writeUInt8(0x80 | 127, 1);
      head.writeBigUInt64BE(BigInt(payload.length), 2);
    }
    parts.push(head, Buffer.alloc(4), payload);
  }
  return Buffer.concat(parts);
}

function expectFrame(got: Received, want: Received): void {
  expect(show(got)).toBe(show(want));
}

function checkEnvelope(frame: Received, want: { [key: string]: Json }): void {
  expect(frame.type, `expected a text frame, got ${show(frame)}`).toBe("text");
  const text = frame.type === "text" ? frame.data : "";
  const got = JSON.parse(text) as unknown;
  const envelope = got as {
    type?: unknown;
    code?: unknown;
    message?: unknown;
    errors?: { path?: unknown }[];
    truncated?: unknown;
  };
  expect(envelope.type, `not an error envelope: ${JSON.stringify(got)}`).toBe("error");
  expect(typeof envelope.message).toBe("string");
  expect(Array.isArray(envelope.errors)).toBe(true);
  expect(envelope.code).toBe(want.code);
  if (want.message !== undefined) {
    expect(envelope.message).toBe(want.message);
  }
  if (want.paths !== undefined) {
    const actual = [...new Set((envelope.errors ?? []).map((e) => e.path))].sort();
    const expected = [...new Set(want.paths as string[])].sort();
    expect(actual).toEqual(expected);
  }
  expect(envelope.truncated ?? false).toBe(want.truncated ?? false);
  if (want.error_count !== undefined) {
    expect(envelope.errors?.length).toBe(want.error_count);
  }
  if (want.error_messages !== undefined) {
    expect((envelope.errors ?? []).map((e) => (e as { message?: unknown }).message)).toEqual(want.error_messages);
  }
  if (typeof want.excludes === "string") {
    expect(text.includes(want.excludes), `the envelope contains ${want.excludes}: ${text}`).toBe(false);
  }
}

/** The clients that stopped reading (`stop_reading`) until their next `expect_*` step. */
type Paused = Set<string>;

/** The graceful shutdown a `shutdown` step started, awaited when the fixture ends. */
interface Shutdown {
  closing?: Promise<void>;
}

async function runStep(
  server: TestServer,
  clients: Map<string, TestClient>,
  paused: Paused,
  log: Log,
  step: Step,
  shutdown: Shutdown,
): Promise<void> {
  const name = typeof step.client === "string" ? step.client : "default";
  const entry = Object.entries(step).find(([key]) => key !== "client");
  if (entry === undefined) {
    throw new Error("empty step");
  }
  const [action, arg] = entry;
  const spec = (arg ?? {}) as { [key: string]: Json };
  switch (action) {
    case "connect": {
      const headers = (spec.headers ?? {}) as Record<string, string>;
      const protocols = spec.protocols as string[] | undefined;
      // `ws` offers permessage-deflate unless told not to: the client offers it only when asked.
      const compression = spec.compression === true;
      const client = await server.connect(String(spec.path), {
        headers,
        answerPings: spec.answer_pings !== false,
        compression,
        ...(protocols === undefined ? {} : { protocols }),
      });
      if (spec.subprotocol !== undefined) {
        expect(client.subprotocol).toBe(spec.subprotocol ?? "");
      }
      if (compression) {
        expect(client.extensions, "the server's Sec-WebSocket-Extensions").toMatch(/^permessage-deflate/);
      }
      clients.set(name, client);
      return;
    }
    case "connect_rejected": {
      const headers = (spec.headers ?? {}) as Record<string, string>;
      const refused = await server.connect(String(spec.path), { headers }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused, "the upgrade succeeded").toBeInstanceOf(UpgradeRejected);
      expect((refused as UpgradeRejected).status).toBe(spec.status);
      return;
    }
    case "expect_events": {
      const want = arg as string[];
      await log.atLeast(want.length);
      expect(log.events).toEqual(want);
      return;
    }
    case "shutdown":
      shutdown.closing = server.close();
      return;
    default:
  }
  const client = clients.get(name);
  if (client === undefined) {
    throw new Error(`client ${name} is not connected`);
  }
  if (action.startsWith("expect_") && paused.delete(name)) {
    client.resume();
  }
  switch (action) {
    case "stop_reading":
      paused.add(name);
      return client.pause();
    case "send_json":
      return client.sendJson(arg);
    case "send_text":
      return client.sendText(String(arg));
    case "send_text_bytes_hex":
      return client.sendTextBytes(hex(arg));
    case "send_binary_hex":
      return client.sendBinary(hex(arg));
    case "send_frames":
      return client.sendRaw(frames(arg));
    case "send_ping":
      return client.ping(String(arg));
    case "expect_pong":
      return expectFrame(await client.receive(), { type: "pong", data: Buffer.from(String(arg)) });
    case "expect_binary_hex":
      return expectFrame(await client.receiveData(), { type: "binary", data: hex(arg) });
    case "expect_json":
      expect(await client.receiveJson()).toStrictEqual(arg);
      return;
    case "expect_text":
      return expectFrame(await client.receiveData(), { type: "text", data: String(arg) });
    case "expect_nothing_ms": {
      const frame = await client.receiveData(Number(arg)).catch(() => undefined);
      expect(frame === undefined ? "nothing" : show(frame)).toBe("nothing");
      return;
    }
    case "expect_error":
      return checkEnvelope(await client.receiveData(), spec);
    case "expect_close": {
      let frame = await client.receiveData();
      while (spec.skip_data === true && frame.type !== "close") {
        frame = await client.receiveData();
      }
      expect(frame.type, show(frame)).toBe("close");
      if (frame.type === "close") {
        expect(frame.code).toBe(spec.code);
        if (spec.reason !== undefined) {
          expect(frame.reason).toBe(spec.reason);
        }
      }
      return;
    }
    case "close":
      return client.close(Number(spec.code), String(spec.reason ?? ""));
    default:
      throw new Error(`unknown step ${action}`);
  }
}

/** A logger that keeps what it is given (fixtures fail handlers on purpose: nothing is printed). */
function quietLogger(): Logger & { lines: unknown[][] } {
  const lines: unknown[][] = [];
  const keep = (...args: unknown[]): void => {
    lines.push(args);
  };
  return { lines, error: keep, warn: keep, info: keep, debug: keep };
}

async function runFixture(fixture: Fixture): Promise<void> {
  const log = new Log();
  const options = fixture.app ?? {};
  const app = new Spikard({
    logger: quietLogger(),
    maxMessageSize: options.max_message_size,
    outgoingQueue: options.outgoing_queue,
    outgoingQueueBytes: options.outgoing_queue_bytes,
    fanoutFlushMs: options.fanout_flush_ms,
    pingIntervalMs: options.ping_interval_ms,
    pingTimeoutMs: options.ping_timeout_ms,
    idleTimeoutMs: options.idle_timeout_ms,
    handshakeTimeoutMs: options.handshake_timeout_ms,
    drainTimeoutMs: options.drain_timeout_ms,
    maxConnections: options.max_connections,
    allowedOrigins: options.allowed_origins,
    compression:
      typeof options.compression === "object"
        ? { threshold: options.compression.threshold, serverContextTakeover: options.compression.server_context_takeover }
        : options.compression,
  });
  for (const topic of fixture.app?.topics ?? []) {
    app.topic(topic.pattern, topic.schema as JsonSchema);
  }
  for (const route of fixture.routes) {
    addRoute(app, log, route);
  }
  const server = await TestServer.start(app);
  const clients = new Map<string, TestClient>();
  const paused: Paused = new Set();
  const shutdown: Shutdown = {};
  try {
    for (const [index, step] of fixture.steps.entries()) {
      try {
        await runStep(server, clients, paused, log, step, shutdown);
      } catch (err) {
        throw new Error(`step ${index} ${JSON.stringify(step)}: ${(err as Error).message}`, { cause: err });
      }
    }
  } finally {
    for (const client of clients.values()) {
      client.terminate();
    }
    await (shutdown.closing ?? server.close());
  }
}

const ajv = new Ajv2020({ allErrors: true, strict: false });
const validateFormat = ajv.compile(JSON.parse(readFileSync(join(FIXTURES, "schema.json"), "utf8")) as object);
const files = readdirSync(join(FIXTURES, "websocket"))
  .filter((file) => file.endsWith(".json"))
  .sort();

describe("shared fixtures", () => {
  test("there are fixtures to run", () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
  });

  for (const file of files) {
    const name = file.slice(0, -".json".length);
    const text = readFileSync(join(FIXTURES, "websocket", file), "utf8");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const skip = (parsed as Partial<Fixture> | undefined)?.skip?.[LANGUAGE];
    test.skipIf(skip !== undefined)(name, async () => {
      expect(parsed, `${file} is not JSON`).toBeDefined();
      const valid = validateFormat(parsed);
      expect(valid, `${file} does not match fixtures/schema.json: ${ajv.errorsText(validateFormat.errors)}`).toBe(true);
      const fixture = parsed as Fixture;
      expect(fixture.name, "`name` must equal the file name").toBe(name);
      await runFixture(fixture);
    });
  }
});
