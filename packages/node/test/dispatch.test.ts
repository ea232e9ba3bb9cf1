/**
 * Dispatch by message type (`app.dispatch(...).on(...)`, `@gateway` / `@on`) and the AsyncAPI
 * document (`app.asyncapi`, the `spikard-asyncapi` command), over real sockets. The shared
 * `dispatch_*` fixtures pin the protocol; these pin the package's API around it.
 */

import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { Type } from "@sinclair/typebox";
import { type JsonSchema, Spikard, type WebSocketContext, gateway, on, onConnect, onDisconnect } from "spikard";
import { TestServer } from "spikard/testing";
import { describe, expect, expectTypeOf, test } from "vitest";
import { z } from "zod";

import { capture as quietLogger } from "./logger.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const chatDocument = JSON.parse(readFileSync(join(root, "fixtures/asyncapi/chat.json"), "utf8")) as unknown;

describe("app.dispatch", () => {
  test("each type reaches its branch; zod and TypeBox parse after the core's check; hooks stay with the route", async () => {
    const events: string[] = [];
    const app = new Spikard({ logger: quietLogger() });
    app
      .dispatch<{ user?: string }>("/chat", {
        description: "chat",
        onConnect: (ctx) => {
          ctx.state.user = ctx.query.user ?? "anon";
          events.push("connect");
        },
        onDisconnect: (_ctx, close) => {
          events.push(`disconnect:${close.code}`);
        },
        onBinary: (data) => Buffer.concat([data, data]),
      })
      .on(
        "join",
        (message, ctx) => {
          expectTypeOf(message).toEqualTypeOf<{ room: string; at: Date }>();
          return { joined: message.room, user: ctx.state.user, at: message.at.toISOString() };
        },
        { schema: z.object({ room: z.string(), at: z.iso.datetime().transform((s) => new Date(s)) }) },
      )
      .on(
        "say",
        (message) => {
          expectTypeOf(message).toEqualTypeOf<{ text: string }>();
          return { said: message.text };
        },
        { schema: Type.Object({ text: Type.String() }), replySchema: { type: "object", required: ["said"] } },
      )
      .on("ping", (message) => {
        expectTypeOf(message).toEqualTypeOf<import("spikard").JsonValue>();
        return "pong";
      });
    const server = await TestServer.start(app);
    try {
      const client = await server.connect("/chat?user=ann");
      client.sendJson({ type: "join", room: "lobby", at: "2026-11-30T05:00:00Z", id: 3 });
      expect(await client.receiveJson()).toEqual({ joined: "lobby", user: "ann", at: "2026-11-30T05:00:00.000Z", id: 3 });
      client.sendJson({ type: "say", text: "hi" });
      expect(await client.receiveJson()).toEqual({ said: "hi" });
      client.sendJson({ type: "ping" });
      expect(await client.receiveJson()).toBe("pong");
      // The core refuses before JavaScript sees it: a missing field, an unknown type.
      client.sendJson({ type: "say" });
      expect(await client.receiveJson()).toMatchObject({ code: "validation_failed", errors: [{ path: "/text" }] });
      client.sendJson({ type: "shout" });
      expect(await client.receiveJson()).toMatchObject({
        code: "validation_failed",
        errors: [{ path: "/type", message: 'value is not one of "join", "say", "ping"' }],
      });
      // zod's own check runs after the core's (a datetime the JSON Schema lets through).
      client.sendJson({ type: "join", room: "lobby", at: "yesterday" });
      expect(await client.receiveJson()).toMatchObject({ code: "validation_failed", errors: [{ path: "/at" }] });
      client.sendBinary(Buffer.from("ab"));
      expect(await client.receiveData()).toMatchObject({ type: "binary" });
      await client.close();
      await expect.poll(() => events).toEqual(["connect", "disconnect:1000"]);
    } finally {
      await server.close();
    }
  });

  test("a route without branches is refused when registered; branches cannot be added after listen", async () => {
    const empty = new Spikard({ logger: quietLogger() });
    empty.dispatch("/chat");
    expect(() => empty.asyncapi()).toThrow(/at least one branch/);

    const described = new Spikard();
    const early = described.dispatch("/chat").on("a", () => undefined);
    described.asyncapi();
    expect(() => early.on("b", () => undefined)).toThrow(/before listen or asyncapi/);

    const app = new Spikard({ logger: quietLogger() });
    const route = app.dispatch("/chat").on("a", () => undefined);
    const server = await TestServer.start(app);
    try {
      expect(() => route.on("b", () => undefined)).toThrow(/before listen/);
      expect(() => app.dispatch("/other")).toThrow(/after listen/);
    } finally {
      await server.close();
    }
  });
});

