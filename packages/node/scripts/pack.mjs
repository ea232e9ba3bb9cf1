// `npm pack` of the packages users install: `spikard` (the JavaScript, ESM and CommonJS, and the
// generated loader) and one `spikard-<platform>` package per napi target that holds the `.node`
// file (packages/node/npm/<platform>: its package.json, README and, copied here, the LICENSE).
// Run after the builds (`task node:pack` runs them): it packs the addon built last, whichever the
// profile. Usage: node scripts/pack.mjs [--out DIR] [--strip-debug]. DIR defaults to target/npm
// of the repository; `--strip-debug` runs `strip --strip-debug` on the packed copy of the addon
// (a debug build is ~110 MB, most of it DWARF; the tests pack one). Prints the tarballs' paths,
// one a line.
import { parseTriple } from "@napi-rs/cli";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const outIndex = args.indexOf("--out");
const out = resolve(outIndex >= 0 ? args[outIndex + 1] : join(root, "..", "..", "target", "npm"));
const stripDebug = args.includes("--strip-debug");
const main = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

function fail(message) {
  console.error(`pack: ${message}`);
  process.exit(1);
}

function npmPack(dir) {
  const packed = spawnSync("npm", ["pack", "--json", "--pack-destination", out], {
    cwd: dir,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (packed.status !== 0) {
    fail(`npm pack failed in ${dir}`);
  }
  return join(out, JSON.parse(packed.stdout)[0].filename);
}

for (const file of ["dist/index.js", "dist/cjs/index.cjs", "native/binding.cjs"]) {
  if (!existsSync(join(root, file))) {
    fail(`${file} is missing: build first (task node:build)`);
  }
}
mkdirSync(out, { recursive: true });
const tarballs = [];
for (const triple of main.napi.targets) {
  const platform = parseTriple(triple).platformArchABI;
  const source = join(root, "npm", platform);
  const manifest = JSON.parse(readFileSync(join(source, "package.json"), "utf8"));
  if (manifest.name !== `${main.name}-${platform}` || manifest.version !== main.version) {
    fail(`${source}/package.json must be ${main.name}-${platform}@${main.version}`);
  }
  if (main.optionalDependencies?.[manifest.name] !== main.version) {
    fail(`package.json must list ${manifest.name}: "${main.version}" in optionalDependencies`);
  }
  const addon = join(root, "native", manifest.main);
  if (!existsSync(addon)) {
    fail(`${addon} is missing: build the addon for ${triple} first`);
  }
  const stage = join(out, "stage", platform);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  for (const file of ["package.json", "README.md"]) {
    copyFileSync(join(source, file), join(stage, file));
  }
  copyFileSync(join(root, "LICENSE"), join(stage, "LICENSE"));
  copyFileSync(addon, join(stage, manifest.main));
  if (stripDebug && spawnSync("strip", ["--strip-debug", join(stage, manifest.main)], { stdio: "inherit" }).status !== 0) {
    fail("strip --strip-debug failed");
  }
  tarballs.push(npmPack(stage));
  rmSync(stage, { recursive: true, force: true });
}
tarballs.unshift(npmPack(root));
console.log(tarballs.join("\n"));
