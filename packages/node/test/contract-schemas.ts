/**
 * The schemas of the differential test (`contract.test.ts`): zod 4 and TypeBox, each with a few
 * valid seed messages that the generator mutates into near-valid ones.
 */

import { FormatRegistry, Type } from "@sinclair/typebox";
import { z } from "zod";

/** One schema under test. */
export interface Case {
  readonly name: string;
  readonly library: "zod" | "typebox";
  readonly schema: unknown;
  /** Valid messages (by the library's verdict); the generator starts from them. */
  readonly seeds: readonly unknown[];
}

FormatRegistry.Set("email", (value) => /^[^@\s]+@[^@\s]+\.[a-z]{2,}$/i.test(value));

interface TreeNode {
  value: number;
  children: TreeNode[];
}
const Tree: z.ZodType<TreeNode> = z.object({
  value: z.number().int(),
  get children() {
    return z.array(Tree).max(3);
  },
});

const zodCases: Omit<Case, "library">[] = [
  {
    name: "zod chat (lengths)",
    schema: z.object({ text: z.string().min(1).max(20), user: z.string().min(2) }),
    seeds: [{ text: "hi", user: "al" }, { text: "😀😀", user: "😀😀" }],
  },
  {
    name: "zod overwrites (trim, toLowerCase)",
    schema: z.object({ name: z.string().trim().toLowerCase().min(2).max(5).regex(/^[a-z]+$/) }),
    seeds: [{ name: " Bob " }, { name: "alice" }, { name: "  ABCDE  " }],
  },
  {
    name: "zod coercion",
    schema: z.object({ n: z.coerce.number().int().min(0), b: z.coerce.boolean(), s: z.coerce.string().max(5) }),
    seeds: [{ n: "12", b: 0, s: 123 }, { n: 3, b: "no", s: null }, { n: true, b: [], s: "abc" }],
  },
  {
    name: "zod defaults",
    schema: z.object({
      page: z.number().int().positive().default(1),
      size: z.number().max(100).default(20),
      tags: z.array(z.string()).default([]),
      sort: z.enum(["asc", "desc"]).prefault("asc"),
    }),
    seeds: [{}, { page: 2 }, { size: 5, tags: ["a"], sort: "desc" }],
  },
  {
    name: "zod refinements",
    schema: z
      .object({ lo: z.number(), hi: z.number(), even: z.int().refine((n) => n % 2 === 0) })
      .refine((v) => v.lo < v.hi)
      .superRefine((v, ctx) => {
        if (v.hi - v.lo > 100) {
          ctx.addIssue({ code: "custom", path: ["hi"], message: `too far from ${v.lo}` });
        }
      }),
    seeds: [{ lo: 1, hi: 2, even: 4 }, { lo: -5, hi: 50, even: 0 }],
  },
  {
    name: "zod transforms and pipes",
    schema: z.object({
      csv: z.string().transform((s) => s.split(",")),
      len: z.string().pipe(z.transform((s) => s.length)).pipe(z.number().max(4)),
      num: z.string().regex(/^\d+$/).pipe(z.coerce.number()),
    }),
    seeds: [{ csv: "a,b", len: "abc", num: "42" }, { csv: "", len: "", num: "0" }],
  },
  {
    name: "zod formats",
    schema: z.object({
      email: z.email(),
      id: z.uuid(),
      at: z.iso.datetime(),
      day: z.iso.date(),
      site: z.url(),
    }),
    seeds: [
      {
        email: "a@b.co",
        id: "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        at: "2024-01-01T00:00:00Z",
        day: "2024-02-29",
        site: "https://example.com/x",
      },
    ],
  },
  {
    name: "zod regex with flags, startsWith, lowercase",
    schema: z.object({ code: z.string().regex(/^ab[0-9]+$/i), tag: z.string().startsWith("#").lowercase() }),
    seeds: [{ code: "AB12", tag: "#x" }, { code: "ab1", tag: "#a-b" }],
  },
  {
    name: "zod discriminated union",
    schema: z.discriminatedUnion("kind", [
      z.object({ kind: z.literal("circle"), r: z.number().positive() }),
      z.object({ kind: z.literal("rect"), w: z.number(), h: z.number() }),
      z.strictObject({ kind: z.literal("dot") }),
    ]),
    seeds: [{ kind: "circle", r: 1 }, { kind: "rect", w: 1, h: 2 }, { kind: "dot" }],
  },
  {
    name: "zod unions, nullable, optional",
    schema: z.object({
      v: z.union([z.string().max(3), z.number().positive()]).nullable(),
      o: z.string().optional(),
      n: z.number().nullish(),
    }),
    seeds: [{ v: "abc" }, { v: null, o: "x", n: null }, { v: 2, n: 1 }],
  },
  {
    name: "zod bigint",
    schema: z.object({ big: z.coerce.bigint(), plain: z.bigint().optional() }),
    seeds: [{ big: "12345678901234567890" }, { big: 7 }],
  },
  {
    name: "zod dates and codecs",
    schema: z.object({
      when: z.coerce.date(),
      at: z.codec(z.iso.datetime(), z.date(), {
        decode: (s) => new Date(s),
        encode: (d) => d.toISOString(),
      }),
      never: z.date().optional(),
    }),
    seeds: [{ when: "2024-01-01", at: "2024-01-01T10:00:00Z" }, { when: 0, at: "2000-01-01T00:00:00.5Z" }],
  },
  {
    name: "zod catch and preprocess",
    schema: z.object({
      c: z.number().max(10).catch(0),
      p: z.preprocess((v) => (typeof v === "string" ? v.length : v), z.number().max(3)),
    }),
    seeds: [{ c: 1, p: "ab" }, { p: 3 }, { c: "x", p: 1 }],
  },
  {
    name: "zod strict object and records",
    schema: z.strictObject({
      id: z.int(),
      meta: z.record(z.string().max(4), z.number()),
      flags: z.partialRecord(z.enum(["a", "b"]), z.boolean()),
    }),
    seeds: [{ id: 1, meta: { k: 1 }, flags: {} }, { id: -3, meta: {}, flags: { a: true } }],
  },
  {
    name: "zod tuples",
    schema: z.tuple([z.string(), z.number().int()]).rest(z.boolean()),
    seeds: [["a", 1], ["", -2, true, false]],
  },
  {
    name: "zod recursion (getter)",
    schema: Tree,
    seeds: [{ value: 1, children: [] }, { value: 1, children: [{ value: 2, children: [{ value: 3, children: [] }] }] }],
  },
  {
    name: "zod stringbool and literals",
    schema: z.object({ flag: z.stringbool(), color: z.enum(["red", "green"]), n: z.literal([1, 2, 3]) }),
    seeds: [{ flag: "yes", color: "red", n: 1 }, { flag: "FALSE", color: "green", n: 3 }],
  },
  {
    name: "zod multipleOf and int32",
    schema: z.object({ price: z.number().multipleOf(0.01).positive(), qty: z.int32().nonnegative(), step: z.number().multipleOf(5) }),
    seeds: [{ price: 0.3, qty: 1, step: 10 }, { price: 19.99, qty: 0, step: -5 }],
  },
  {
    name: "zod intersection and loose object",
    schema: z.intersection(z.looseObject({ a: z.string() }), z.object({ b: z.number() })),
    seeds: [{ a: "x", b: 1 }, { a: "", b: 0, extra: [1] }],
  },
  {
    name: "zod xor and array lengths",
    schema: z.object({
      pick: z.xor([z.object({ a: z.string() }), z.object({ b: z.string() })]),
      list: z.array(z.string().length(2)).min(1).max(3),
    }),
    seeds: [{ pick: { a: "x" }, list: ["ab"] }, { pick: { b: "y" }, list: ["😀😀", "cd", "ef"] }],
  },
];

