/**
 * The type contract of zod 4 and TypeBox schemas: a message reaches the handler exactly when the
 * library's own parse accepts it, and the handler gets what that parse returns.
 *
 * The core checks a JSON Schema derived from the schema first (the fast filter, in Rust). That
 * derived schema is *loosened* (see {@link loosenNode} and the zod rules in {@link zodContract})
 * so that it never refuses a message the library accepts; the library then runs on every message
 * the core let through and has the last word. Raw JSON Schema has no library behind it: the
 * core's verdict is final and the handler gets the JSON as sent.
 *
 * | library | message (after the core's check)                                   | reply                         |
 * |---------|--------------------------------------------------------------------|-------------------------------|
 * | zod 4   | `schema["~standard"].validate` (= `safeParse`, async when needed)  | `schema.safeEncode`           |
 * | TypeBox | `Value.Default`, then the compiled `Check` and `Decode`: what      | the compiled `Encode`         |
 * |         | `Value.Parse(["Clone", "Default", "Assert", "Decode"], ...)` does  |                               |
 *
 * @module
 */

import type { FieldError } from "./errors.js";
import { type JsonSchema, type SchemaLike, toJsonSchema } from "./schema.js";
import { type TypeBoxModules, typebox } from "#typebox";

/** What parsing (or encoding) a value gave: the value to use, or every failing location. */
export type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly errors: FieldError[] };

/** A schema's part in handling one route direction (messages or replies). */
export interface Contract {
  /** The JSON Schema the core compiles and checks first. */
  readonly json: JsonSchema;
  /**
   * Runs after the core's check: for messages the library's parse (the handler gets `value`),
   * for replies its encode (`value` is what is sent). `undefined` for raw JSON Schema.
   */
  readonly run: ((value: unknown) => Outcome | Promise<Outcome>) | undefined;
}

/** At most this many failing locations leave JavaScript per message (the core bounds them again). */
const MAX_ERRORS = 64;

// ---------------------------------------------------------------------------------------------
// Loosening: the derived JSON Schema must never refuse what the library accepts.

type Node = Record<string, unknown>;

const JSON_TYPES = new Set(["null", "boolean", "object", "array", "number", "integer", "string"]);

