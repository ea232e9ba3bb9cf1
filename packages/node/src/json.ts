/**
 * JSON between the package and the core, as text. V8's `JSON.parse` and `JSON.stringify` build
 * and read JavaScript values far faster than the addon could with one native call per value, so
 * a message arrives as its JSON text and every value the package hands the core (a reply, a
 * push, a publish) leaves as text.
 *
 * @module
 */

/** The most arrays and objects a value handed to the core may nest: the core's own limit. */
export const MAX_DEPTH = 128;

/**
 * `value` as JSON text for the core. It is checked first, so that a value `JSON.stringify`
 * would silently change is refused instead: `undefined`, a function, a symbol or a `BigInt`
 * anywhere in it, or more than {@link MAX_DEPTH} arrays and objects deep (a cycle is), throws a
 * `TypeError`. An object with a `toJSON` method (a `Date`) is sent as `JSON.stringify` sends it.
 */
export function toJson(value: unknown): string {
  check(value, 0);
  const text = JSON.stringify(value) as string | undefined;
  if (text === undefined) {
    throw new TypeError("not a JSON value: its toJSON() returned nothing JSON can represent");
  }
  return text;
}

/** The value of JSON text the core made (a message, a recorded publish). */
export function fromJson(text: string): unknown {
  return JSON.parse(text);
}

function check(value: unknown, depth: number): void {
  switch (typeof value) {
    case "string":
    case "number":
    case "boolean":
      return;
    case "object":
      if (value === null) {
        return;
      }
      if (depth >= MAX_DEPTH) {
        throw new TypeError(
          `not a JSON value: a value nested more than ${MAX_DEPTH} arrays and objects deep (or cyclic) ` +
            "cannot be represented as JSON",
        );
      }
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          check(value[i], depth + 1);
        }
        return;
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === "function") {
        return;
      }
      for (const key of Object.keys(value)) {
        check((value as Record<string, unknown>)[key], depth + 1);
      }
      return;
    default:
      throw new TypeError(`not a JSON value: a value of type ${typeof value} cannot be represented as JSON`);
  }
}
