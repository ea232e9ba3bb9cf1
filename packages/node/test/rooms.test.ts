/** Rooms (topics) against a real server: membership kept by the core, publish from handlers,
 * hooks and timers, fan-out order, and nothing delivered after a disconnect. */

import { Spikard, type WebSocketContext } from "spikard";
import { type TestClient, TestServer } from "spikard/testing";
import { afterEach, expect, test } from "vitest";

let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

type Ctx = WebSocketContext<Record<string, unknown>>;

const room = (ctx: Ctx): string => ctx.params.room ?? "";
const user = (ctx: Ctx): string => ctx.query.user ?? "anonymous";

/** A room route: join on connect, every message is published to the room as `{user, seq}`. */
function roomsApp(onDisconnect?: (ctx: Ctx) => void): Spikard {
  return new Spikard().websocket(
    "/rooms/{room}",
    (message: unknown, ctx: Ctx) => {
      ctx.publish(room(ctx), { user: user(ctx), seq: message });
    },
    {
      onConnect: (ctx) => {
        expect(ctx.subscribe(room(ctx))).toBe(true);
        expect(ctx.subscribe(room(ctx)), "a second subscribe is a no-op").toBe(false);
      },
      onDisconnect: (ctx) => onDisconnect?.(ctx),
    },
  );
}

/** A promise and the function that resolves it. */
function signal<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

test("ten clients in one room each see every client's messages, in the order each sent them", async () => {
  const CLIENTS = 10;
  const MESSAGES = 30;
  const app = roomsApp();
  server = await TestServer.start(app);
  const clients: TestClient[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    clients.push(await server.connect(`/rooms/ten?user=u${i}`));
  }
  // onConnect (which subscribes) ran before each upgrade completed.
  expect(app.topicCount("ten")).toBe(CLIENTS);
  expect(app.topics()).toEqual(["ten"]);
  // Everyone sends at once.
  for (let seq = 0; seq < MESSAGES; seq++) {
    for (const client of clients) {
      client.sendJson(seq);
    }
  }
  for (const [index, client] of clients.entries()) {
    const seen = new Map<string, number[]>();
    for (let n = 0; n < CLIENTS * MESSAGES; n++) {
      const got = (await client.receiveJson()) as { user: string; seq: number };
      seen.set(got.user, [...(seen.get(got.user) ?? []), got.seq]);
    }
    const inOrder = Array.from({ length: MESSAGES }, (_, seq) => seq);
    expect(seen.size, `client ${index} heard from every member`).toBe(CLIENTS);
    for (const [from, seqs] of seen) {
      expect(seqs, `client ${index} got ${from}'s messages in order`).toEqual(inOrder);
    }
  }
});

test("app.publish from a timer reaches every subscriber; 0 before listen and after close", async () => {
  const app = roomsApp();
  expect(app.publish("news", { early: true })).toBe(0);
  expect(app.topicCount("news")).toBe(0);
  server = await TestServer.start(app);
  const a = await server.connect("/rooms/news?user=a");
  const b = await server.connect("/rooms/news?user=b");
  const other = await server.connect("/rooms/sport?user=c");
  const delivered = await new Promise<number>((resolve) => {
    setTimeout(() => resolve(app.publish("news", { headline: "späť", tags: ["a", 1, 2.5, null] })), 1);
  });
  expect(delivered).toBe(2);
  expect(await a.receiveJson()).toEqual({ headline: "späť", tags: ["a", 1, 2.5, null] });
  expect(await b.receiveJson()).toEqual({ headline: "späť", tags: ["a", 1, 2.5, null] });
  // The other room heard nothing: the next thing it gets is its own message.
  other.sendJson(7);
  expect(await other.receiveJson()).toEqual({ user: "c", seq: 7 });
  expect(app.topics()).toEqual(["news", "sport"]);
  expect(app.publish("nobody", {})).toBe(0);
  await server.close();
  server = undefined;
  expect(app.publish("news", { late: true })).toBe(0);
  expect(app.topics()).toEqual([]);
});