describe("@gateway and @on", () => {
  @gateway("/chat", { description: "A chat without rooms: join, say something, leave." })
  class Chat {
    readonly seen: string[] = [];

    @on("join", {
      schema: { type: "object", properties: { user: { type: "string", minLength: 1 } }, required: ["user"] } as const,
      replySchema: { type: "object", required: ["joined"] },
      description: "Join the chat as `user`.",
    })
    join(message: { user: string }) {
      this.seen.push(`join:${message.user}`);
      return { joined: message.user };
    }

    @on("say", {
      schema: {
        type: "object",
        properties: { text: { type: "string" }, user: { type: "string" } },
        required: ["text", "user"],
      } as const,
      replySchema: { type: "object", required: ["echo", "from"] },
      description: "Say `text` as `user`; the reply echoes it.",
    })
    say(message: { text: string; user: string }) {
      return { echo: message.text, from: message.user };
    }

    @on("leave", { schema: { type: "object" }, description: "Leave the chat." })
    leave() {
      return { left: true };
    }

    @onConnect
    connected(_ctx: WebSocketContext) {
      this.seen.push("connect");
    }

    @onDisconnect
    disconnected(_ctx: WebSocketContext, close: { code: number }) {
      this.seen.push(`disconnect:${close.code}`);
    }
  }

  test("a decorated gateway serves its branches and hooks", async () => {
    const chat = new Chat();
    const app = new Spikard({ logger: quietLogger() }).register(chat);
    const server = await TestServer.start(app);
    try {
      const client = await server.connect("/chat");
      client.sendJson({ type: "join", user: "ann", id: "j1" });
      expect(await client.receiveJson()).toEqual({ joined: "ann", id: "j1" });
      client.sendJson({ type: "say", text: "hi", user: "ann" });
      expect(await client.receiveJson()).toEqual({ echo: "hi", from: "ann" });
      await client.close();
      await expect.poll(() => chat.seen).toEqual(["connect", "join:ann", "disconnect:1000"]);
    } finally {
      await server.close();
    }
  });

  test("the gateway's document is the Rust chat example's /chat channel", () => {
    const expected = chatDocument as {
      channels: Record<string, unknown>;
      operations: Record<string, unknown>;
      components: { messages: { topic_room_: { payload: JsonSchema } } };
    };
    // The example's rooms publish to topics "room:*", listed in every channel.
    const app = new Spikard().topic("room:*", expected.components.messages.topic_room_.payload);
    const document = app.register(Chat).asyncapi({ title: "Spikard chat", version: "1.0.0" });
    expect((document.channels as Record<string, unknown>).chat).toEqual(expected.channels.chat);
    expect(document.operations).toMatchObject(
      Object.fromEntries(Object.entries(expected.operations).filter(([name]) => name.startsWith("chat."))),
    );
  });

  test("@on outside a @gateway class is refused", () => {
    class Loose {
      @on("a")
      a() {
        return undefined;
      }
    }
    expect(() => new Spikard().register(Loose)).toThrow(/not a @gateway class/);
  });
});

describe("AsyncAPI", () => {
  test("the chat example's document is fixtures/asyncapi/chat.json", async () => {
    const example = pathToFileURL(join(root, "examples/node/chat.js")).href;
    const { app } = (await import(example)) as { app: Spikard };
    expect(app.asyncapi({ title: "Spikard chat", version: "1.0.0" })).toEqual(chatDocument);
  });

  test("topic schemas and app options are in the document", () => {
    const app = new Spikard({ maxMessageSize: 1024 });
    app.topic("news", { type: "object", required: ["headline"] });
    app.websocket("/feed", () => undefined, { description: "The news feed." });
    const document = app.asyncapi();
    expect(document.info).toEqual({ title: "Spikard app", version: "0.0.0" });
    expect(document.channels).toMatchObject({ feed: { address: "/feed", description: "The news feed." } });
    expect(document.components).toMatchObject({ messages: { topic_news: { "x-spikard-topic": "news" } } });
  });

  test("the asyncapi option serves the document over HTTP GET", async () => {
    const info = { title: "Served", version: "2.0.0" };
    const app = new Spikard({ logger: quietLogger(), asyncapi: { path: "/asyncapi.json", info } });
    app.dispatch("/chat").on("join", (m) => m, { description: "Join." });
    const server = await TestServer.start(app);
    try {
      const response = await fetch(server.url("/asyncapi.json").replace("ws://", "http://"));
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
      expect(await response.json()).toEqual(app.asyncapi(info));
    } finally {
      await server.close();
    }
  });

  test("spikard-asyncapi prints the exported app's document", () => {
    const cli = join(root, "packages/node/dist/cli.js");
    const run = spawnSync(process.execPath, [cli, "examples/node/chat.js", "--title", "Spikard chat", "--version", "1.0.0"], {
      cwd: root,
      encoding: "utf8",
    });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(chatDocument);

    const missing = spawnSync(process.execPath, [cli], { cwd: root, encoding: "utf8" });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/usage: spikard-asyncapi <module>/);
  });
});

describe("typed client from an AsyncAPI document", () => {
  test("the chat document's client type-checks what the protocol allows and refuses the rest", () => {
    // The generated client and the usage file that must type-check against it (tracked as
    // usage.ts.txt so that the package's own tsc does not check it without the client).
    const dir = join(root, "packages/node/test/.generated/typed-client");
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(root, "packages/node/test/typed-client/usage.ts.txt"), join(dir, "usage.ts"));
    const cli = join(root, "packages/node/dist/cli.js");
    const run = spawnSync(process.execPath, [cli, "fixtures/asyncapi/chat.json", "--types"], { cwd: root, encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    writeFileSync(join(dir, "chat.ts"), run.stdout);
    const tsc = join(root, "node_modules/.bin/tsc");
    const args = ["--noEmit", "--strict", "--target", "ES2022", "--module", "NodeNext", "--moduleResolution", "NodeNext"];
    const checked = spawnSync(tsc, [...args, "--lib", "ES2023,DOM", "--types", "node", join(dir, "usage.ts")], { encoding: "utf8" });
    expect(checked.stdout + checked.stderr).toBe("");
    expect(checked.status).toBe(0);
  }, 60_000);
});
