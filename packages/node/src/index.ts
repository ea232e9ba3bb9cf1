/**
 * Spikard for Node.js: WebSocket routes with JSON Schema validation, served by a Rust core.
 *
 * ```ts
 * import { Spikard } from "spikard";
 *
 * const app = new Spikard();
 * app.websocket("/echo", (message) => message);
 * const address = await app.listen({ host: "127.0.0.1", port: 8000 });
 * ```
 *
 * @module
 */

export {
  type Address,
  type AsyncApiDocument,
  type AsyncApiInfo,
  type BinaryHandler,
  type BranchHandler,
  type BranchOptions,
  type CompressionOptions,
  type ConnectHook,
  type DisconnectHook,
  type DispatchOptions,
  DispatchRoute,
  type ListenOptions,
  type MessageHandler,
  PublishCapture,
  type RawTextHandler,
  type RawTextOptions,
  type Reply,
  Spikard,
  type SpikardOptions,
  type WebSocketOptions,
} from "./app.js";
export { asyncapiTypeScript } from "./codegen.js";
export { type CloseInfo, WebSocketContext } from "./context.js";
export {
  type CollectedBranch,
  type CollectedRoute,
  type RouteDecoratorOptions,
  gateway,
  on,
  onConnect,
  onDisconnect,
  websocket,
} from "./decorators.js";
export {
  ConnectionClosedError,
  type FieldError,
  HandlerError,
  InvalidCloseError,
  InvalidStateError,
  PublishError,
  QueueFullError,
  Rejection,
  SpikardError,
} from "./errors.js";
export { type Logger, stderrLogger } from "./logger.js";
export {
  type ConvertibleSchema,
  type FromJsonSchema,
  type Infer,
  type InferReply,
  type JsonSchema,
  type JsonValue,
  type SchemaLike,
  toJsonSchema,
} from "./schema.js";
