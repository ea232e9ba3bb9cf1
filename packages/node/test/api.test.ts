/** The functional API against a real server: listen, close, errors, schemas, hooks. */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { Type } from "@sinclair/typebox";
import {
  ConnectionClosedError,
  HandlerError,
  InvalidStateError,
  type Infer,
  type Logger,
  Rejection,
  Spikard,
  SpikardError,
  toJsonSchema,
} from "spikard";
import { TestClient, TestServer, UpgradeRejected } from "spikard/testing";
import { afterEach, expect, expectTypeOf, test } from "vitest";
import { z } from "zod";

import { capture as capturingLogger } from "./logger.js";

let server: TestServer | undefined;

/** A logger that keeps every call, by level. */
function capture(): Logger & { calls: { level: string; args: unknown[] }[] } {
  const calls: { level: string; args: unknown[] }[] = [];
  const at =
    (level: string) =>
    (...args: unknown[]): void => {
      calls.push({ level, args });
    };
  return { calls, error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug") };
}

afterEach(async () => {
  await server?.close();
  server = undefined;
});

test("listen resolves to the bound address; port 0 picks a free port", async () => {
  const app = new Spikard().websocket("/echo", (message) => message);
  const address = await app.listen({ host: "127.0.0.1", port: 0 });
  try {
    expect(address.host).toBe("127.0.0.1");
    expect(address.port).toBeGreaterThan(0);
    expect(address.url).toBe(`ws://127.0.0.1:${address.port}`);
    expect(app.address).toEqual(address);
    const client = await TestClient.connect(`${address.url}/echo`);
    client.sendJson({ a: [1, 2.5, "x", null, true] });
    expect(await client.receiveJson()).toEqual({ a: [1, 2.5, "x", null, true] });
  } finally {
    await app.close();
  }
});

test("run logs the listening line on the app's logger at info, after its signal handlers", async () => {
  const logger = capture();
  const app = new Spikard({ logger }).websocket("/echo", (message) => message);
  const before = { int: process.listeners("SIGINT"), term: process.listeners("SIGTERM") };
  const address = await app.run({ host: "127.0.0.1", port: 0 });
  const added = {
    int: process.listeners("SIGINT").filter((l) => !before.int.includes(l)),
    term: process.listeners("SIGTERM").filter((l) => !before.term.includes(l)),
  };
  try {
    expect(logger.calls).toEqual([{ level: "info", args: [`spikard listening on ${address.url}`] }]);
    expect([added.int.length, added.term.length]).toEqual([1, 1]);
  } finally {
    for (const l of added.int) process.off("SIGINT", l);
    for (const l of added.term) process.off("SIGTERM", l);
    await app.close();
  }
});

test("close is graceful: clients get 1001 and onDisconnect ran before it resolves", async () => {
  const closes: number[] = [];
  const app = new Spikard().websocket("/echo", (message) => message, {
    onDisconnect: async (_ctx, close) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      closes.push(close.code);
    },
  });
  server = await TestServer.start(app);
  const a = await server.connect("/echo");
  const b = await server.connect("/echo");
  a.sendJson(1);
  expect(await a.receiveJson()).toBe(1);
  await server.close();
  expect(closes).toEqual([1001, 1001]);
  expect(await a.receiveData()).toEqual({ type: "close", code: 1001, reason: "server shutting down" });
  expect(await b.receiveData()).toMatchObject({ type: "close", code: 1001 });
  await app.close();
});

test("a HandlerError sends its message; the connection stays", async () => {
  const app = new Spikard()
    .websocket("/sync", () => {
      throw new HandlerError("sync refusal");
    })
    .websocket("/async", async (message) => {
      if (message === "fail") {
        throw new HandlerError("async refusal");
      }
      return message;
    });
  server = await TestServer.start(app);
  const sync = await server.connect("/sync");
  sync.sendJson({});
  expect(await sync.receiveJson()).toEqual({ type: "error", code: "handler_error", message: "sync refusal", errors: [] });
  const client = await server.connect("/async");
  client.sendJson("fail");
  expect(await client.receiveJson()).toMatchObject({ code: "handler_error", message: "async refusal" });
  client.sendJson("ok");
  expect(await client.receiveJson()).toBe("ok");
});

