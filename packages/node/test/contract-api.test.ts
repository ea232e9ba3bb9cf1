/**
 * The type contract case by case (the differential test covers the breadth): what the client
 * gets when zod or TypeBox refuses a message the core let through, what the handler gets, and
 * how replies go through the response schema's library.
 */

import { Type } from "@sinclair/typebox";
import { HandlerError, Spikard } from "spikard";
import { TestServer } from "spikard/testing";
import { afterEach, expect, expectTypeOf, test } from "vitest";
import { z } from "zod";

import { capture } from "./logger.js";

let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});


test("a zod refusal after the core's check is validation_failed with zod's paths and codes, never the value", async () => {
  const Order = z
    .object({
      id: z.string().trim().min(3),
      lines: z.array(z.object({ qty: z.int().refine((n) => n % 2 === 0, { error: (iss) => `odd: ${String(iss.input)}` }) })),
    })
    .strict();
  const app = new Spikard().websocket("/order", (order) => ({ lines: order.lines.length }), { messageSchema: Order });
  server = await TestServer.start(app);
  const client = await server.connect("/order");
  client.sendJson({ id: "   secret-ish   ", lines: [{ qty: 2 }, { qty: 4 }] });
  expect(await client.receiveJson()).toEqual({ lines: 2 });
  client.sendJson({ id: " ab ", lines: [{ qty: 2 }, { qty: 12345 }] });
  const refused = (await client.receiveJson()) as { code: string; errors: { path: string; message: string; keyword: string }[] };
  expect(refused.code).toBe("validation_failed");
  expect(refused.errors).toEqual([
    { path: "/id", message: "length must be >= 3", keyword: "too_small" },
    { path: "/lines/1/qty", message: "failed a refinement", keyword: "custom" },
  ]);
  expect(JSON.stringify(refused)).not.toContain("12345");
});

test("the handler gets zod's output: transformed, defaulted, coerced; the type says so", async () => {
  const Query = z.object({
    tags: z.string().transform((s) => s.split(",")),
    page: z.coerce.number().int().default(1),
    at: z.iso.datetime().pipe(z.coerce.date()),
  });
  const seen: unknown[] = [];
  const app = new Spikard().websocket(
    "/q",
    (query) => {
      expectTypeOf(query).toEqualTypeOf<{ tags: string[]; page: number; at: Date }>();
      seen.push(query);
      return { year: query.at.getUTCFullYear(), page: query.page };
    },
    { messageSchema: Query },
  );
  server = await TestServer.start(app);
  const client = await server.connect("/q");
  client.sendJson({ tags: "a,b", at: "2024-05-01T00:00:00Z" });
  expect(await client.receiveJson()).toEqual({ year: 2024, page: 1 });
  client.sendJson({ tags: "", page: "7", at: "2024-05-01T00:00:00Z" });
  expect(await client.receiveJson()).toEqual({ year: 2024, page: 7 });
  expect(seen).toEqual([
    { tags: ["a", "b"], page: 1, at: new Date("2024-05-01T00:00:00Z") },
    { tags: [""], page: 7, at: new Date("2024-05-01T00:00:00Z") },
  ]);
});

test("async refinements run (safeParseAsync) and keep each connection's order", async () => {
  const Name = z.object({ name: z.string().refine(async (s) => (await Promise.resolve(s)) !== "taken") });
  const app = new Spikard().websocket("/name", (m) => ({ ok: m.name }), { messageSchema: Name });
  server = await TestServer.start(app);
  const client = await server.connect("/name");
  for (const name of ["a", "taken", "b"]) {
    client.sendJson({ name });
  }
  expect(await client.receiveJson()).toEqual({ ok: "a" });
  expect(await client.receiveJson()).toMatchObject({ code: "validation_failed", errors: [{ path: "/name", keyword: "custom" }] });
  expect(await client.receiveJson()).toEqual({ ok: "b" });
});

test("a transform that throws fails like a handler that throws; the connection stays", async () => {
  const logger = capture();
  const Boom = z.object({
    n: z.number().transform((n) => {
      if (n < 0) {
        throw new Error("negative secret detail");
      }
      if (n === 0) {
        throw new HandlerError("zero is not allowed");
      }
      return n;
    }),
  });
  const app = new Spikard({ logger }).websocket("/boom", (m) => m, { messageSchema: Boom });
  server = await TestServer.start(app);
  const client = await server.connect("/boom");
  client.sendJson({ n: -1 });
  expect(await client.receiveJson()).toMatchObject({ code: "handler_error", message: "internal error" });
  client.sendJson({ n: 0 });
  expect(await client.receiveJson()).toMatchObject({ code: "handler_error", message: "zero is not allowed" });
  client.sendJson({ n: 1 });
  expect(await client.receiveJson()).toEqual({ n: 1 });
  expect(logger.calls).toMatchObject([
    ["error", "spikard: the message schema of /boom threw", { message: "negative secret detail" }],
  ]);
});

test("TypeBox: defaults filled, transforms decoded, refusals with TypeBox's paths", async () => {
  const Big = Type.Object({
    n: Type.Transform(Type.String({ pattern: "^[0-9]+$" }))
      .Decode((s) => BigInt(s))
      .Encode((b) => b.toString()),
    page: Type.Integer({ default: 1 }),
  });
  const seen: unknown[] = [];
  const app = new Spikard().websocket(
    "/big",
    (m) => {
      seen.push(m);
      return {};
    },
    { messageSchema: Big },
  );
  server = await TestServer.start(app);
  const client = await server.connect("/big");
  client.sendJson({ n: "123456789012345678901234567890" });
  expect(await client.receiveJson()).toEqual({});
  expect(seen).toEqual([{ n: 123456789012345678901234567890n, page: 1 }]);
  client.sendJson({ n: "12a" });
  expect(await client.receiveJson()).toMatchObject({
    code: "validation_failed",
    errors: [{ path: "/n", keyword: "StringPattern" }],
  });
});

test("replies go through zod's encode: codecs encode, refused replies are dropped and logged", async () => {
  const logger = capture();
  const Stamp = z.object({
    at: z.codec(z.iso.datetime(), z.date(), { decode: (s) => new Date(s), encode: (d) => d.toISOString() }),
    n: z.number().refine((n) => n < 10),
  });
  const app = new Spikard({ logger }).websocket("/stamp", (m: { n: number }) => ({ at: new Date(Date.UTC(2024, 0, 2)), n: m.n }), {
    messageSchema: z.object({ n: z.number() }),
    responseSchema: Stamp,
  });
  server = await TestServer.start(app);
  const client = await server.connect("/stamp");
  client.sendJson({ n: 1 });
  expect(await client.receiveJson()).toEqual({ at: "2024-01-02T00:00:00.000Z", n: 1 });
  client.sendJson({ n: 11 }); // the refinement refuses the reply: nothing is sent
  client.sendJson({ n: 2 });
  expect(await client.receiveJson()).toEqual({ at: "2024-01-02T00:00:00.000Z", n: 2 });
  expect(logger.calls).toEqual([["warn", "spikard: reply of /stamp failed the response schema; dropped: /n (custom)"]]);
});
