/**
 * TC39 standard decorators (TypeScript 5 without `experimentalDecorators`) as sugar over
 * {@link Spikard.websocket} and {@link Spikard.dispatch}: `@websocket` marks a method as a route's
 * message handler, `@gateway(path)` makes a class a route that dispatches by message type with one
 * `@on(type)` method per type, `@onConnect` / `@onDisconnect` mark hooks, and
 * `app.register(instanceOrClass)` registers them.
 *
 * ```ts
 * class Chat {
 *   @websocket("/chat", { messageSchema: ChatMessage })
 *   message(message: { text: string; user: string }) {
 *     return { echo: message.text, from: message.user };
 *   }
 *
 *   @onConnect
 *   joined(ctx: WebSocketContext) {}
 * }
 * app.register(Chat);
 * ```
 *
 * The decorators only record what they mark (in module-level WeakMaps keyed by the method), so
 * they need neither `Symbol.metadata` nor instance initializers.
 *
 * @module
 */

import type { BranchOptions, DispatchOptions, Reply, WebSocketOptions } from "./app.js";
import type { CloseInfo, WebSocketContext } from "./context.js";
import type { Infer, SchemaLike } from "./schema.js";

/** Options of `@websocket`: those of `app.websocket` (hooks usually come as decorated methods). */
export type RouteDecoratorOptions<M, R, State extends object> = WebSocketOptions<M, R, State>;

interface MarkedRoute {
  readonly path: string;
  readonly options: CollectedRoute["options"];
}

interface MarkedHook {
  readonly kind: "connect" | "disconnect";
  readonly path: string | undefined;
}

type AnyMethod = (...args: never[]) => unknown;

const marked = new WeakMap<AnyMethod, MarkedRoute>();
const hooks = new WeakMap<AnyMethod, MarkedHook>();

function requireInstanceMethod(
  decorator: string,
  context: Pick<ClassMethodDecoratorContext, "kind" | "static" | "private" | "name">,
): void {
  if (context.kind !== "method" || context.static || context.private) {
    throw new TypeError(`@${decorator} decorates public instance methods only (${String(context.name)})`);
  }
}

/**
 * Make a method the message handler of a WebSocket route. The method gets `(message, ctx)` with
 * `this` bound to the registered instance; the message type is inferred from `messageSchema`.
 */
export function websocket<
  const M extends SchemaLike | undefined = undefined,
  const R extends SchemaLike | undefined = undefined,
  State extends object = Record<string, unknown>,
>(path: string, options: RouteDecoratorOptions<M, R, State> = {}) {
  return function decorate<This>(
    method: (this: This, message: Infer<M>, ctx: WebSocketContext<State>) => Reply<R> | Promise<Reply<R>>,
    context: ClassMethodDecoratorContext<This, typeof method>,
  ): void {
    requireInstanceMethod("websocket", context);
    marked.set(method as AnyMethod, { path, options: options as unknown as MarkedRoute["options"] });
  };
}

type HookMethod<This, Args extends unknown[]> = (this: This, ...args: Args) => void | Promise<void>;
type HookDecorator<Args extends unknown[]> = <This>(
  method: HookMethod<This, Args>,
  context: ClassMethodDecoratorContext<This, HookMethod<This, Args>>,
) => void;

function hookDecorator(kind: MarkedHook["kind"], path: string | undefined) {
  return (method: AnyMethod, context: ClassMethodDecoratorContext): void => {
    requireInstanceMethod(kind === "connect" ? "onConnect" : "onDisconnect", context);
    hooks.set(method, { kind, path });
  };
}

type ConnectArgs = [ctx: WebSocketContext<never>];
type DisconnectArgs = [ctx: WebSocketContext<never>, close: CloseInfo];

/**
 * Mark a method as `onConnect` hook: `@onConnect` applies to every route of the class,
 * `@onConnect("/chat")` to that route only. Throwing (e.g. a `Rejection`) refuses the
 * connection.
 */
export function onConnect<This>(
  method: HookMethod<This, ConnectArgs>,
  context: ClassMethodDecoratorContext<This, HookMethod<This, ConnectArgs>>,
): void;
export function onConnect(path: string): HookDecorator<ConnectArgs>;
export function onConnect(
  pathOrMethod: string | AnyMethod,
  context?: ClassMethodDecoratorContext,
): HookDecorator<ConnectArgs> | void {
  if (typeof pathOrMethod === "string") {
    return hookDecorator("connect", pathOrMethod) as HookDecorator<ConnectArgs>;
  }
  hookDecorator("connect", undefined)(pathOrMethod, context as ClassMethodDecoratorContext);
}