test("any other error never reaches the client: 'internal error', and the logger gets it with its stack", async () => {
  const logger = capture();
  const app = new Spikard({ logger })
    .websocket("/sync", function secretSyncHandler() {
      throw new TypeError("secret sync detail");
    })
    .websocket("/async", async function secretAsyncHandler(message) {
      await Promise.resolve();
      if (message === "fail") {
        throw new Error("secret async detail");
      }
      return message;
    });
  server = await TestServer.start(app);
  const sync = await server.connect("/sync");
  sync.sendJson({});
  const got = await sync.receiveJson();
  expect(got).toEqual({ type: "error", code: "handler_error", message: "internal error", errors: [] });
  const client = await server.connect("/async");
  client.sendJson("fail");
  const gotAsync = await client.receiveJson();
  expect(JSON.stringify([got, gotAsync])).not.toContain("secret");
  client.sendJson("ok");
  expect(await client.receiveJson()).toBe("ok");
  const errors = logger.calls.filter((call) => call.level === "error");
  expect(errors.map((call) => call.args[0])).toEqual([
    "spikard: the handler of /sync threw",
    "spikard: the handler of /async threw",
  ]);
  const [syncErr, asyncErr] = errors.map((call) => call.args[1] as Error);
  expect(syncErr?.message).toBe("secret sync detail");
  expect(syncErr?.stack).toContain("secretSyncHandler");
  expect(asyncErr?.stack).toContain("secretAsyncHandler");
});

test("a reply that is not JSON is an internal error, logged", async () => {
  const logger = capture();
  server = await TestServer.start(new Spikard({ logger }).websocket("/big", () => ({ n: 10n })));
  const client = await server.connect("/big");
  client.sendJson({});
  expect(await client.receiveJson()).toMatchObject({ code: "handler_error", message: "internal error" });
  expect(logger.calls.map((call) => [call.level, call.args[0]])).toEqual([
    ["error", "spikard: the reply of the handler of /big threw"],
  ]);
});

test("onConnect refuses with a Rejection's status; anything else thrown is a logged 500", async () => {
  const logger = capture();
  const app = new Spikard({ logger })
    .websocket("/auth", (m) => m, {
      onConnect: (ctx) => {
        if (ctx.query.token !== "secret") {
          throw new Rejection("bad token", 401);
        }
      },
    })
    .websocket("/plain", (m) => m, {
      onConnect: async () => {
        throw new Error("secret connect detail");
      },
    });
  server = await TestServer.start(app);
  const refused = await server.connect("/auth?token=x").catch((err: unknown) => err);
  expect(refused).toBeInstanceOf(UpgradeRejected);
  expect((refused as UpgradeRejected).status).toBe(401);
  expect(JSON.parse((refused as UpgradeRejected).body)).toMatchObject({ code: "connection_rejected", message: "bad token" });
  const plain = await server.connect("/plain").catch((err: unknown) => err);
  expect((plain as UpgradeRejected).status).toBe(500);
  expect((plain as UpgradeRejected).body).not.toContain("secret");
  expect(logger.calls).toMatchObject([{ level: "error", args: ["spikard: onConnect of /plain threw", { message: "secret connect detail" }] }]);
  const ok = await server.connect("/auth?token=secret");
  ok.sendJson("in");
  expect(await ok.receiveJson()).toBe("in");
});

test("core errors are SpikardErrors with the core's code, naming the route", () => {
  const app = new Spikard().websocket("/a", (m) => m);
  const duplicate = (() => {
    try {
      app.websocket("/a", (m) => m);
    } catch (err) {
      return err;
    }
  })();
  expect(duplicate).toBeInstanceOf(SpikardError);
  expect((duplicate as SpikardError).code).toBe("duplicate_route");
  expect(() => app.websocket("/bad", (m) => m, { messageSchema: { type: 12 } })).toThrow(/\/bad/);
  try {
    app.websocket("no-slash", (m) => m);
  } catch (err) {
    expect((err as SpikardError).code).toBe("invalid_path");
  }
  expect(() => new Spikard({ maxMessageSize: 0 })).toThrow(SpikardError);
});

