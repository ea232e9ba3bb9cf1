// Build the addon with `napi build` and fail when the committed `index.d.ts` / `index.js` were
// stale (they are regenerated in place: review and commit them). Extra arguments go to napi,
// e.g. `--release`. `--check` only checks (used by lint); `--update` accepts the new files.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const generated = ["index.d.ts", "index.js"];
const args = process.argv.slice(2);
const update = args.includes("--update");
const napiArgs = args.filter((a) => a !== "--update" && a !== "--check");

const read = (file) => (existsSync(join(root, file)) ? readFileSync(join(root, file), "utf8") : undefined);
const before = Object.fromEntries(generated.map((f) => [f, read(f)]));
const napi = spawnSync(
  "npx",
  ["napi", "build", "--platform", "--js", "index.js", "--dts", "index.d.ts", ...napiArgs],
  { cwd: root, stdio: "inherit" },
);
if (napi.status !== 0) {
  process.exit(napi.status ?? 1);
}
const stale = generated.filter((f) => read(f) !== before[f]);
if (stale.length > 0 && !update) {
  console.error(
    `bindings/node: ${stale.join(" and ")} did not match the Rust code and were regenerated; ` +
      "review and commit them (or run `node bindings/node/scripts/build.mjs --update`).",
  );
  process.exit(1);
}
console.log("bindings/node: addon built; index.d.ts and index.js are up to date");
