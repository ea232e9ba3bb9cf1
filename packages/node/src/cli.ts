#!/usr/bin/env node
/**
 * `spikard-asyncapi <module> [--app NAME] [--title TITLE] [--version VERSION] [--types]`: import the
 * module (a path, relative to the working directory, or a package name), find the exported
 * Spikard app (the export `--app` names, else `app`, else the default export, else the only
 * export that is an app) and print its AsyncAPI document ({@link Spikard.asyncapi}) as JSON, or
 * with `--types` the TypeScript types and typed client generated from it
 * ({@link asyncapiTypeScript}). `<module>` may also be an AsyncAPI document (a `.json` file).
 *
 * The module must not start serving when imported (guard `app.run()` with a check that it is
 * the main module, as `examples/node/chat.js` does).
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { argv, exit, stderr, stdout } from "node:process";
import { pathToFileURL } from "node:url";

import type { AsyncApiDocument, AsyncApiInfo, Spikard } from "./app.js";
import { asyncapiTypeScript } from "./codegen.js";

const USAGE = "usage: spikard-asyncapi <module> [--app NAME] [--title TITLE] [--version VERSION] [--types]";

/** The command line, read. */
interface Args {
  readonly module: string;
  readonly app: string | undefined;
  readonly info: AsyncApiInfo;
  readonly types: boolean;
}

/** Read `args` (without `node` and the script), or throw with the usage. */
export function parseArgs(args: readonly string[]): Args {
  let module: string | undefined;
  let app: string | undefined;
  const info: AsyncApiInfo = {};
  let types = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const value = (): string => {
      const next = args[++i];
      if (next === undefined) {
        throw new Error(`${arg} needs a value\n${USAGE}`);
      }
      return next;
    };
    if (arg === "--app") {
      app = value();
    } else if (arg === "--title") {
      info.title = value();
    } else if (arg === "--version") {
      info.version = value();
    } else if (arg === "--types") {
      types = true;
    } else if (arg.startsWith("-") || module !== undefined) {
      throw new Error(`unexpected argument ${arg}\n${USAGE}`);
    } else {
      module = arg;
    }
  }
  if (module === undefined) {
    throw new Error(USAGE);
  }
  return { module, app, info, types };
}

function isApp(value: unknown): value is Pick<Spikard, "asyncapi"> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { asyncapi?: unknown }).asyncapi === "function" &&
    typeof (value as { listen?: unknown }).listen === "function"
  );
}

/** The app `module` exports, as `--app` or the defaults choose it. */
export function findApp(exports: Record<string, unknown>, name: string | undefined, module: string): Pick<Spikard, "asyncapi"> {
  if (name !== undefined) {
    const named = exports[name];
    if (!isApp(named)) {
      throw new Error(`${module} exports no Spikard app named ${name}`);
    }
    return named;
  }
  for (const candidate of [exports.app, exports.default]) {
    if (isApp(candidate)) {
      return candidate;
    }
  }
  const apps = Object.values(exports).filter(isApp);
  if (apps.length === 1 && apps[0] !== undefined) {
    return apps[0];
  }
  throw new Error(
    apps.length === 0
      ? `${module} exports no Spikard app (export it as \`app\`)`
      : `${module} exports several Spikard apps: name one with --app`,
  );
}

/** Print the document of the app `args` name; returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  let parsed: Args;
  try {
    parsed = parseArgs(args);
  } catch (err) {
    stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const path = resolve(parsed.module);
  const specifier = existsSync(path) ? pathToFileURL(path).href : parsed.module;
  try {
    let document: AsyncApiDocument;
    if (parsed.module.endsWith(".json")) {
      document = JSON.parse(readFileSync(path, "utf8")) as AsyncApiDocument;
    } else {
      const exports = (await import(specifier)) as Record<string, unknown>;
      document = findApp(exports, parsed.app, parsed.module).asyncapi(parsed.info);
    }
    stdout.write(parsed.types ? asyncapiTypeScript(document) : `${JSON.stringify(document, null, 2)}\n`);
    return 0;
  } catch (err) {
    stderr.write(`spikard-asyncapi: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

exit(await main(argv.slice(2)));
