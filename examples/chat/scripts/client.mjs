// The chat page's typed client: client.js (what the browser loads, no bundler) and client.d.ts
// (its types, what `tsc` checks chat.js against), generated from an AsyncAPI document
// (default: fixtures/asyncapi/chat.json, the document every language's chat example serves) by
// the spikard package's asyncapiTypeScript, then split by the TypeScript compiler.
//
//   node examples/chat/scripts/client.mjs            rewrite examples/chat/client.{js,d.ts}
//   node examples/chat/scripts/client.mjs --check    exit 1 if the committed files differ
//   node examples/chat/scripts/client.mjs --document doc.json --out dir    another document, another place
//
// Needs the spikard package built (`task node:build`).

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { argv, exit, stderr } from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { asyncapiTypeScript } from "spikard";
import ts from "typescript";

const page = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const OPTIONS = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ES2022,
  lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
  types: [],
  strict: true,
  declaration: true,
  newLine: ts.NewLineKind.LineFeed,
};

/** client.js and client.d.ts for `document`, keyed by file name; throws on a type error. */
function generate(document) {
  const source = join(page, "client.ts"); // never written: the compiler reads it from memory
  const text = asyncapiTypeScript(document);
  const host = ts.createCompilerHost(OPTIONS);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, version, ...rest) =>
    name === source ? ts.createSourceFile(name, text, version) : getSourceFile.call(host, name, version, ...rest);
  host.fileExists = (name) => name === source || fileExists.call(host, name);
  host.readFile = (name) => (name === source ? text : readFile.call(host, name));
  const program = ts.createProgram([source], OPTIONS, host);
  const problems = ts.getPreEmitDiagnostics(program);
  if (problems.length > 0) {
    throw new Error(ts.formatDiagnostics(problems, host));
  }
  // The generator's first line (what generated it, "Do not edit") heads both files: the
  // compiler keeps it in client.js only.
  const header = text.slice(0, text.indexOf("\n") + 1);
  const files = {};
  program.emit(undefined, (name, output) => {
    const body = output.startsWith(header) ? output.slice(header.length) : output;
    files[basename(name)] = `${header}// Compiled to client.js and client.d.ts by examples/chat/scripts/client.mjs.\n${body}`;
  });
  return files;
}

if (resolve(argv[1] ?? "") === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      check: { type: "boolean", default: false },
      document: { type: "string", default: join(page, "../../fixtures/asyncapi/chat.json") },
      out: { type: "string", default: page },
    },
  });
  const files = generate(JSON.parse(readFileSync(values.document, "utf8")));
  let stale = 0;
  for (const [name, text] of Object.entries(files)) {
    const path = join(values.out, name);
    if (values.check) {
      let committed = null;
      try {
        committed = readFileSync(path, "utf8");
      } catch {
        // missing: stale
      }
      if (committed !== text) {
        stderr.write(`${path} is not what ${values.document} generates: run node examples/chat/scripts/client.mjs\n`);
        stale += 1;
      }
    } else {
      mkdirSync(values.out, { recursive: true });
      writeFileSync(path, text);
    }
  }
  exit(stale === 0 ? 0 : 1);
}
