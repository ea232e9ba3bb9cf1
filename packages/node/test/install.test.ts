/**
 * The packages as users get them: `scripts/pack.mjs` packs `spikard` and its platform package
 * (`spikard-linux-x64-gnu`) with the addon built last (its debug info stripped), and a new project in an empty temporary
 * directory installs both tarballs (npm; only zod and typescript come from the registry). The
 * project is what `npm init -y` and `tsc --init` give, plus `"type": "module"` (the README's
 * top-level await needs ES modules, as docs/node.md says); the README example is compiled with
 * that tsc and run with node. A CommonJS file (`.cts`, types through the package's `require`
 * condition) then serves and answers through `require("spikard")`.
 */

import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { afterAll, beforeAll, expect, test } from "vitest";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const work = mkdtempSync(join(tmpdir(), "spikard-install-"));
const app = join(work, "app");

/** Runs a command; a failure is thrown with everything it printed (tsc reports on stdout). */
async function run(command: string, args: string[], cwd = app): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(command, args, { cwd, encoding: "utf8", timeout: 300_000 });
    return stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(" ")} failed in ${cwd}:\n${stdout ?? ""}${stderr ?? ""}`);
  }
}

const CJS_CHECK = `import spikard = require("spikard");
import testing = require("spikard/testing");

async function main(): Promise<void> {
  const app = new spikard.Spikard();
  app.websocket("/echo", (message: unknown) => ({ echoed: message }));
  const { url } = await app.listen({ host: "127.0.0.1", port: 0 });
  const client = await testing.TestClient.connect(\`\${url}/echo\`);
  client.sendJson({ from: "commonjs" });
  console.log(JSON.stringify(await client.receiveJson()));
  await client.close();
  await app.close();
}

void main();
`;

beforeAll(async () => {
  const packed = await run("node", [join(pkg, "scripts", "pack.mjs"), "--out", join(work, "tarballs"), "--strip-debug"], pkg);
  const tarballs = packed.trim().split("\n");
  expect(tarballs.map((t) => t.split("/").pop())).toEqual([
    expect.stringMatching(/^spikard-\d+\.\d+\.\d+\.tgz$/),
    expect.stringMatching(/^spikard-linux-x64-gnu-\d+\.\d+\.\d+\.tgz$/),
  ]);
  mkdirSync(app);
  await run("npm", ["init", "-y"]);
  const quiet = ["--no-audit", "--no-fund", "--prefer-offline"];
  await run("npm", ["install", ...quiet, ...tarballs, "zod"]);
  await run("npm", ["install", ...quiet, "--save-dev", "typescript"]);
  await run("npx", ["tsc", "--init"]);
  await run("npm", ["pkg", "set", "type=module"]);
  const readme = readFileSync(join(pkg, "..", "..", "README.md"), "utf8");
  const code = /## TypeScript \(Node\.js\)[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code, "README.md has a TypeScript example").toBeDefined();
  writeFileSync(join(app, "index.ts"), code ?? "");
  writeFileSync(join(app, "check.cts"), CJS_CHECK);
  await run("npx", ["tsc"]); // throws with tsc's diagnostics when either file does not compile
}, 300_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

test("the platform package is installed and holds the addon", () => {
  const installed = readdirSync(join(app, "node_modules"));
  expect(installed).toEqual(expect.arrayContaining(["spikard", "spikard-linux-x64-gnu", "ws", "zod"]));
  const platform = readdirSync(join(app, "node_modules", "spikard-linux-x64-gnu"));
  expect(platform).toContain("spikard.linux-x64-gnu.node");
  expect(readdirSync(join(app, "node_modules", "spikard"))).not.toContain("src");
  expect(readdirSync(join(app, "node_modules", "spikard", "native"))).toEqual(["binding.cjs", "binding.d.cts"]);
});

test("the README example, compiled with tsc --init's settings, runs", async () => {
  const printed = (await run("node", ["index.js"])).split("\n");
  expect(printed[0]).toBe("joined /chat");
  expect(printed[1]).toBe("{ echo: 'Hello', from: 'Alice', count: 1 }");
  expect(printed.join("\n")).toContain("code: 'validation_failed'");
  expect(printed).toContain("left with 1001");
});

test("require() loads the CommonJS build, typed through the require condition", async () => {
  expect((await run("node", ["check.cjs"])).trim()).toBe(JSON.stringify({ echoed: { from: "commonjs" } }));
  const resolved = (await run("node", ["-p", 'require.resolve("spikard")'])).trim();
  expect(resolved).toBe(join(app, "node_modules", "spikard", "dist", "cjs", "index.cjs"));
});
