/**
 * TC39 standard decorators (no `experimentalDecorators`), transformed by vitest's esbuild,
 * which lowers standard decorators itself (checked below: `context.kind` is only set by the
 * standard protocol).
 */

import { Type } from "@sinclair/typebox";
import { Spikard, type WebSocketContext, onConnect, onDisconnect, websocket } from "spikard";
import { TestServer } from "spikard/testing";
import { afterEach, expect, test } from "vitest";
import { z } from "zod";

const ChatMessage = z.object({ text: z.string().min(1), user: z.string() });

const events: string[] = [];
let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
  events.length = 0;
});

class Chat {
  greeting = "hello";

  @websocket("/chat", { messageSchema: ChatMessage })
  message(message: { text: string; user: string }, ctx: WebSocketContext) {
    return { echo: message.text, from: message.user, greeting: this.greeting, path: ctx.path };
  }

  @onConnect
  joined(ctx: WebSocketContext) {
    events.push(`connect:${ctx.path}:${this.greeting}`);
  }

  @onDisconnect
  async left(_ctx: WebSocketContext, close: { code: number }) {
    events.push(`disconnect:${close.code}`);
  }
}

class Rooms {
  @websocket("/rooms/{room}", { messageSchema: Type.Object({ n: Type.Integer() }) })
  room(message: { n: number }, ctx: WebSocketContext) {
    return { room: ctx.params.room, n: message.n + 1 };
  }

  @websocket("/ping")
  ping() {
    return "pong";
  }

  @onConnect("/ping")
  pinged() {
    events.push("ping-connect");
  }
}

test("a decorated class registers its route, schema and hooks", async () => {
  server = await TestServer.start(new Spikard().register(Chat));
  const client = await server.connect("/chat");
  client.sendJson({ text: "hi", user: "ada" });
  expect(await client.receiveJson()).toEqual({ echo: "hi", from: "ada", greeting: "hello", path: "/chat" });
  client.sendJson({ text: "", user: "ada" });
  expect(await client.receiveJson()).toMatchObject({ type: "error", code: "validation_failed" });
  await client.close(1000);
  await server.close();
  expect(events).toEqual(["connect:/chat:hello", "disconnect:1000"]);
});

test("register takes an instance and binds methods to it; path hooks apply to one route", async () => {
  server = await TestServer.start(new Spikard().register(new Rooms()));
  const rooms = await server.connect("/rooms/blue");
  rooms.sendJson({ n: 41 });
  expect(await rooms.receiveJson()).toEqual({ room: "blue", n: 42 });
  rooms.sendJson({ n: "x" });
  expect(await rooms.receiveJson()).toMatchObject({ code: "validation_failed", errors: [{ path: "/n" }] });
  expect(events).toEqual([]);
  const ping = await server.connect("/ping");
  ping.sendJson(null);
  expect(await ping.receiveJson()).toBe("pong");
  expect(events).toEqual(["ping-connect"]);
});

test("the decorators are the standard ones", () => {
  const seen: string[] = [];
  const spy = (_value: unknown, context: ClassMethodDecoratorContext): void => {
    seen.push(`${context.kind}:${String(context.name)}`);
  };
  class Probe {
    @spy
    method() {}
  }
  expect(new Probe()).toBeInstanceOf(Probe);
  expect(seen).toEqual(["method:method"]);
});

test("register refuses a class without routes, and misplaced decorators", () => {
  class Empty {}
  expect(() => new Spikard().register(Empty)).toThrow(/no @websocket method/);
  expect(() => {
    class Static {
      @websocket("/s")
      static handler() {}
    }
    return Static;
  }).toThrow(/public instance methods/);
});
