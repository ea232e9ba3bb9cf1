/**
 * Schemas: raw JSON Schema, zod 4 and TypeBox, converted to the JSON Schema the Rust core
 * compiles, and the TypeScript types inferred from them.
 *
 * @module
 */

/** A JSON value, as messages and replies cross the socket. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A raw JSON Schema (any draft the core supports; 2020-12 unless `$schema` says otherwise). */
export type JsonSchema = boolean | { readonly [keyword: string]: unknown };

/**
 * A schema that converts itself to JSON Schema: zod 4 (`toJSONSchema`) or any library that
 * implements Standard JSON Schema (`~standard.jsonSchema`).
 */
export interface ConvertibleSchema {
  readonly "~standard": {
    readonly vendor: string;
    readonly types?: { readonly input: unknown; readonly output: unknown } | undefined;
    readonly jsonSchema?: {
      readonly input: (options: { readonly target: string }) => Record<string, unknown>;
      readonly output: (options: { readonly target: string }) => Record<string, unknown>;
    };
  };
}

/** Anything `messageSchema` and `responseSchema` accept. */
export type SchemaLike = JsonSchema | ConvertibleSchema;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type RequiredKeys<S> = S extends { readonly required: readonly (infer R)[] } ? R : never;

type FromObjectSchema<S> = S extends { readonly properties: infer P }
  ? Simplify<
      { -readonly [K in keyof P as K extends RequiredKeys<S> ? K : never]: FromJsonSchema<P[K]> } & {
        -readonly [K in keyof P as K extends RequiredKeys<S> ? never : K]?: FromJsonSchema<P[K]>;
      }
    >
  : { [key: string]: JsonValue };

type FromTypeName<T, S> = T extends "string"
  ? string
  : T extends "integer" | "number"
    ? number
    : T extends "boolean"
      ? boolean
      : T extends "null"
        ? null
        : T extends "object"
          ? FromObjectSchema<S>
          : T extends "array"
            ? S extends { readonly items: infer I }
              ? I extends readonly unknown[]
                ? JsonValue[]
                : FromJsonSchema<I>[]
              : JsonValue[]
            : JsonValue;

/**
 * The type of the values a raw JSON Schema written `as const` accepts: `type` (one or a list),
 * `properties` with `required`, `items`, `enum` and `const`. Anything else is `JsonValue`.
 */
export type FromJsonSchema<S> = S extends { readonly const: infer C }
  ? C
  : S extends { readonly enum: readonly (infer E)[] }
    ? E
    : S extends { readonly type: readonly (infer T)[] }
      ? FromTypeName<T, S>
      : S extends { readonly type: infer T }
        ? FromTypeName<T, S>
        : JsonValue;

/**
 * The type of the message a handler gets: zod's output type (what `safeParse` returns:
 * transformed, defaulted, coerced), TypeBox's `Static`, or the type of an `as const` JSON
 * Schema. Without a schema: any JSON value.
 */
export type Infer<S> = [S] extends [undefined]
  ? JsonValue
  : S extends { readonly "~standard": { readonly types?: infer T } }
    ? NonNullable<T> extends { readonly output: infer O }
      ? O
      : JsonValue
    : S extends { readonly static: infer T; readonly params: readonly unknown[] }
      ? T
      : FromJsonSchema<S>;

/** The reply type a response schema allows (zod's output type for zod schemas). */
export type InferReply<S> = [S] extends [undefined]
  ? unknown
  : S extends { readonly "~standard": { readonly types?: infer T } }
    ? NonNullable<T> extends { readonly output: infer O }
      ? O
      : unknown
    : S extends { readonly static: infer T; readonly params: readonly unknown[] }
      ? T
      : FromJsonSchema<S>;

interface ZodLike {
  toJSONSchema(params?: { io?: "input" | "output" }): Record<string, unknown>;
}

function isZod(schema: object): schema is ZodLike & ConvertibleSchema {
  return (
    "_zod" in schema &&
    typeof (schema as Partial<ZodLike>).toJSONSchema === "function"
  );
}

function isConvertible(schema: object): schema is ConvertibleSchema {
  const standard = (schema as Partial<ConvertibleSchema>)["~standard"];
  return typeof standard === "object" && standard !== null && typeof standard.jsonSchema === "object";
}

/**
 * The JSON Schema the core compiles for `schema`. zod 4 schemas go through zod's own
 * `toJSONSchema` (`io: "input"` for messages, so properties with defaults stay optional, `"output"`
 * for replies); other Standard JSON Schema libraries through `~standard.jsonSchema`; TypeBox and
 * raw JSON Schema are JSON Schema already.
 */
export function toJsonSchema(schema: SchemaLike, io: "input" | "output" = "input"): JsonSchema {
  if (typeof schema !== "object" || schema === null) {
    return schema;
  }
  if (isZod(schema)) {
    return schema.toJSONSchema({ io });
  }
  if (isConvertible(schema)) {
    const convert = schema["~standard"].jsonSchema;
    if (convert !== undefined) {
      return convert[io]({ target: "draft-2020-12" });
    }
  }
  return schema as JsonSchema;
}