const typeboxCases: Omit<Case, "library">[] = [
  {
    name: "typebox object (lengths, defaults, uniqueItems)",
    schema: Type.Object({
      name: Type.String({ minLength: 2, maxLength: 8 }),
      age: Type.Integer({ minimum: 0, default: 0 }),
      tags: Type.Array(Type.String(), { uniqueItems: true }),
    }),
    seeds: [{ name: "ab", tags: [] }, { name: "😀😀", age: 3, tags: ["a", "b"] }],
  },
  {
    name: "typebox union, strict objects",
    schema: Type.Union([
      Type.Object({ kind: Type.Literal("a"), x: Type.Number({ exclusiveMinimum: 0 }) }, { additionalProperties: false }),
      Type.Object({ kind: Type.Literal("b"), y: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
    ]),
    seeds: [{ kind: "a", x: 1 }, { kind: "a", x: 0.5 }, { kind: "b" }, { kind: "b", y: false }, { kind: "b", y: true }],
  },
  {
    name: "typebox transforms, Date",
    schema: Type.Object({
      big: Type.Transform(Type.String({ pattern: "^[0-9]+$" }))
        .Decode((s) => BigInt(s))
        .Encode((b) => b.toString()),
      when: Type.Optional(Type.Date()),
      upper: Type.Transform(Type.String({ maxLength: 4 }))
        .Decode((s) => s.toUpperCase())
        .Encode((s) => s.toLowerCase()),
    }),
    seeds: [{ big: "123", upper: "ab" }, { big: "0", upper: "" }],
  },
  {
    name: "typebox records, tuples, multipleOf",
    schema: Type.Object({
      scores: Type.Record(Type.String(), Type.Number({ multipleOf: 0.5 })),
      pair: Type.Tuple([Type.String(), Type.Number()]),
      quarter: Type.Number({ multipleOf: 0.25 }),
    }),
    seeds: [{ scores: { a: 1.5 }, pair: ["x", 1], quarter: 0.5 }, { scores: {}, pair: ["", 0], quarter: 1.25 }],
  },
  {
    name: "typebox formats and RegExp",
    schema: Type.Object({
      email: Type.String({ format: "email" }),
      code: Type.RegExp(/^ab[0-9]+$/i),
      id: Type.String({ pattern: "^[0-9a-f]{4}$" }),
    }),
    seeds: [{ email: "a@b.co", code: "AB1", id: "00ff" }],
  },
];

/** Every case, zod first. */
export const CASES: readonly Case[] = [
  ...zodCases.map((c) => ({ ...c, library: "zod" as const })),
  ...typeboxCases.map((c) => ({ ...c, library: "typebox" as const })),
];