function isNode(value: unknown): value is Node {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function clear(node: Node): void {
  for (const key of Object.keys(node)) {
    delete node[key];
  }
}

/**
 * The rules every zod- or TypeBox-derived node gets, because both libraries check strings and
 * numbers the JavaScript way:
 *
 * - `pattern` and `format` are dropped: the library matches JavaScript regular expressions over
 *   UTF-16 (flags such as `i` do not survive in `pattern`) and has its own format definitions.
 * - `minLength` becomes `ceil(n / 2)`: TypeBox counts UTF-16 code units, JSON Schema code
 *   points, and a code point is one or two units (`maxLength` is already looser in code points).
 *   zod 4.6 counts code points like the core; the rule holds for it too, so a zod release that
 *   counts units stays safe.
 * - `multipleOf` is dropped: zod accepts within a relative tolerance, TypeBox uses `%` on
 *   doubles, the core divides exactly; the library decides.
 * - `oneOf` becomes `anyOf`: loosened branches could overlap; the library decides exclusivity.
 * - a `type` JSON has no value for (TypeBox's `Date`, `bigint`, `Uint8Array`, ...) accepts
 *   anything here (the library refuses it after); TypeBox's `RegExp` is a string.
 * - contents (`contentEncoding`, `contentMediaType`) are dropped like formats.
 */
function loosenNode(node: Node): void {
  const type = node.type;
  if (typeof type === "string" && !JSON_TYPES.has(type)) {
    const regexp = type === "RegExp";
    clear(node);
    if (regexp) {
      node.type = "string";
    }
    return;
  }
  delete node.pattern;
  delete node.format;
  delete node.contentEncoding;
  delete node.contentMediaType;
  if (typeof node.minLength === "number") {
    node.minLength = Math.ceil(node.minLength / 2);
  }
  delete node.multipleOf;
  if (Array.isArray(node.oneOf)) {
    const branches = node.oneOf;
    delete node.oneOf;
    if (Array.isArray(node.anyOf)) {
      node.allOf = [...(Array.isArray(node.allOf) ? node.allOf : []), { anyOf: branches }];
    } else {
      node.anyOf = branches;
    }
  }
}

const SUBSCHEMA = [
  "additionalItems",
  "additionalProperties",
  "unevaluatedItems",
  "unevaluatedProperties",
  "contains",
  "propertyNames",
  "if",
  "then",
  "else",
  "items",
] as const;
const SUBSCHEMA_LISTS = ["allOf", "anyOf", "oneOf", "prefixItems", "items"] as const;
const SUBSCHEMA_MAPS = ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"] as const;

/**
 * Loosen every node of a TypeBox schema (a copy: the caller's schema is not touched): the
 * shared rules of {@link loosenNode}, and a property with a `default` is no longer required
 * (TypeBox's parse fills it in). `not` is left alone (loosening under it would tighten).
 * Tuples are rewritten from TypeBox's draft-07 form to 2020-12.
 */
function loosenTree(node: Node): void {
  if (Array.isArray(node.items)) {
    // TypeBox writes tuples the draft-07 way (`items: [...]`, `additionalItems`); the core
    // compiles 2020-12, where that is `prefixItems` and `items`.
    node.prefixItems = node.items;
    delete node.items;
    if ("additionalItems" in node) {
      node.items = node.additionalItems;
      delete node.additionalItems;
    }
  }
  for (const key of SUBSCHEMA) {
    const sub = node[key];
    if (isNode(sub)) {
      loosenTree(sub);
    }
  }
  for (const key of SUBSCHEMA_LISTS) {
    const list = node[key];
    if (Array.isArray(list)) {
      list.filter(isNode).forEach(loosenTree);
    }
  }
  for (const key of SUBSCHEMA_MAPS) {
    const map = node[key];
    if (isNode(map)) {
      Object.values(map).filter(isNode).forEach(loosenTree);
    }
  }
  const properties = node.properties;
  if (Array.isArray(node.required) && isNode(properties)) {
    node.required = node.required.filter((name) => {
      const property = typeof name === "string" ? properties[name] : undefined;
      return !(isNode(property) && "default" in property);
    });
  }
  loosenNode(node);
}

// ---------------------------------------------------------------------------------------------
// Error locations: JSON pointers and short messages of our own (library messages may embed the
// input, which must never reach the client).

function pointer(path: readonly PropertyKey[]): string {
  return path
    .map((segment) => {
      const text = typeof segment === "symbol" ? (segment.description ?? "") : String(segment);
      return `/${text.replaceAll("~", "~0").replaceAll("/", "~1")}`;
    })
    .join("");
}

/** Is the property at `path` of `input` absent (so the issue means "required")? */
function missing(input: unknown, path: readonly PropertyKey[]): boolean {
  let value = input;
  for (const [i, segment] of path.entries()) {
    if (typeof value !== "object" || value === null || typeof segment === "symbol") {
      return false;
    }
    const holder = value as Record<string | number, unknown>;
    if (!Object.hasOwn(holder, segment)) {
      return i === path.length - 1;
    }
    value = holder[segment];
  }
  return false;
}

interface ZodIssue {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly expected?: unknown;
  readonly origin?: unknown;
  readonly minimum?: unknown;
  readonly maximum?: unknown;
  readonly inclusive?: boolean;
  readonly format?: unknown;
  readonly divisor?: unknown;
  readonly keys?: readonly string[];
}

function bound(issue: ZodIssue, which: "minimum" | "maximum"): string {
  const limit = String(issue[which]);
  const op = which === "minimum" ? (issue.inclusive === false ? ">" : ">=") : issue.inclusive === false ? "<" : "<=";
  switch (issue.origin) {
    case "string":
      return `length must be ${op} ${limit}`;
    case "array":
    case "set":
      return `number of items must be ${op} ${limit}`;
    case "object":
      return `number of properties must be ${op} ${limit}`;
    default:
      return `value must be ${op} ${limit}`;
  }
}

/** A message that names the rule, never the value. */
function zodMessage(issue: ZodIssue, input: unknown): string {
  switch (issue.code) {
    case "invalid_type":
      return missing(input, issue.path) ? "required property is missing" : `expected ${String(issue.expected)}`;
    case "too_small":
      return bound(issue, "minimum");
    case "too_big":
      return bound(issue, "maximum");
    case "invalid_format":
      return `not a valid ${String(issue.format)}`;
    case "not_multiple_of":
      return `not a multiple of ${String(issue.divisor)}`;
    case "unrecognized_keys":
      return "additional property is not allowed";
    case "invalid_union":
      return "matches none of the allowed shapes";
    case "invalid_key":
      return "invalid key";
    case "invalid_element":
      return "invalid element";
    case "invalid_value":
      return "not one of the allowed values";
    default:
      return "failed a refinement";
  }
}

/** zod issues as failing locations: one per unrecognized key, one per other issue. */
function zodErrors(issues: readonly ZodIssue[], input: unknown): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of issues) {
    const message = zodMessage(issue, input);
    if (issue.code === "unrecognized_keys" && issue.keys !== undefined) {
      for (const key of issue.keys) {
        out.push({ path: pointer([...issue.path, key]), message, keyword: issue.code });
      }
    } else {
      out.push({ path: pointer(issue.path), message, keyword: issue.code });
    }
    if (out.length >= MAX_ERRORS) {
      break;
    }
  }
  return out.slice(0, MAX_ERRORS);
}

