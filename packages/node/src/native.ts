/**
 * The native addon (napi-rs, built from `bindings/node`), loaded once by the generated loader
 * `native/binding.cjs` (the package import `#native`): the `.node` file next to the loader in a
 * development build, otherwise the platform package (`spikard-linux-x64-gnu`, ...) that npm
 * installed as an optional dependency.
 *
 * @module
 */

import * as Native from "#native";

/** The addon's exports. */
export const native: typeof Native = Native;

export type {
  BoundAddress,
  JsBatch,
  JsJob,
  JsLog,
  NativeApp,
  NativeCapture,
  NativeConnection,
  RouteOptions,
} from "#native";
