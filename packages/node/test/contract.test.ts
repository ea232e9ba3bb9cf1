/**
 * The type contract, differentially: for every schema of `contract-schemas.ts` (zod 4 and
 * TypeBox), a few hundred generated messages (the valid seeds and near-valid mutations of them)
 * go over a real server to real `ws` clients, and each is checked against the library's own
 * verdict on `JSON.parse` of the same text:
 *
 * - zod: `schema.safeParse(value)`;
 * - TypeBox: `Value.Parse(["Clone", "Default", "Assert", "Decode"], schema, value)`.
 *
 * A message must reach the handler iff the library accepts it, and the handler must get exactly
 * the library's output (`util.isDeepStrictEqual`); a refused message must be answered with
 * `validation_failed` whose errors are JSON pointers and whose messages do not echo the input.
 * The exceptions (`EXCEPTIONS`, documented in docs/node.md) are counted apart.
 */

import { writeFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";

import { Value } from "@sinclair/typebox/value";
import { Spikard } from "spikard";
import { TestClient } from "spikard/testing";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { ZodType } from "zod";

import { CASES, type Case } from "./contract-schemas.js";

/** Messages per schema (seeds included). */
const PER_SCHEMA = 300;

/** A small deterministic PRNG (mulberry32), so a failure reproduces. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** JSON texts worth trying anywhere: edge values of every JSON type and common string shapes. */
const POOL = [
  '""', '" a "', '"A"', '"abc"', '"ABCDEF"', '"😀"', '"😀😀😀"', '"1"', '"-3"', '"1.5"', '"true"', '"yes"', '"off"',
  '"2024-01-01T00:00:00Z"', '"2024-01-01T00:00:00+01:00"', '"2024-02-30"', '"2024-13-01"', '"a@b.co"', '"no-at-sign"',
  '"3fa85f64-5717-4562-b3fc-2c963f66afa6"', '"3FA85F64-5717-4562-B3FC-2C963F66AFA6"', '"https://x.io"', '"#tag"',
  '"ab12"', '"AB12"', '"00ff"', '"123"', '"12345678901234567890"', '"circle"', '"rect"', '"dot"', '"red"',
  '"asc"', '"a,b,c"', '"1e3"', '" 12 "', '"a\\nb"',
  "0", "-0", "1", "-1", "2", "3", "4", "1.5", "0.3", "0.1", "19.99", "100", "101", "-5", "1e3", "1.0",
  "2147483648", "9007199254740991", "9007199254740993", "18446744073709551615", "1e21", "0.30000000000000004",
  "true", "false", "null", "[]", "{}", '["a"]', "[1,2]", '{"a":"x"}', '{"b":"y"}', '{"a":"x","b":"y"}',
];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every location in `value`, as paths of keys / indices (the root is `[]`). */
function locations(value: Json, path: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(path);
  if (Array.isArray(value)) {
    value.forEach((item, i) => locations(item, [...path, i], out));
  } else if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      locations(item, [...path, key], out);
    }
  }
  return out;
}

/** Set `holder[key]` as JSON.parse does: an own data property, even for `__proto__` (which an
 * assignment would take as the prototype). */