test("listen fails with pubsub_unavailable when the pubsub Redis cannot be reached", async () => {
  const blocker = new Spikard().websocket("/x", (m) => m);
  const { port } = await blocker.listen({ port: 0 });
  await blocker.close(); // a port nothing listens on now
  const app = new Spikard({ pubsub: `redis://127.0.0.1:${port}/0` }).websocket("/x", (m) => m);
  await expect(app.listen({ port: 0 })).rejects.toMatchObject({
    code: "pubsub_unavailable",
    message: expect.stringContaining(`cannot reach the pub/sub backend redis://127.0.0.1:${port}/0`),
  });
  expect(() => new Spikard({ pubsub: "kafka://nope" })).toThrow(/pubsub must be/);
});

test("listen fails with bind_failed when the port is taken", async () => {
  const first = new Spikard().websocket("/x", (m) => m);
  const { port } = await first.listen({ port: 0 });
  try {
    const second = new Spikard().websocket("/x", (m) => m);
    await expect(second.listen({ port })).rejects.toMatchObject({ code: "bind_failed" });
  } finally {
    await first.close();
  }
});

test("zod 4 and TypeBox schemas validate in the core; types are inferred", async () => {
  const Zod = z.object({ text: z.string().max(5), tags: z.array(z.string()).optional() });
  const Box = Type.Object({ n: Type.Integer({ minimum: 0 }) });
  const Raw = { type: "object", properties: { id: { type: "integer" } }, required: ["id"] } as const;
  const app = new Spikard()
    .websocket(
      "/zod",
      (message) => {
        expectTypeOf(message).toEqualTypeOf<{ text: string; tags?: string[] | undefined }>();
        return { length: message.text.length };
      },
      { messageSchema: Zod, responseSchema: z.object({ length: z.number() }) },
    )
    .websocket(
      "/box",
      (message) => {
        expectTypeOf(message).toEqualTypeOf<{ n: number }>();
        return message.n * 2;
      },
      { messageSchema: Box },
    )
    .websocket(
      "/raw",
      (message) => {
        expectTypeOf(message).toEqualTypeOf<{ id: number }>();
        return message.id;
      },
      { messageSchema: Raw },
    );
  expectTypeOf<Infer<typeof Raw>>().toEqualTypeOf<{ id: number }>();
  // A raw-text route's messages are strings.
  new Spikard().websocket(
    "/text",
    (message) => {
      expectTypeOf(message).toEqualTypeOf<string>();
      return message.toUpperCase();
    },
    { rawText: true },
  );
  expect(toJsonSchema(Zod)).toMatchObject({ type: "object", required: ["text"] });
  server = await TestServer.start(app);
  const zod = await server.connect("/zod");
  zod.sendJson({ text: "toolong" });
  expect(await zod.receiveJson()).toMatchObject({ code: "validation_failed", errors: [{ path: "/text" }] });
  zod.sendJson({ text: "hi", extra: 1 });
  expect(await zod.receiveJson()).toEqual({ length: 2 });
  const box = await server.connect("/box");
  box.sendJson({ n: -1 });
  expect(await box.receiveJson()).toMatchObject({ code: "validation_failed", errors: [{ path: "/n" }] });
  box.sendJson({ n: 21 });
  expect(await box.receiveJson()).toBe(42);
  const raw = await server.connect("/raw");
  raw.sendJson({});
  expect(await raw.receiveJson()).toMatchObject({ code: "validation_failed" });
  raw.sendJson({ id: 7 });
  expect(await raw.receiveJson()).toBe(7);
});

