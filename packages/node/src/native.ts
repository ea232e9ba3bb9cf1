/**
 * The native addon (`@spikard/native`, built from `bindings/node`), loaded once.
 *
 * @module
 */

import { createRequire } from "node:module";

import type * as Native from "@spikard/native";

const require = createRequire(import.meta.url);

/** The addon's exports. */
export const native: typeof Native = require("@spikard/native") as typeof Native;

export type {
  BoundAddress,
  JsBatch,
  JsJob,
  JsLog,
  NativeApp,
  NativeCapture,
  NativeConnection,
  RouteOptions,
} from "@spikard/native";
