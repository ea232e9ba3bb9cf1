/** Topic schemas (`app.topic`) against a real server: zod, TypeBox and raw JSON Schema checked
 * once in Rust before fan-out, `PublishError` with the core's fields and text, pattern
 * precedence, and the registration errors. */

import { Type } from "@sinclair/typebox";
import { PublishError, Spikard, SpikardError, type WebSocketContext } from "spikard";
import { TestServer } from "spikard/testing";
import { afterEach, expect, test } from "vitest";
import { z } from "zod";

let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

const TOO_LONG = `message published to "news" does not match the topic's schema: /text: value is longer than 10 characters`;

/** The errors the apps of these tests logged (their handlers let PublishErrors through). */
const logged: unknown[] = [];

/** `/rooms/{room}` joins its room; a message `{topic, value, catch?}` publishes `value` to
 * `topic` and replies with the count, or with the caught `PublishError`'s fields. */
function app(): Spikard {
  const logger = { error: (_message: string, err?: unknown) => void logged.push(err), warn() {}, info() {}, debug() {} };
  return new Spikard({ logger }).websocket(
    "/rooms/{room}",
    (message, ctx: WebSocketContext) => {
      const publish = (): number =>
        message.others === true
          ? ctx.publishOthers(String(message.topic), message.value)
          : ctx.publish(String(message.topic), message.value);
      if (message.catch !== true) {
        return { delivered: publish() };
      }
      try {
        return { delivered: publish() };
      } catch (err) {
        if (!(err instanceof PublishError)) {
          throw err;
        }
        return {
          name: err.name,
          isSpikardError: err instanceof SpikardError,
          code: err.code,
          topic: err.topic,
          errors: err.errors,
          message: err.message,
        };
      }
    },
    { messageSchema: { type: "object" } as const, onConnect: (ctx) => void ctx.subscribe(ctx.params.room ?? "") },
  );
}

test("a zod topic schema: valid messages fan out, invalid ones reach nobody and throw PublishError", async () => {
  const news = app().topic("news*", z.object({ text: z.string().max(10) }));
  server = await TestServer.start(news);
  const reader = await server.connect("/rooms/news");
  const writer = await server.connect("/rooms/lobby");

  writer.sendJson({ topic: "news", value: { text: "short" } });
  expect(await writer.receiveJson()).toEqual({ delivered: 1 });
  expect(await reader.receiveJson()).toEqual({ text: "short" });

  writer.sendJson({ topic: "news", value: { text: "far too long for news" }, catch: true });
  expect(await writer.receiveJson()).toEqual({
    name: "PublishError",
    isSpikardError: true,
    code: "publish_invalid",
    topic: "news",
    errors: [{ path: "/text", message: "value is longer than 10 characters", keyword: "maxLength" }],
    message: TOO_LONG,
  });

  // Uncaught in the handler: an internal error, the core's text logged; the connection stays.
  writer.sendJson({ topic: "news", value: { text: "far too long for news" } });
  expect(await writer.receiveJson()).toEqual({ type: "error", code: "handler_error", message: "internal error", errors: [] });
  expect(logged.at(-1)).toMatchObject({ message: TOO_LONG, topic: "news" });
  writer.sendJson({ topic: "news", value: { text: "also much too long" }, others: true });
  expect(await writer.receiveJson()).toMatchObject({ code: "handler_error" });

  // The prefix matches other topics; a topic it does not match is not checked.
  writer.sendJson({ topic: "newsroom", value: { text: 42 }, catch: true });
  expect(await writer.receiveJson()).toMatchObject({ topic: "newsroom", errors: [{ path: "/text", keyword: "type" }] });
  writer.sendJson({ topic: "sport", value: { text: 42 } });
  expect(await writer.receiveJson()).toEqual({ delivered: 0 });

  // From outside a handler too; nothing of the refused messages reached the reader.
  expect(() => news.publish("news", { text: "refused from the app" })).toThrow(PublishError);
  const thrown = (() => {
    try {
      news.publish("news/eu", [1]);
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  expect(thrown).toBeInstanceOf(PublishError);
  expect(thrown).toMatchObject({ code: "publish_invalid", topic: "news/eu", errors: [{ path: "", keyword: "type" }] });
  expect(news.publish("news", { text: "next" })).toBe(1);
  expect(await reader.receiveJson()).toEqual({ text: "next" });
});

test("an exact pattern beats a prefix and a longer prefix a shorter one (TypeBox and raw JSON Schema)", async () => {
  const rooms = app()
    .topic("chat*", { type: "object", required: ["text"] })
    .topic("chat:vip*", Type.Object({ vip: Type.Boolean() }))
    .topic("chat:vip:lounge", { type: "integer" });
  server = await TestServer.start(rooms);
  expect(rooms.publish("chat:lobby", { text: "hi" })).toBe(0);
  expect(() => rooms.publish("chat:lobby", { vip: true })).toThrow(/\/text/);
  expect(rooms.publish("chat:vip:1", { vip: true })).toBe(0);
  expect(() => rooms.publish("chat:vip:1", { text: "hi" })).toThrow(PublishError);
  expect(rooms.publish("chat:vip:lounge", 7)).toBe(0);
  expect(() => rooms.publish("chat:vip:lounge", { vip: true })).toThrow(PublishError);
});

test("topic registration errors are SpikardErrors with the core's codes", async () => {
  const rooms = new Spikard();
  expect(() => rooms.topic("a*b", {})).toThrow(expect.objectContaining({ code: "invalid_config" }));
  expect(() => rooms.topic("", {})).toThrow(expect.objectContaining({ code: "invalid_config" }));
  expect(() => rooms.topic("bad", { type: "no-such-type" })).toThrow(
    expect.objectContaining({ name: "SpikardError", code: "schema_compile" }),
  );
  rooms.topic("news", {});
  expect(() => rooms.topic("news", {})).toThrow(expect.objectContaining({ code: "invalid_config" }));
  rooms.websocket("/x", () => undefined);
  server = await TestServer.start(rooms);
  expect(() => rooms.topic("late", {})).toThrow(expect.objectContaining({ code: "invalid_state" }));
});

test("a negative fanoutFlushMs is refused when the app is made", () => {
  expect(() => new Spikard({ fanoutFlushMs: -1 })).toThrow(/fanoutFlushMs/);
  expect(() => new Spikard({ fanoutFlushMs: 0 })).not.toThrow();
});
