// Build the addon with `napi build` into the `spikard` package (packages/node/native: the
// `.node` file, the generated loader `binding.cjs` and its types `binding.d.cts`, which the
// package imports as `#native`), and fail when the committed loader or types were stale (they are
// regenerated in place: review and commit them). The napi config (binary name, targets, the
// `spikard-<platform>` package names the loader falls back to) is packages/node/package.json's.
// Extra arguments go to napi, e.g. `--release`. `--check` only checks (used by lint);
// `--update` accepts the new files.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const out = join(repo, "packages", "node", "native");
const generated = ["binding.d.cts", "binding.cjs"];
const args = process.argv.slice(2);
const update = args.includes("--update");
const napiArgs = args.filter((a) => a !== "--update" && a !== "--check");

const read = (file) => (existsSync(join(out, file)) ? readFileSync(join(out, file), "utf8") : undefined);
const before = Object.fromEntries(generated.map((f) => [f, read(f)]));
const napi = spawnSync(
  "npx",
  [
    "napi",
    "build",
    "--platform",
    "--manifest-path",
    "bindings/node/Cargo.toml",
    "--package-json-path",
    "packages/node/package.json",
    "--output-dir",
    "packages/node/native",
    "--js",
    "binding.cjs",
    "--dts",
    "binding.d.cts",
    ...napiArgs,
  ],
  { cwd: repo, stdio: "inherit" },
);
if (napi.status !== 0) {
  process.exit(napi.status ?? 1);
}
const stale = generated.filter((f) => read(f) !== before[f]);
if (stale.length > 0 && !update) {
  console.error(
    `packages/node/native: ${stale.join(" and ")} did not match the Rust code and were regenerated; ` +
      "review and commit them (or run `node bindings/node/scripts/build.mjs --update`).",
  );
  process.exit(1);
}
console.log("packages/node/native: addon built; binding.d.cts and binding.cjs are up to date");