function own(holder: Record<string | number, Json>, key: string | number, value: Json): void {
  Object.defineProperty(holder, key, { value, enumerable: true, writable: true, configurable: true });
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

/** A variation of `value` at `path`: another value, a changed string or number, a key or item more or less. */
function mutate(rand: () => number, root: Json): Json {
  const copy = structuredClone(root);
  const path = pick(rand, locations(copy));
  const parentPath = path.slice(0, -1);
  let parent: Json = copy;
  for (const segment of parentPath) {
    parent = (parent as Record<string | number, Json>)[segment] as Json;
  }
  const key = path[path.length - 1];
  const current: Json = key === undefined ? copy : ((parent as Record<string | number, Json>)[key] as Json);
  const replace = (next: Json): Json => {
    if (key === undefined) {
      return next;
    }
    own(parent as Record<string | number, Json>, key, next);
    return copy;
  };
  const roll = rand();
  if (roll < 0.35) {
    return replace(JSON.parse(pick(rand, POOL)) as Json);
  }
  if (roll < 0.5 && key !== undefined && !Array.isArray(parent)) {
    delete (parent as Record<string, Json>)[key as string];
    return copy;
  }
  if (typeof current === "string") {
    const ops = [
      (s: string) => s.toUpperCase(),
      (s: string) => `  ${s} `,
      (s: string) => `${s}😀`,
      (s: string) => s.slice(1), // may leave half of a surrogate pair: see EXCEPTIONS
      (s: string) => `${s}${s}`,
      (s: string) => `${s}x`,
    ];
    return replace(pick(rand, ops)(current));
  }
  if (typeof current === "number") {
    const ops = [(n: number) => n + 1, (n: number) => n - 1, (n: number) => n * 10, (n: number) => n + 0.5, (n: number) => -n];
    return replace(pick(rand, ops)(current));
  }
  if (Array.isArray(current)) {
    if (current.length > 0 && rand() < 0.5) {
      current.splice(Math.floor(rand() * current.length), 1);
    } else {
      current.push(current.length > 0 ? structuredClone(pick(rand, current)) : (JSON.parse(pick(rand, POOL)) as Json));
    }
    return copy;
  }
  if (typeof current === "object" && current !== null) {
    own(current, pick(rand, ["extra", "a", "b", "kind", "tags", "x", "__proto__"]), JSON.parse(pick(rand, POOL)) as Json);
    return copy;
  }
  return replace(JSON.parse(pick(rand, POOL)) as Json);
}

/** The messages (JSON texts) of one case: its seeds, then mutations of 1-3 steps, no duplicates. */
function messagesOf(c: Case, seed: number): string[] {
  const rand = prng(seed);
  const texts = new Set(c.seeds.map((s) => JSON.stringify(s)));
  for (let attempt = 0; texts.size < PER_SCHEMA && attempt < PER_SCHEMA * 20; attempt++) {
    let value = JSON.parse(pick(rand, c.seeds.map((s) => JSON.stringify(s)))) as Json;
    const steps = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < steps; i++) {
      value = mutate(rand, value);
    }
    texts.add(JSON.stringify(value));
  }
  return [...texts];
}

/** The library's own verdict on a JSON text. */
function verdict(c: Case, text: string): { ok: true; value: unknown } | { ok: false } {
  const value: unknown = JSON.parse(text);
  if (c.library === "zod") {
    const result = (c.schema as ZodType).safeParse(value);
    return result.success ? { ok: true, value: result.data } : { ok: false };
  }
  try {
    return { ok: true, value: Value.Parse(["Clone", "Default", "Assert", "Decode"], c.schema as never, value) };
  } catch {
    return { ok: false };
  }
}

/**
 * Known, documented differences (docs/node.md, "The type contract"): message texts for which the
 * server's verdict may differ from the library's on `JSON.parse`.
 */
const EXCEPTIONS: readonly { readonly reason: string; readonly applies: (c: Case, text: string) => boolean }[] = [
  {
    // JSON.parse turns "\ude00" into a lone UTF-16 surrogate; the core requires valid Unicode and
    // answers invalid_json (before any schema), whatever the library would say.
    reason: "unpaired surrogate escape: invalid_json",
    applies: (_c, text) => /\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}/i.test(text),
  },  {
    // JSON.parse makes a `__proto__` key an own property, and so does the server; zod's records
    // skip the key, and TypeBox's Value.Clone (Value.Parse's first step) drops it or makes an
    // object value the prototype. The core checks it as the ordinary key it is in JSON, the
    // package's TypeBox pipeline does not clone, so the server may refuse what the library alone
    // accepts, and a delivered object keeps the key.
    reason: "__proto__ key: libraries skip or drop it, the server keeps it",
    applies: (_c, text) => text.includes('"__proto__":'),
  },
];

/** The string values of a JSON value (not keys: those are in the pointers), never to be echoed. */
function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") {
    out.push(value);
  } else if (typeof value === "object" && value !== null) {
    Object.values(value).forEach((v) => strings(v, out));
  }
  return out;
}