// ---------------------------------------------------------------------------------------------
// zod 4

interface ZodDef {
  readonly type: string;
  readonly coerce?: boolean;
  readonly in?: ZodInternal;
  readonly shape?: Record<string, ZodInternal>;
  readonly checks?: readonly { readonly _zod: { readonly def: { readonly check: string } } }[];
}

interface ZodInternal {
  readonly _zod: { readonly def: ZodDef; readonly optin?: string };
}

type StandardResult = { readonly value: unknown; readonly issues?: undefined } | { readonly issues: readonly ZodIssue[] };

interface ZodSchema extends ZodInternal {
  toJSONSchema(params: {
    io: "input" | "output";
    unrepresentable: "any";
    override: (ctx: { zodSchema: ZodInternal; jsonSchema: Node }) => void;
  }): Record<string, unknown>;
  readonly "~standard": { validate(value: unknown): StandardResult | Promise<StandardResult> };
  safeEncode?(value: unknown): { success: true; data: unknown } | { success: false; error: { issues: ZodIssue[] } };
}

function isZod(schema: object): schema is ZodSchema {
  return "_zod" in schema && typeof (schema as Partial<ZodSchema>).toJSONSchema === "function";
}

/** Nodes whose input side accepts any JSON value, whatever the JSON Schema of their output says. */
function acceptsAnything(def: ZodDef): boolean {
  return (
    def.coerce === true || // z.coerce.*: String()/Number()/Boolean()/BigInt()/new Date() of anything
    def.type === "catch" || // .catch(x): a failure becomes x
    (def.type === "pipe" && def.in?._zod.def.type === "transform") // z.preprocess(fn, schema)
  );
}

/**
 * zod's own `toJSONSchema` (`io: "input"`, unrepresentable types as `{}`), loosened node by node
 * in its `override` hook: the shared rules of {@link loosenNode}, plus
 *
 * - coercion, `.catch` and `z.preprocess` accept any JSON value (`{}`);
 * - a string or number with an overwrite step (`.trim()`, `.toLowerCase()`, `.overwrite(...)`)
 *   keeps only its `type`: the constraints apply to the overwritten value;
 * - an object property whose schema accepts a missing value (`.catch`, `z.preprocess`, besides
 *   the optional and defaulted ones zod already leaves out) is not required.
 */