/**
 * Mark a method as `onDisconnect` hook (`(ctx, close)`): `@onDisconnect` applies to every route
 * of the class, `@onDisconnect("/chat")` to that route only. Runs once per accepted connection.
 */
export function onDisconnect<This>(
  method: HookMethod<This, DisconnectArgs>,
  context: ClassMethodDecoratorContext<This, HookMethod<This, DisconnectArgs>>,
): void;
export function onDisconnect(path: string): HookDecorator<DisconnectArgs>;
export function onDisconnect(
  pathOrMethod: string | AnyMethod,
  context?: ClassMethodDecoratorContext,
): HookDecorator<DisconnectArgs> | void {
  if (typeof pathOrMethod === "string") {
    return hookDecorator("disconnect", pathOrMethod) as HookDecorator<DisconnectArgs>;
  }
  hookDecorator("disconnect", undefined)(pathOrMethod, context as ClassMethodDecoratorContext);
}

/** A route found on a decorated instance, ready for `app.websocket` (or, for a `@gateway`
 * class, `app.dispatch`). */
export interface CollectedRoute {
  readonly path: string;
  readonly handler: (message: unknown, ctx: WebSocketContext<object>) => unknown;
  readonly options: WebSocketOptions<SchemaLike | undefined, SchemaLike | undefined, object>;
  /** The route's branches by message type, for a `@gateway` class's route. */
  readonly dispatch?: {
    readonly options: DispatchOptions<object>;
    readonly branches: readonly CollectedBranch[];
  };
}

/** One `@on` method of a `@gateway` class, bound to its instance. */
export interface CollectedBranch {
  readonly name: string;
  readonly handler: (message: unknown, ctx: WebSocketContext<object>) => unknown;
  readonly options: BranchOptions<SchemaLike | undefined, SchemaLike | undefined>;
}

interface MarkedBranch {
  readonly name: string;
  readonly options: CollectedBranch["options"];
}

interface MarkedGateway {
  readonly path: string;
  readonly options: DispatchOptions<object>;
}

const branches = new WeakMap<AnyMethod, MarkedBranch>();
const gateways = new WeakMap<abstract new (...args: never[]) => unknown, MarkedGateway>();

/**
 * Make a class a route that dispatches by message type (NestJS's `@WebSocketGateway`): each
 * `@on(type)` method handles one message type; `@onConnect` / `@onDisconnect` methods are the
 * route's hooks. `options` are those of `app.dispatch` (`discriminator`, `description`, hooks,
 * limits).
 *
 * ```ts
 * @gateway("/chat", { description: "A chat without rooms." })
 * class Chat {
 *   @on("join", { schema: Join, description: "Join the chat." })
 *   join(message: { user: string }) {
 *     return { joined: message.user };
 *   }
 * }
 * app.register(Chat);
 * ```
 */
export function gateway<State extends object = Record<string, unknown>>(
  path: string,
  options: DispatchOptions<State> = {},
) {
  return function decorate<C extends abstract new (...args: never[]) => unknown>(
    value: C,
    context: ClassDecoratorContext<C>,
  ): void {
    if (context.kind !== "class") {
      throw new TypeError("@gateway decorates classes only");
    }
    gateways.set(value, { path, options: options as DispatchOptions<object> });
  };
}

/**
 * Make a method of a `@gateway` class the handler of the messages whose discriminator is
 * `type`. The method gets `(message, ctx)` with `this` bound to the registered instance; the
 * message type is inferred from `options.schema`, the reply is checked against
 * `options.replySchema`, `options.description` describes the message in the AsyncAPI document.
 */
export function on<
  const M extends SchemaLike | undefined = undefined,
  const R extends SchemaLike | undefined = undefined,
  State extends object = Record<string, unknown>,
>(type: string, options: BranchOptions<M, R> = {}) {
  return function decorate<This>(
    method: (this: This, message: Infer<M>, ctx: WebSocketContext<State>) => Reply<R> | Promise<Reply<R>>,
    context: ClassMethodDecoratorContext<This, typeof method>,
  ): void {
    requireInstanceMethod("on", context);
    branches.set(method as AnyMethod, { name: type, options: options as unknown as MarkedBranch["options"] });
  };
}

