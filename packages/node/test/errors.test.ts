/** The core's failures as error classes (by their `code` property), the logger, metrics, IPv6. */

import {
  ConnectionClosedError,
  InvalidCloseError,
  InvalidStateError,
  QueueFullError,
  Spikard,
  SpikardError,
  type SpikardOptions,
  type WebSocketContext,
} from "spikard";
import { TestClient, TestServer } from "spikard/testing";
import { afterEach, expect, test } from "vitest";

import { capture } from "./logger.js";

let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});


/** What `f` throws. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error("nothing was thrown");
}

test("close with a code a server may not send, or a long reason, throws InvalidCloseError and keeps the connection", async () => {
  const caught: unknown[] = [];
  const app = new Spikard().websocket("/c", (message: unknown, ctx: WebSocketContext) => {
    caught.push(thrown(() => ctx.close(1006, "")), thrown(() => ctx.close(1000, "é".repeat(62))));
    return message;
  });
  server = await TestServer.start(app);
  const client = await server.connect("/c");
  client.sendJson("still open");
  expect(await client.receiveJson()).toBe("still open");
  const [code, reason] = caught;
  expect(code).toBeInstanceOf(InvalidCloseError);
  expect(code).toBeInstanceOf(SpikardError);
  expect(code).toMatchObject({ name: "InvalidCloseError", code: "invalid_close" });
  expect((code as Error).message).toContain("1006");
  expect(reason).toMatchObject({ code: "invalid_close", message: expect.stringContaining("124 bytes") });
});

test("a send on a full queue throws QueueFullError, a ConnectionClosedError; the 1013 close is logged", async () => {
  let failure: unknown;
  const logger = capture();
  const app = new Spikard({ outgoingQueue: 4, logger }).websocket("/s", (_message: unknown, ctx: WebSocketContext) => {
    const fill = "x".repeat(64 * 1024);
    for (let i = 0; i < 10_000 && failure === undefined; i++) {
      try {
        ctx.send({ i, fill });
      } catch (err) {
        failure = err;
      }
    }
    return undefined;
  });
  server = await TestServer.start(app);
  const client = await server.connect("/s");
  client.pause();
  client.sendJson("go");
  await expect.poll(() => failure, { timeout: 5000 }).toBeDefined();
  expect(failure).toBeInstanceOf(QueueFullError);
  expect(failure).toBeInstanceOf(ConnectionClosedError);
  expect(failure).toMatchObject({ name: "QueueFullError", code: "queue_full" });
  await expect
    .poll(() => logger.calls.find((call) => String(call[1]).includes("closing with 1013")))
    .toEqual(["warn", expect.stringContaining("outgoing queue full")]);
  client.terminate();
});

test("changing the app after listen, or listening twice, throws InvalidStateError", async () => {
  const app = new Spikard().websocket("/a", (m: unknown) => m);
  server = await TestServer.start(app);
  const late = thrown(() => app.websocket("/b", (m: unknown) => m));
  expect(late).toBeInstanceOf(InvalidStateError);
  expect(late).toMatchObject({ code: "invalid_state" });
  await expect(app.listen({ port: 0 })).rejects.toBeInstanceOf(InvalidStateError);
});

test("registration errors name their route as a property", () => {
  const err = thrown(() => new Spikard().websocket("/bad", (m: unknown) => m, { messageSchema: { type: 12 } }));
  expect(err).toMatchObject({ name: "SpikardError", code: "schema_compile", route: "/bad" });
});

test("the core's log records reach the app's logger at their level", async () => {
  const logger = capture();
  const app = new Spikard({ logger }).websocket("/r", (message: unknown) => message as never, {
    responseSchema: { type: "object" },
  });
  server = await TestServer.start(app);
  const client = await server.connect("/r");
  client.sendJson(7);
  client.sendJson({ ok: true });
  expect(await client.receiveJson()).toEqual({ ok: true });
  await expect
    .poll(() => logger.calls.find((call) => String(call[1]).includes("reply failed the response schema")))
    .toEqual(["warn", expect.stringMatching(/^spikard: reply failed the response schema; dropped .*route=\/r.*\(spikard::session\)$/)]);
});

test("metrics: the core's counters by name while listening, undefined otherwise", async () => {
  const app = new Spikard().websocket("/m", (message: unknown) => message, { messageSchema: { type: "object" } });
  expect(app.metrics()).toBeUndefined();
  server = await TestServer.start(app);
  const client = await server.connect("/m");
  client.sendJson({});
  await client.receiveJson();
  client.sendJson(1);
  await client.receiveJson();
  expect(app.metrics()).toMatchObject({ connections_accepted: 1, messages_received: 2, validation_failed: 1 });
  await server.close();
  server = undefined;
  expect(app.metrics()).toBeUndefined();
});

test("listen on the IPv6 loopback takes the host without brackets", async () => {
  const app = new Spikard().websocket("/six", (message: unknown) => message);
  const address = await app.listen({ host: "::1", port: 0 });
  try {
    expect(address.url).toBe(`ws://[::1]:${address.port}`);
    const client = await TestClient.connect(`${address.url}/six`);
    client.sendJson("v6");
    expect(await client.receiveJson()).toBe("v6");
    client.terminate();
  } finally {
    await app.close();
  }
});

test("values nest at most 128 deep: deeper or cyclic ones are a TypeError from send, an internal error as a reply", async () => {
  const nested = (depth: number): unknown => {
    let value: unknown = [];
    for (let i = 1; i < depth; i++) {
      value = [value];
    }
    return value;
  };
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const sent: unknown[] = [];
  const logger = capture();
  const app = new Spikard({ logger }).websocket("/n", (depth: unknown, ctx: WebSocketContext) => {
    if (depth === "cycle") {
      sent.push(thrown(() => ctx.send(cyclic)));
      return cyclic;
    }
    return nested(Number(depth));
  });
  server = await TestServer.start(app);
  const client = await server.connect("/n");
  client.sendJson(128);
  expect(JSON.stringify(await client.receiveJson())).toBe(JSON.stringify(nested(128)));
  client.sendJson(129);
  expect(await client.receiveJson()).toMatchObject({ code: "handler_error", message: "internal error" });
  client.sendJson("cycle");
  expect(await client.receiveJson()).toMatchObject({ code: "handler_error", message: "internal error" });
  expect(sent[0]).toBeInstanceOf(TypeError);
  expect(String(sent[0])).toContain("nested more than 128");
  expect(logger.calls.map((call) => call[1])).toEqual([
    "spikard: the reply of the handler of /n threw",
    "spikard: the reply of the handler of /n threw",
  ]);
});

test("replies are JSON.stringify's text of the value: toJSON is used, undefined or a function anywhere is refused", async () => {
  const sent: unknown[] = [];
  const logger = capture();
  const app = new Spikard({ logger }).websocket("/j", (kind: unknown, ctx: WebSocketContext) => {
    if (kind === "date") {
      return { when: new Date(0), n: [1, 2.5, -0, Number.NaN] };
    }
    sent.push(thrown(() => ctx.send({ a: undefined })), thrown(() => ctx.send([() => 1])));
    return { big: 1n };
  });
  server = await TestServer.start(app);
  const client = await server.connect("/j");
  client.sendJson("date");
  expect(await client.receiveJson()).toEqual({ when: "1970-01-01T00:00:00.000Z", n: [1, 2.5, 0, null] });
  client.sendJson("bad");
  expect(await client.receiveJson()).toMatchObject({ code: "handler_error", message: "internal error" });
  expect(sent).toHaveLength(2);
  expect(sent[0]).toBeInstanceOf(TypeError);
  expect(String(sent[0])).toContain("a value of type undefined");
  expect(String(sent[1])).toContain("a value of type function");
});

test("app options are checked when the app is made: invalid_config naming the option", () => {
  const refused = (options: ConstructorParameters<typeof Spikard>[0]): unknown => thrown(() => new Spikard(options));
  expect(refused({ maxConnections: -1 })).toMatchObject({ code: "invalid_config", message: expect.stringContaining("maxConnections") });
  expect(refused({ outgoingQueueBytes: 1.5 })).toMatchObject({ code: "invalid_config" });
  expect(refused({ idleTimeoutMs: -5 })).toMatchObject({ code: "invalid_config", message: expect.stringContaining("idleTimeoutMs") });
  expect(refused({ pingTimeoutMs: 0 })).toMatchObject({ code: "invalid_config" });
  expect(refused({ maxConnections: 0 })).toMatchObject({ code: "invalid_config" });
  expect(refused({ allowedOrigins: ["not an origin"] })).toBeInstanceOf(SpikardError);
  const compression = (value: unknown): unknown => refused({ compression: value as SpikardOptions["compression"] });
  expect(compression("yes")).toMatchObject({ code: "invalid_config", message: expect.stringContaining("compression") });
  expect(compression(null)).toMatchObject({ code: "invalid_config", message: expect.stringContaining("compression") });
  expect(compression({ threshold: -1 })).toMatchObject({ code: "invalid_config", message: expect.stringContaining("threshold") });
  expect(compression({ threshold: 1.5 })).toMatchObject({ code: "invalid_config" });
  expect(compression({ serverContextTakeover: "yes" })).toMatchObject({
    code: "invalid_config",
    message: expect.stringContaining("serverContextTakeover"),
  });
  // The core's snake_case name is not the option's: refused, naming the one it got.
  expect(compression({ server_context_takeover: true })).toMatchObject({
    code: "invalid_config",
    message: expect.stringContaining("not server_context_takeover"),
  });
  expect(() => new Spikard({ maxConnections: 5, pingIntervalMs: 0, idleTimeoutMs: 0, allowedOrigins: ["https://a.example"] })).not.toThrow();
  expect(compression({ level: 10 })).toMatchObject({ code: "invalid_config", message: expect.stringContaining("compression.level") });
  expect(() => new Spikard({ compression: { threshold: 0, serverContextTakeover: false, level: 9 } })).not.toThrow();
});

test("an onConnect that outlasts the handshake timeout: 503, no onDisconnect, the route keeps serving", async () => {
  const events: string[] = [];
  let slow = true;
  const app = new Spikard({ handshakeTimeoutMs: 200 }).websocket("/slow", (message: unknown) => message, {
    onConnect: async (ctx) => {
      events.push(`connect ${ctx.query.n}`);
      if (slow) {
        slow = false;
        await new Promise((resolve) => setTimeout(resolve, 400));
      }
    },
    onDisconnect: (ctx) => void events.push(`disconnect ${ctx.query.n}`),
  });
  server = await TestServer.start(app);
  const refused = await server.connect("/slow?n=1").catch((err: unknown) => err);
  expect(refused).toMatchObject({ status: 503 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const client = await server.connect("/slow?n=2");
  client.sendJson("ok");
  expect(await client.receiveJson()).toBe("ok");
  await client.close();
  await expect.poll(() => events).toEqual(["connect 1", "connect 2", "disconnect 2"]);
});
