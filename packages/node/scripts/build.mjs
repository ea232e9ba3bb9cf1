// The package's JavaScript: the ES module build (dist) and the CommonJS build (dist/cjs), each
// with its declarations. The package is `"type": "module"`, so the CommonJS files are renamed to
// `.cjs` / `.d.cts` and their relative imports follow; a nested `package.json` marking dist/cjs
// as CommonJS would also hide the package's `"imports"` (`#native`, the addon's loader) from it.
// The native addon is built separately (bindings/node/scripts/build.mjs).
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cjs = join(root, "dist", "cjs");
rmSync(cjs, { recursive: true, force: true });
for (const config of ["tsconfig.build.json", "tsconfig.cjs.json"]) {
  const tsc = spawnSync("npx", ["tsc", "-p", config], { cwd: root, stdio: "inherit" });
  if (tsc.status !== 0) {
    process.exit(tsc.status ?? 1);
  }
}
const relative = /((?:require\(|from |import\()")(\.\.?\/[^"]+)\.js"/g;
for (const name of readdirSync(cjs)) {
  const renamed = name.replace(/\.d\.ts$/, ".d.cts").replace(/\.js$/, ".cjs");
  const text = readFileSync(join(cjs, name), "utf8").replace(relative, '$1$2.cjs"');
  writeFileSync(join(cjs, name), text);
  renameSync(join(cjs, name), join(cjs, renamed));
}
