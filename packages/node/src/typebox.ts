/**
 * TypeBox's value and compiler modules for the ES module build: imported (when installed) as the
 * app's own ES module instances, so that formats and types registered in its FormatRegistry /
 * TypeRegistry apply. The CommonJS build loads `typebox-cjs.ts` instead (package.json
 * `imports`, `#typebox`).
 *
 * @module
 */

/** The two TypeBox modules the type contract uses. */
export interface TypeBoxModules {
  value: typeof import("@sinclair/typebox/value");
  compiler: typeof import("@sinclair/typebox/compiler");
}

let loaded: TypeBoxModules | undefined;
try {
  const [value, compiler] = await Promise.all([import("@sinclair/typebox/value"), import("@sinclair/typebox/compiler")]);
  loaded = { value, compiler };
} catch {
  loaded = undefined;
}

/** The TypeBox modules, or `undefined` when `@sinclair/typebox` is not installed. */
export const typebox: TypeBoxModules | undefined = loaded;
