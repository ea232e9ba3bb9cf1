/**
 * The browser chat page (examples/chat/chat.js) is JavaScript type-checked against the client
 * generated from the chat examples' AsyncAPI document (examples/chat/client.js and client.d.ts,
 * from fixtures/asyncapi/chat.json by examples/chat/scripts/client.mjs). node:lint runs `tsc -p
 * examples/chat`; this file checks that the committed client is current and that a protocol
 * change the page does not follow makes that `tsc` fail.
 */

import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { describe, expect, test } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const page = join(root, "examples/chat");
const script = join(page, "scripts/client.mjs");
const tsc = join(root, "node_modules/.bin/tsc");

describe("the chat page's typed client", () => {
  test("the committed client.js and client.d.ts are what fixtures/asyncapi/chat.json generates", () => {
    const run = spawnSync(process.execPath, [script, "--check"], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
  }, 60_000);

  test("a protocol change the page does not follow fails its type check", () => {
    // The page and its tsconfig beside a client generated from a changed document: members now
    // send and receive `body` instead of `text`.
    const dir = join(root, "packages/node/test/.generated/chat-page");
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const file of ["chat.js", "tsconfig.json"]) {
      copyFileSync(join(page, file), join(dir, file));
    }
    const renamed = readFileSync(join(root, "fixtures/asyncapi/chat.json"), "utf8").replaceAll('"text"', '"body"');
    writeFileSync(join(dir, "changed.json"), renamed);
    const generated = spawnSync(process.execPath, [script, "--document", join(dir, "changed.json"), "--out", dir], {
      encoding: "utf8",
    });
    expect(generated.stderr).toBe("");
    expect(generated.status).toBe(0);

    const checked = spawnSync(tsc, ["-p", dir], { encoding: "utf8" });
    const output = checked.stdout + checked.stderr;
    expect(checked.status).not.toBe(0);
    // What the page receives (a member's message) and what it sends.
    expect(output).toMatch(/chat\.js\(\d+,\d+\): error TS2339: Property 'text' does not exist on type '\{ type: "message"; .*body: string; \}'/);
    expect(output).toMatch(/chat\.js\(\d+,\d+\): error TS2353: Object literal may only specify known properties, and 'text' does not exist in type '\{ body: string; \}'/);
  }, 60_000);
});