/** The `@gateway` mark of `instance`'s class or of the nearest base class that has one. */
function gatewayOf(instance: object): MarkedGateway | undefined {
  for (let proto = Object.getPrototypeOf(instance) as object | null; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    const mark = gateways.get((proto as { constructor: abstract new (...args: never[]) => unknown }).constructor);
    if (mark !== undefined) {
      return mark;
    }
  }
  return undefined;
}

/** The methods of `instance`'s class chain (most derived first, overridden ones once). */
function methodsOf(instance: object): AnyMethod[] {
  const seen = new Set<string | symbol>();
  const methods: AnyMethod[] = [];
  for (let proto = Object.getPrototypeOf(instance) as object | null; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const key of Reflect.ownKeys(proto)) {
      if (key === "constructor" || seen.has(key)) {
        continue;
      }
      seen.add(key);
      const value = Object.getOwnPropertyDescriptor(proto, key)?.value as unknown;
      if (typeof value === "function") {
        methods.push(value as AnyMethod);
      }
    }
  }
  return methods;
}

/** The routes declared on `instance` with `@websocket`, with their decorated hooks bound. */
export function collectRoutes(instance: object): CollectedRoute[] {
  const methods = methodsOf(instance);
  const routes: { method: AnyMethod | undefined; path: string; options: CollectedRoute["options"] }[] = methods.flatMap((m) => {
    const route = marked.get(m);
    return route === undefined ? [] : [{ method: m, ...route }];
  });
  const gate = gatewayOf(instance);
  const found: CollectedBranch[] = [];
  for (const m of methods) {
    const branch = branches.get(m);
    if (branch !== undefined) {
      const method = m as unknown as (this: object, message: unknown, ctx: WebSocketContext<object>) => unknown;
      found.push({ ...branch, handler: (message, ctx) => method.call(instance, message, ctx) });
    }
  }
  if (gate === undefined && found.length > 0) {
    throw new TypeError(`${instance.constructor.name} has @on methods but is not a @gateway class`);
  }
  if (gate !== undefined) {
    if (found.length === 0) {
      throw new TypeError(`the @gateway class ${instance.constructor.name} has no @on method`);
    }
    routes.push({ method: undefined, path: gate.path, options: gate.options as CollectedRoute["options"] });
  }
  if (routes.length === 0) {
    throw new TypeError(`${instance.constructor.name} has no @websocket method to register`);
  }
  const paths = new Set(routes.map((r) => r.path));
  const hooked = methods.flatMap((m) => {
    const hook = hooks.get(m);
    return hook === undefined ? [] : [{ method: m, ...hook }];
  });
  for (const hook of hooked) {
    if (hook.path !== undefined && !paths.has(hook.path)) {
      throw new TypeError(`a hook of ${instance.constructor.name} names ${hook.path}, which is not one of its routes`);
    }
  }
  return routes.map((route) => {
    const mine = (kind: MarkedHook["kind"]) =>
      hooked.filter((h) => h.kind === kind && (h.path === undefined || h.path === route.path)).map((h) => h.method);
    const connects = mine("connect");
    const disconnects = mine("disconnect");
    const options: CollectedRoute["options"] = { ...route.options };
    if (connects.length > 0) {
      const own = options.onConnect;
      options.onConnect = async (ctx) => {
        await own?.(ctx);
        for (const hook of connects) {
          await (hook as (this: object, ctx: WebSocketContext<object>) => unknown).call(instance, ctx);
        }
      };
    }
    if (disconnects.length > 0) {
      const own = options.onDisconnect;
      options.onDisconnect = async (ctx, close) => {
        await own?.(ctx, close);
        for (const hook of disconnects) {
          await (hook as (this: object, ctx: WebSocketContext<object>, close: CloseInfo) => unknown).call(instance, ctx, close);
        }
      };
    }
    if (route.method === undefined) {
      // The gateway's route: its messages go to the branches.
      return { path: route.path, handler: () => undefined, options, dispatch: { options: options as DispatchOptions<object>, branches: found } };
    }
    const handler = route.method as (this: object, message: unknown, ctx: WebSocketContext<object>) => unknown;
    return {
      path: route.path,
      handler: (message, ctx) => handler.call(instance, message, ctx),
      options,
    };
  });
}
