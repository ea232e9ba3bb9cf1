/**
 * TypeBox's value and compiler modules for the CommonJS build (`require("spikard")`): required
 * (when installed) as the app's own CommonJS instances. The ES module build loads `typebox.ts`.
 *
 * @module
 */

/** The two TypeBox modules the type contract uses. */
export interface TypeBoxModules {
  value: typeof import("@sinclair/typebox/value");
  compiler: typeof import("@sinclair/typebox/compiler");
}

function load(): TypeBoxModules | undefined {
  try {
    return {
      value: require("@sinclair/typebox/value") as TypeBoxModules["value"],
      compiler: require("@sinclair/typebox/compiler") as TypeBoxModules["compiler"],
    };
  } catch {
    return undefined;
  }
}

/** The TypeBox modules, or `undefined` when `@sinclair/typebox` is not installed. */
export const typebox: TypeBoxModules | undefined = load();