function zodJson(schema: ZodSchema): JsonSchema {
  return schema.toJSONSchema({
    io: "input",
    unrepresentable: "any",
    override: ({ zodSchema, jsonSchema }) => {
      const def = zodSchema._zod.def;
      if (acceptsAnything(def)) {
        clear(jsonSchema);
        return;
      }
      if (def.checks?.some((check) => check._zod.def.check === "overwrite") === true) {
        const type = jsonSchema.type;
        clear(jsonSchema);
        if (type !== undefined) {
          jsonSchema.type = type;
        }
        return;
      }
      const shape = def.shape;
      if (def.type === "object" && shape !== undefined && Array.isArray(jsonSchema.required)) {
        jsonSchema.required = jsonSchema.required.filter(
          (name) => typeof name !== "string" || shape[name]?._zod.optin === undefined,
        );
      }
      loosenNode(jsonSchema);
    },
  });
}

function fromStandard(result: StandardResult, input: unknown): Outcome {
  return result.issues === undefined
    ? { ok: true, value: result.value }
    : { ok: false, errors: zodErrors(result.issues, input) };
}

function zodContract(schema: ZodSchema, io: "message" | "reply"): Contract {
  const json = zodJson(schema);
  if (io === "message") {
    const standard = schema["~standard"];
    return {
      json,
      run: (value) => {
        const result = standard.validate(value);
        return result instanceof Promise ? result.then((r) => fromStandard(r, value)) : fromStandard(result, value);
      },
    };
  }
  return {
    json,
    run: (value) => {
      if (schema.safeEncode === undefined) {
        return fromStandard(schema["~standard"].validate(value) as StandardResult, value);
      }
      const result = schema.safeEncode(value);
      return result.success ? { ok: true, value: result.data } : { ok: false, errors: zodErrors(result.error.issues, value) };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// TypeBox (loaded when installed: the same module instance as the app's, so formats and types
// registered in its FormatRegistry / TypeRegistry apply)

const KIND = Symbol.for("TypeBox.Kind");


function isTypeBox(schema: object): boolean {
  return KIND in schema;
}

function typeboxContract(schema: object, io: "message" | "reply"): Contract {
  if (typebox === undefined) {
    throw new TypeError("a TypeBox schema needs the @sinclair/typebox package, which could not be imported");
  }
  const { value: values, compiler } = typebox;
  type TSchema = Parameters<TypeBoxModules["value"]["Value"]["Check"]>[0];
  const typed = schema as TSchema;
  const json = JSON.parse(JSON.stringify(schema)) as Node;
  loosenTree(json);
  const checker = compiler.TypeCompiler.Compile(typed);
  const errorsOf = (value: unknown): FieldError[] => {
    const out: FieldError[] = [];
    for (const error of checker.Errors(value)) {
      out.push({ path: error.path, message: error.message, keyword: values.ValueErrorType[error.type] ?? "typebox" });
      if (out.length >= MAX_ERRORS) {
        break;
      }
    }
    return out;
  };
  if (io === "message") {
    return {
      json,
      run: (input) => {
        const value = values.Value.Default(typed, input);
        return checker.Check(value) ? { ok: true, value: checker.Decode(value) } : { ok: false, errors: errorsOf(value) };
      },
    };
  }
  return {
    json,
    run: (reply) => {
      let encoded: unknown;
      try {
        encoded = checker.Encode(reply);
      } catch {
        return { ok: false, errors: errorsOf(reply) };
      }
      return { ok: true, value: encoded };
    },
  };
}

/**
 * The contract of a route's `messageSchema` (`io: "message"`) or `responseSchema` (`"reply"`):
 * zod and TypeBox get a loosened JSON Schema plus their own parse / encode; any other schema is
 * converted by {@link toJsonSchema} and checked by the core alone.
 */
export function contractOf(schema: SchemaLike, io: "message" | "reply"): Contract {
  if (typeof schema === "object" && schema !== null) {
    if (isZod(schema)) {
      return zodContract(schema, io);
    }
    if (isTypeBox(schema)) {
      return typeboxContract(schema, io);
    }
  }
  return { json: toJsonSchema(schema, io === "message" ? "input" : "output"), run: undefined };
}