interface Tally {
  name: string;
  messages: number;
  delivered: number;
  refused: number;
  disagreements: string[];
  /** Disagreements an exception explains, by its reason. */
  excepted: Record<string, number>;
}

const app = new Spikard();
const received = new Map<number, unknown[]>();
let base = "";

for (const [i, c] of CASES.entries()) {
  received.set(i, []);
  app.websocket(
    `/case/${i}`,
    (message) => {
      received.get(i)?.push(message);
      return { delivered: true };
    },
    { messageSchema: c.schema as never },
  );
}

beforeAll(async () => {
  base = (await app.listen({ host: "127.0.0.1", port: 0 })).url;
});

afterAll(async () => {
  await app.close();
});

async function run(i: number, c: Case): Promise<Tally> {
  const tally: Tally = { name: c.name, messages: 0, delivered: 0, refused: 0, disagreements: [], excepted: {} };
  const client = await TestClient.connect(`${base}/case/${i}`);
  const inbox = received.get(i) ?? [];
  for (const text of messagesOf(c, 1000 + i)) {
    tally.messages++;
    client.sendText(text);
    const answer = (await client.receiveJson()) as { delivered?: boolean; code?: string; errors?: { path: string; message: string }[] };
    const expected = verdict(c, text);
    const got = answer.delivered === true ? inbox.shift() : undefined;
    let problem: string | undefined;
    if (answer.delivered === true) {
      tally.delivered++;
      if (!expected.ok) {
        problem = "delivered, the library refuses it";
      } else if (!isDeepStrictEqual(got, expected.value)) {
        problem = `delivered ${String(got)} instead of the library's output`;
      }
    } else {
      tally.refused++;
      if (expected.ok) {
        problem = `refused (${answer.code ?? "?"}), the library accepts it`;
      } else if (answer.code !== "validation_failed") {
        problem = `answered ${answer.code ?? JSON.stringify(answer)} instead of validation_failed`;
      } else {
        const inputs = strings(JSON.parse(text)).filter((s) => s.length >= 6);
        for (const error of answer.errors ?? []) {
          if (!/^(\/[^/]*)*$/.test(error.path)) {
            problem = `error path ${error.path} is not a JSON pointer`;
          } else if (inputs.some((s) => error.message.includes(s))) {
            problem = `error message ${error.message} echoes the input`;
          }
        }
      }
    }
    if (problem !== undefined) {
      const exception = EXCEPTIONS.find((e) => e.applies(c, text));
      if (exception !== undefined) {
        tally.excepted[exception.reason] = (tally.excepted[exception.reason] ?? 0) + 1;
      } else {
        tally.disagreements.push(`${text}: ${problem}`);
      }
    }
  }
  await client.close();
  return tally;
}

test(`delivered iff the library accepts, with its output (${CASES.length} schemas x ${PER_SCHEMA} messages)`, { timeout: 60_000 }, async () => {
  const tallies = await Promise.all(CASES.map((c, i) => run(i, c)));
  const lines = tallies.map(
    (t) => `${t.name}: ${t.messages} messages, ${t.delivered} delivered, ${t.refused} refused, ${t.disagreements.length} disagreements, excepted: ${JSON.stringify(t.excepted)}`,
  );
  console.log(`type contract, differential:\n  ${lines.join("\n  ")}`);
  if (process.env.CONTRACT_DUMP !== undefined) {
    writeFileSync(process.env.CONTRACT_DUMP, JSON.stringify(tallies, null, 1));
  }
  expect(CASES.length).toBeGreaterThanOrEqual(20);
  for (const c of CASES) {
    expect(c.seeds.filter((seed) => !verdict(c, JSON.stringify(seed)).ok), `invalid seeds of ${c.name}`).toEqual([]);
  }
  for (const t of tallies) {
    // Every case must exercise both sides of the rule.
    expect(t.delivered, t.name).toBeGreaterThan(10);
    expect(t.refused, t.name).toBeGreaterThan(10);
  }
  expect(tallies.flatMap((t) => t.disagreements.slice(0, 5).map((d) => `${t.name}: ${d}`))).toEqual([]);
});