test("a client that disconnects receives nothing further and the room count drops", async () => {
  type Left = { subscriptions: readonly string[]; resubscribed: boolean };
  const left = { a: signal<Left>(), b: signal<Left>() };
  const app = roomsApp((ctx) => {
    // The core took the connection out of its rooms before onDisconnect.
    const subscriptions = ctx.subscriptions;
    const resubscribed = ctx.subscribe(room(ctx));
    ctx.publish(room(ctx), { left: user(ctx) });
    left[user(ctx) as "a" | "b"].resolve({ subscriptions, resubscribed });
  });
  server = await TestServer.start(app);
  const a = await server.connect("/rooms/lobby?user=a");
  const b = await server.connect("/rooms/lobby?user=b");
  expect(app.topicCount("lobby")).toBe(2);
  b.sendJson(1);
  expect(await a.receiveJson()).toEqual({ user: "b", seq: 1 });
  expect(await b.receiveJson()).toEqual({ user: "b", seq: 1 });

  b.terminate(); // no closing handshake: the socket just ends
  expect(await b.receiveData()).toMatchObject({ type: "close", code: 1006 });
  expect(await left.b.promise).toEqual({ subscriptions: [], resubscribed: false });
  expect(await a.receiveJson()).toEqual({ left: "b" });
  expect(app.topicCount("lobby")).toBe(1);

  expect(app.publish("lobby", { after: true })).toBe(1);
  a.sendJson(2);
  expect(await a.receiveJson()).toEqual({ after: true });
  expect(await a.receiveJson()).toEqual({ user: "a", seq: 2 });
  // Nothing reached b after its close.
  await expect(b.receive(0)).rejects.toThrow(/nothing received/);

  await a.close();
  expect(await left.a.promise).toEqual({ subscriptions: [], resubscribed: false });
  expect(app.topics(), "the last member leaving removes the room").toEqual([]);
});

test("subscribe, unsubscribe, subscriptions, publishOthers and topicCount on the context", async () => {
  const Control = {
    type: "object",
    properties: { op: { enum: ["sub", "unsub", "others", "all", "count"] }, topic: { type: "string" } },
    required: ["op", "topic"],
  } as const;
  const app = new Spikard().websocket(
    "/ctl",
    (message, ctx) => {
      switch (message.op) {
        case "sub":
          return { ok: ctx.subscribe(message.topic), subscriptions: ctx.subscriptions };
        case "unsub":
          return { ok: ctx.unsubscribe(message.topic), subscriptions: ctx.subscriptions };
        case "others":
          return { delivered: ctx.publishOthers(message.topic, { from: ctx.id }) };
        case "all":
          return { delivered: ctx.publish(message.topic, { from: ctx.id }) };
        default:
          return { count: ctx.topicCount(message.topic) };
      }
    },
    { messageSchema: Control },
  );
  server = await TestServer.start(app);
  const a = await server.connect("/ctl");
  const b = await server.connect("/ctl");
  a.sendJson({ op: "sub", topic: "t1" });
  expect(await a.receiveJson()).toEqual({ ok: true, subscriptions: ["t1"] });
  a.sendJson({ op: "sub", topic: "t2" });
  expect(await a.receiveJson()).toEqual({ ok: true, subscriptions: ["t1", "t2"] });
  b.sendJson({ op: "sub", topic: "t1" });
  expect(await b.receiveJson()).toEqual({ ok: true, subscriptions: ["t1"] });
  b.sendJson({ op: "count", topic: "t1" });
  expect(await b.receiveJson()).toEqual({ count: 2 });

  // publishOthers skips the sender; publish includes it (queued before the reply).
  a.sendJson({ op: "others", topic: "t1" });
  const aId = ((await b.receiveJson()) as { from: number }).from;
  expect(await a.receiveJson()).toEqual({ delivered: 1 });
  a.sendJson({ op: "all", topic: "t1" });
  expect(await a.receiveJson()).toEqual({ from: aId });
  expect(await a.receiveJson()).toEqual({ delivered: 2 });
  expect(await b.receiveJson()).toEqual({ from: aId });

  a.sendJson({ op: "unsub", topic: "t1" });
  expect(await a.receiveJson()).toEqual({ ok: true, subscriptions: ["t2"] });
  a.sendJson({ op: "unsub", topic: "t1" });
  expect(await a.receiveJson()).toEqual({ ok: false, subscriptions: ["t2"] });
  expect(app.topicCount("t1")).toBe(1);
  expect(app.topics()).toEqual(["t1", "t2"]);
});

test("publishing a value that is not JSON throws and delivers nothing", async () => {
  const app = roomsApp();
  server = await TestServer.start(app);
  const a = await server.connect("/rooms/x");
  expect(() => app.publish("x", { n: 1n })).toThrow(TypeError);
  expect(() => app.publish("x", () => 1)).toThrow(TypeError);
  a.sendJson(1);
  expect(await a.receiveJson()).toEqual({ user: "anonymous", seq: 1 });
});