test("messages of one connection are handled in order, even by slow async handlers", async () => {
  const app = new Spikard().websocket("/slow", async (message: unknown) => {
    await new Promise((resolve) => setTimeout(resolve, (10 - Number(message)) * 2));
    return message;
  });
  server = await TestServer.start(app);
  const client = await server.connect("/slow");
  for (let i = 0; i < 10; i++) {
    client.sendJson(i);
  }
  const got: unknown[] = [];
  for (let i = 0; i < 10; i++) {
    got.push(await client.receiveJson());
  }
  expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test("the handler gets what JSON.parse of the text builds: __proto__ is an own key, every number a number", async () => {
  const seen: unknown[] = [];
  const app = new Spikard().websocket("/parse", (message: unknown) => {
    seen.push(message);
  });
  server = await TestServer.start(app);
  const client = await server.connect("/parse");
  const texts = [
    '{"__proto__": {"admin": true}, "nested": [{"__proto__": 1}]}',
    "[9007199254740993, 9223372036854775807, 9223372036854775808, 18446744073709551615, -9223372036854775808, 1e300, -0]",
  ];
  for (const text of texts) {
    client.sendText(text);
  }
  client.sendJson("done");
  await expect.poll(() => seen.length).toBe(3);
  const [proto, numbers] = seen as [Record<string, unknown>, unknown[]];
  expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
  expect(Object.keys(proto)).toEqual(["__proto__", "nested"]);
  expect(proto.admin).toBeUndefined();
  expect(seen.slice(0, 2)).toStrictEqual(texts.map((text) => JSON.parse(text) as unknown));
  expect(numbers.every((n) => typeof n === "number")).toBe(true);
});

test("ctx.send pushes from outside a handler; ctx.close ends the connection", async () => {
  let saved: { send(value: unknown): void; close(code?: number, reason?: string): void } | undefined;
  let registered: () => void = () => {};
  const handled = new Promise<void>((resolve) => {
    registered = resolve;
  });
  const app = new Spikard().websocket("/push", (_m, ctx) => {
    saved = ctx;
    registered();
    return undefined;
  });
  server = await TestServer.start(app);
  const client = await server.connect("/push");
  client.sendJson("register");
  await handled;
  saved?.send({ pushed: true });
  expect(await client.receiveJson()).toEqual({ pushed: true });
  saved?.close(4001, "done");
  expect(await client.receiveData()).toEqual({ type: "close", code: 4001, reason: "done" });
  expect(() => saved?.send(1)).toThrow(ConnectionClosedError);
  expect(() => saved?.send(1)).toThrow(expect.objectContaining({ code: "connection_closed" }));
});

test("staticDir serves files over HTTP on paths that are not WebSocket routes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spikard-static-"));
  try {
    writeFileSync(join(dir, "index.html"), "<h1>chat</h1>\n");
    const app = new Spikard({ staticDir: dir }).websocket("/echo", (message) => message);
    server = await TestServer.start(app);
    const http = server.baseUrl.replace("ws://", "http://");
    const page = await fetch(`${http}/index.html`);
    expect(page.status).toBe(200);
    expect(await page.text()).toBe("<h1>chat</h1>\n");
    expect((await fetch(`${http}/`)).status).toBe(200);
    expect((await fetch(`${http}/missing.txt`)).status).toBe(404);
    const client = await server.connect("/echo");
    client.sendJson("still a websocket");
    expect(await client.receiveJson()).toBe("still a websocket");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("onStartup hooks run before listen binds and onShutdown hooks after every onDisconnect", async () => {
  const events: string[] = [];
  const app = new Spikard()
    .onStartup(async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      events.push("startup:async");
    })
    .onStartup(() => events.push("startup:sync"))
    .onShutdown(() => events.push("shutdown"));
  app.websocket("/echo", (message) => message, {
    onDisconnect: () => {
      events.push("disconnect");
    },
  });
  const server = await TestServer.start(app);
  expect(events).toEqual(["startup:async", "startup:sync"]);
  const client = await server.connect("/echo");
  await client.sendJson("hi");
  expect(await client.receiveJson()).toBe("hi");
  await client.close();
  await Promise.all([server.close(), server.close()]);
  expect(events).toEqual(["startup:async", "startup:sync", "disconnect", "shutdown"]);
});

test("a throwing onStartup rejects listen; a throwing onShutdown is logged and the next runs", async () => {
  const failing = new Spikard().onStartup(() => {
    throw new Error("database unreachable");
  });
  failing.websocket("/echo", (message) => message);
  await expect(failing.listen({ port: 0 })).rejects.toThrow("database unreachable");

  const logger = capturingLogger();
  const ran: string[] = [];
  const app = new Spikard({ logger })
    .onShutdown(() => {
      throw new Error("pool gone");
    })
    .onShutdown(() => ran.push("next"));
  app.websocket("/echo", (message) => message);
  await app.listen({ port: 0 });
  await app.close();
  expect(ran).toEqual(["next"]);
  expect(logger.calls.some(([level, text]) => level === "error" && String(text).includes("onShutdown hook threw"))).toBe(
    true,
  );
});

test("subprotocols: the route's preferred one among the client's; cookies by name", async () => {
  const app = new Spikard();
  app.websocket("/p", (_message, ctx) => ({ subprotocol: ctx.subprotocol ?? null, cookies: ctx.cookies }), {
    subprotocols: ["graphql-transport-ws", "graphql-ws"],
  });
  const server = await TestServer.start(app);
  try {
    const client = await server.connect("/p", { protocols: ["graphql-ws"], headers: { Cookie: "a=1; a=2; b=x" } });
    expect(client.subprotocol).toBe("graphql-ws");
    await client.sendJson({});
    expect(await client.receiveJson()).toEqual({ subprotocol: "graphql-ws", cookies: { a: "1", b: "x" } });
    await client.close();
  } finally {
    await server.close();
  }
});

test("compression: negotiated only when the app sets it and the client offers it; large messages round-trip", async () => {
  /** What the app answers to a client offering permessage-deflate, after a large message went
   * there and back; and whether a client offering nothing got an extension. */
  const negotiated = async (app: Spikard): Promise<[string, string]> => {
    const server = await TestServer.start(app.websocket("/echo", (message) => message));
    try {
      const big = { fill: "x".repeat(20_000) };
      const offering = await server.connect("/echo", { compression: true });
      offering.sendJson(big);
      expect(await offering.receiveJson()).toEqual(big);
      const plain = await server.connect("/echo");
      await Promise.all([offering.close(), plain.close()]);
      return [offering.extensions, plain.extensions];
    } finally {
      await server.close();
    }
  };
  expect(await negotiated(new Spikard())).toEqual(["", ""]); // off by default
  expect(await negotiated(new Spikard({ compression: false }))).toEqual(["", ""]);
  expect(await negotiated(new Spikard({ compression: true }))).toEqual(["permessage-deflate; server_no_context_takeover", ""]);
  expect(await negotiated(new Spikard({ compression: { threshold: 0, serverContextTakeover: true } }))).toEqual([
    "permessage-deflate",
    "",
  ]);
});

test("capture records what is published to a topic, by handlers and by the app, until stopped", async () => {
  const app = new Spikard();
  app.websocket("/rooms/{room}", (message, ctx) => {
    ctx.publish(`room:${ctx.params.room}`, message);
    return "published";
  });
  const server = await TestServer.start(app);
  try {
    const published = server.capture("room:lobby");
    const client = await server.connect("/rooms/lobby");
    await client.sendJson({ text: "hi" });
    expect(await client.receiveJson()).toBe("published");
    app.publish("room:lobby", { text: "from the app" });
    app.publish("room:other", { text: "elsewhere" });
    expect(published.topic).toBe("room:lobby");
    expect(published.messages).toEqual([{ text: "hi" }, { text: "from the app" }]);
    published.stop();
    app.publish("room:lobby", { text: "after" });
    expect(published.messages).toHaveLength(2);
    await client.close();
  } finally {
    await server.close();
  }
  expect(() => new Spikard().capture("x")).toThrow(InvalidStateError);
});
