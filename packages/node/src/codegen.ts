/**
 * TypeScript from an AsyncAPI 3.0 document ({@link asyncapiTypeScript}): per channel the
 * messages a client sends, the messages it receives (replies, errors, topic messages) and its
 * path parameters, plus a small typed client over the standard `WebSocket` (browsers, Node.js 22).
 * The CLI prints it: `spikard-asyncapi app.js --types > chat-client.ts`.
 *
 * @module
 */

import type { AsyncApiDocument } from "./app.js";

type Schema = boolean | { readonly [keyword: string]: unknown };

/** The value a local `$ref` (`#/a/b`) points to in `document`. */
function resolve(document: unknown, ref: string): unknown {
  let node: unknown = document;
  for (const part of ref.replace(/^#\//, "").split("/")) {
    node = (node as Record<string, unknown> | undefined)?.[part.replaceAll("~1", "/").replaceAll("~0", "~")];
  }
  return node;
}

/** Follow `$ref`s until a value that is not one. */
function deref(document: unknown, value: unknown): unknown {
  let node = value;
  for (let hops = 0; hops < 32 && typeof node === "object" && node !== null && "$ref" in node; hops++) {
    node = resolve(document, String((node as { $ref: unknown }).$ref));
  }
  return node;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function key(name: string): string {
  return IDENTIFIER.test(name) ? name : JSON.stringify(name);
}

/** The TypeScript type of the values `schema` accepts, for the keywords that shape a type:
 * `type`, `properties` / `required` / `additionalProperties`, `items`, `const`, `enum`, `allOf`,
 * `anyOf` / `oneOf`, local `$ref`. Anything else widens to `unknown`. */
export function schemaType(document: unknown, schema: unknown, depth = 0): string {
  const node = deref(document, schema) as Schema | undefined;
  if (node === undefined || node === true || depth > 24) {
    return "unknown";
  }
  if (node === false) {
    return "never";
  }
  if ("const" in node) {
    return JSON.stringify(node.const);
  }
  if (Array.isArray(node.enum)) {
    return node.enum.map((v) => JSON.stringify(v)).join(" | ") || "never";
  }
  const parts: string[] = [];
  if (Array.isArray(node.allOf)) {
    parts.push(...node.allOf.map((s) => `(${schemaType(document, s, depth + 1)})`));
  }
  for (const keyword of ["anyOf", "oneOf"]) {
    const list = node[keyword];
    if (Array.isArray(list)) {
      parts.push(`(${list.map((s) => schemaType(document, s, depth + 1)).join(" | ")})`);
    }
  }
  const types = Array.isArray(node.type) ? (node.type as string[]) : typeof node.type === "string" ? [node.type] : [];
  const hasObjectShape = "properties" in node || "required" in node;
  const own = (types.length > 0 ? types : hasObjectShape ? ["object"] : []).map((type) => {
    switch (type) {
      case "string":
        return "string";
      case "integer":
      case "number":
        return "number";
      case "boolean":
        return "boolean";
      case "null":
        return "null";
      case "array":
        return `${"items" in node ? `(${schemaType(document, node.items, depth + 1)})` : "unknown"}[]`;
      case "object": {
        const properties = (node.properties ?? {}) as Record<string, unknown>;
        const required = new Set(Array.isArray(node.required) ? (node.required as string[]) : []);
        const fields = [...new Set([...Object.keys(properties), ...required])].map(
          (name) => `${key(name)}${required.has(name) ? "" : "?"}: ${schemaType(document, properties[name], depth + 1)}`,
        );
        if (node.additionalProperties !== false) {
          fields.push("[key: string]: unknown");
        }
        return `{ ${fields.join("; ")} }`;
      }
      default:
        return "unknown";
    }
  });
  if (own.length > 0) {
    parts.push(own.length === 1 ? (own[0] as string) : `(${own.join(" | ")})`);
  }
  return parts.length === 0 ? "unknown" : parts.join(" & ");
}

interface Operation {
  readonly action?: string;
  readonly channel?: unknown;
  readonly messages?: readonly unknown[];
  readonly reply?: { readonly messages?: readonly unknown[] };
}

/**
 * TypeScript source for `document` (an AsyncAPI 3.0 document, e.g. {@link Spikard.asyncapi}'s):
 * an interface `Channels` keyed by each channel's address, with `send` (what the client may
 * send), `receive` (what it may receive) and `params` (the address's parameters), an interface
 * `Messages` with each message's payload type by channel and message name, and a typed
 * client: `channelUrl(base, address, params, query?)`, `openChannel(...)` (the same arguments)
 * and `TypedSocket<address>` (`send`, `onMessage`, `close`). No runtime dependency; the generated
 * file type-checks with `strict`.
 */
export function asyncapiTypeScript(document: AsyncApiDocument): string {
  const channels = (document.channels ?? {}) as Record<string, { address?: string; parameters?: object }>;
  const operations = Object.values((document.operations ?? {}) as Record<string, Operation>);
  const lines: string[] = [];
  const info = (document.info ?? {}) as { title?: unknown; version?: unknown };
  lines.push(`// Generated by spikard-asyncapi --types from the AsyncAPI document ${JSON.stringify(info.title)} ${String(info.version)}. Do not edit.`);
  lines.push("", "/** What each channel's client sends and receives, by address. */", "export interface Channels {");
  for (const [name, channel] of Object.entries(channels)) {
    const mine = operations.filter((op) => (deref(document, op.channel) as unknown) === channel);
    const payload = (message: unknown): string =>
      schemaType(document, (deref(document, message) as { payload?: unknown } | undefined)?.payload);
    const union = (list: readonly unknown[]): string => [...new Set(list.map(payload))].join(" | ") || "never";
    const sent = mine.filter((op) => op.action === "receive").flatMap((op) => op.messages ?? []);
    const received = [
      ...mine.filter((op) => op.action === "receive").flatMap((op) => op.reply?.messages ?? []),
      ...mine.filter((op) => op.action === "send").flatMap((op) => op.messages ?? []),
    ];
    const params = Object.keys(channel.parameters ?? {}).map((p) => `${key(p)}: string`);
    lines.push(`  /** Channel \`${name}\`. */`);
    lines.push(`  ${JSON.stringify(channel.address ?? name)}: {`);
    lines.push(`    send: ${union(sent)};`);
    lines.push(`    receive: ${union(received)};`);
    lines.push(`    params: { ${params.join("; ")} };`);
    lines.push("  };");
  }
  lines.push("}", "");
  lines.push("/** Every message's payload type, by channel name and message name. */", "export interface Messages {");
  for (const [name, channel] of Object.entries(channels)) {
    lines.push(`  ${key(name)}: {`);
    const messages = Object.entries((channel as { messages?: Record<string, unknown> }).messages ?? {});
    for (const [message, value] of messages) {
      const payload = (deref(document, value) as { payload?: unknown } | undefined)?.payload;
      lines.push(`    ${key(message)}: ${schemaType(document, payload)};`);
    }
    lines.push("  };");
  }
  lines.push("}", "");
  lines.push(CLIENT);
  return `${lines.join("\n")}\n`;
}

const CLIENT = `/** The URL of the channel \`address\` on \`base\` (\`ws://host:port\`), its parameters filled in
 * and \`query\`, if given, as its query string. */
export function channelUrl<A extends keyof Channels>(
  base: string,
  address: A,
  params: Channels[A]["params"],
  query?: Record<string, string>,
): string {
  const filled = String(address).replace(/\\{(\\w+)\\}/g, (_, name: string) =>
    encodeURIComponent((params as Record<string, string>)[name] ?? ""),
  );
  const search = query === undefined ? "" : new URLSearchParams(query).toString();
  return base + filled + (search === "" ? "" : \`?\${search}\`);
}

/** Open the channel \`address\` (the arguments of \`channelUrl\`): its \`TypedSocket\`, the channel
 * inferred from \`address\` (so JavaScript checked by TypeScript gets it typed too). */
export function openChannel<A extends keyof Channels>(
  base: string,
  address: A,
  params: Channels[A]["params"],
  query?: Record<string, string>,
): TypedSocket<A> {
  return new TypedSocket<A>(channelUrl(base, address, params, query));
}

/** A WebSocket that only sends what the channel \`A\` accepts and types what it receives. */
export class TypedSocket<A extends keyof Channels> {
  /** The underlying socket. */
  readonly socket: WebSocket;

  constructor(url: string) {
    this.socket = new WebSocket(url);
  }

  /** Send one message as JSON. */
  send(message: Channels[A]["send"]): void {
    this.socket.send(JSON.stringify(message));
  }

  /** Call \`listener\` with each message received, parsed. */
  onMessage(listener: (message: Channels[A]["receive"]) => void): void {
    this.socket.addEventListener("message", (event) => {
      listener(JSON.parse(String(event.data)) as Channels[A]["receive"]);
    });
  }

  /** Close the socket. */
  close(code?: number, reason?: string): void {
    this.socket.close(code, reason);
  }
}`;
