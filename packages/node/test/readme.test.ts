/** The first TypeScript example of the package README and of the repository README, extracted and run as is. */

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { expect, test, vi } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));

test.each([
  ["packages/node/README.md", "../README.md"],
  ["README.md", "../../../README.md"],
])("the %s example runs and prints what it says", async (name, path) => {
  const readme = readFileSync(join(here, path), "utf8");
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code, "README.md has a ```ts block").toBeDefined();
  const dir = join(here, ".generated");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `readme-example-${name.replaceAll("/", "-")}.ts`);
  writeFileSync(file, code ?? "");
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  try {
    await import(/* @vite-ignore */ file);
    const printed = log.mock.calls.map((args) => args);
    expect(printed).toEqual([
      ["joined", "/chat"],
      [{ echo: "Hello", from: "Alice", count: 1 }],
      [expect.objectContaining({ type: "error", code: "validation_failed" })],
      ["left with", 1001],
    ]);
  } finally {
    log.mockRestore();
  }
});
