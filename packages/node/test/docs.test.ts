/**
 * Every ```ts / ```js block of docs/node.md runs as written. Each block follows a
 * `<!-- test: NAME -->` marker and is a complete module: it is written to
 * `test/.generated/docs/NAME.ts`, type-checked with `tsc` (the package's strict settings), then
 * imported with `PORT=0`. A block that serves exports its `app`; the scenario of the same name
 * talks to it over loopback with real `ws` clients, then closes it. The `testing` block defines
 * vitest tests itself: it is imported while this file is collected, so they run as tests here.
 */

import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { Spikard } from "spikard";
import { TestClient, UpgradeRejected } from "spikard/testing";
import { describe, expect, test, vi } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const DOC = join(here, "../../../docs/node.md");
const OUT = join(here, ".generated/docs");
const MARKED = /<!-- test: ([\w-]+) -->\n```(ts|js)\n([\s\S]*?)```/g;
const FENCED = /```(\w*)\n[\s\S]*?```/g;

const text = readFileSync(DOC, "utf8");
const blocks = new Map([...text.matchAll(MARKED)].map((m) => [m[1] ?? "", { lang: m[2] ?? "ts", code: m[3] ?? "" }]));

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const files = new Map<string, string>();
for (const [name, block] of blocks) {
  const file = join(OUT, `${name}.${block.lang}`);
  writeFileSync(file, block.code);
  files.set(name, file);
}
writeFileSync(
  join(OUT, "tsconfig.json"),
  JSON.stringify({ extends: "../../../tsconfig.json", compilerOptions: { noEmit: true, rootDir: "." }, include: ["*.ts"] }),
);

/** What a served block's module exports. */
interface Served {
  app: Spikard;
}

/** The `ws://` base URL of a served block's app. */
function urlOf(mod: Served): string {
  const url = mod.app.address?.url;
  if (url === undefined) {
    throw new Error("the block's app is not listening");
  }
  return url;
}

async function exchange(client: TestClient, message: unknown): Promise<unknown> {
  client.sendJson(message);
  return client.receiveJson();
}

/** What the test does with each served block, by marker name. */
const SCENARIOS: Record<string, (mod: Served, log: unknown[][]) => Promise<void>> = {
  async functional(mod, log) {
    const url = urlOf(mod);
    const refused = await TestClient.connect(`${url}/rooms/lobby`).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(UpgradeRejected);
    expect((refused as UpgradeRejected).status).toBe(401);
    const client = await TestClient.connect(`${url}/rooms/lobby?token=secret`);
    expect(await exchange(client, { text: "hi" })).toEqual({ room: "lobby", echo: { text: "hi" }, seen: 1 });
    expect(await exchange(client, { text: "again" })).toMatchObject({ seen: 2 });
    expect(await exchange(client, {})).toMatchObject({ type: "error", code: "validation_failed" });
    client.sendBinary(Buffer.from([1, 2, 3]));
    expect(await client.receiveData()).toEqual({ type: "binary", data: Buffer.from([1, 2, 3]) });
    await client.close(1000);
    await vi.waitFor(() => expect(log).toContainEqual(["left", 1000]));
    expect(log[0]).toEqual([`listening on ${url}`]);
  },

  async rooms(mod) {
    const url = urlOf(mod);
    const ann = await TestClient.connect(`${url}/rooms/lobby?user=ann`);
    const bob = await TestClient.connect(`${url}/rooms/lobby?user=bob`);
    expect(await ann.receiveJson()).toEqual({ joined: "bob" });
    bob.sendJson({ text: "hi" });
    expect(await bob.receiveJson()).toEqual({ user: "bob", text: "hi" });
    expect(await ann.receiveJson()).toEqual({ user: "bob", text: "hi" });
    const announcer = await TestClient.connect(`${url}/announce`);
    expect(await exchange(announcer, { text: "news" })).toEqual({ delivered: 2 });
    expect(await ann.receiveJson()).toEqual({ announcement: "news" });
    expect(await bob.receiveJson()).toEqual({ announcement: "news" });
    expect(mod.app.topics()).toEqual(["lobby"]);
    await bob.close();
    expect(await ann.receiveJson()).toEqual({ left: "bob", members: 1 });
    await ann.close();
    await announcer.close();
  },

  async topics(mod) {
    const url = urlOf(mod);
    const reader = await TestClient.connect(`${url}/news/eu`);
    const writer = await TestClient.connect(`${url}/news/eu`);
    // The writer is subscribed too: its copy is queued before the handler's reply.
    expect(await exchange(writer, { headline: "Short" })).toEqual({ headline: "Short" });
    expect(await writer.receiveJson()).toEqual({ delivered: 2 });
    expect(await reader.receiveJson()).toEqual({ headline: "Short" });
    const long = { headline: "x".repeat(41) };
    expect(await exchange(writer, long)).toEqual({ refused: "news/eu", paths: ["/headline"] });
    expect(() => mod.app.publish("newsroom", long)).toThrow(/does not match the topic's schema/);
    // Nothing of the refused message reached the reader: the next thing it gets is this.
    expect(await exchange(writer, { headline: "Next" })).toEqual({ headline: "Next" });
    expect(await reader.receiveJson()).toEqual({ headline: "Next" });
    await reader.close();
    await writer.close();
  },

  async errors(mod) {
    const client = await TestClient.connect(`${urlOf(mod)}/orders`);
    const failed = (message: string): unknown => ({ type: "error", code: "handler_error", message, errors: [] });
    expect(await exchange(client, {})).toEqual(failed("an order needs an id"));
    expect(await exchange(client, { id: 0 })).toEqual(failed("internal error"));
    expect(await exchange(client, { id: 7 })).toEqual({ accepted: 7 });
    const { logged } = mod as Served & { logged: unknown[][] };
    expect(logged).toEqual([
      ["spikard: the handler of /orders threw", expect.objectContaining({ message: "stock database unreachable" })],
    ]);
    await client.close();
  },

  async compression(mod) {
    const url = urlOf(mod);
    const offering = await TestClient.connect(`${url}/feed`, { compression: true });
    expect(offering.extensions).toMatch(/^permessage-deflate/);
    expect(await exchange(offering, { n: 1 })).toEqual({ items: Array(100).fill({ n: 1 }) });
    const plain = await TestClient.connect(`${url}/feed`);
    expect(plain.extensions).toBe("");
    expect(await exchange(plain, { n: 2 })).toEqual({ items: Array(100).fill({ n: 2 }) });
    await offering.close();
    await plain.close();
  },

  async "raw-text"(mod) {
    const url = urlOf(mod);
    const echo = await TestClient.connect(`${url}/echo`);
    for (const text of ["hello, not JSON", '"quoted"', ""]) {
      echo.sendText(text);
      expect(await echo.receiveData()).toEqual({ type: "text", data: text });
    }
    const shout = await TestClient.connect(`${url}/shout`);
    shout.sendText('{"a": 1}');
    expect(await shout.receiveData()).toEqual({ type: "text", data: '{"A": 1}' });
    await echo.close();
    await shout.close();
    const both = () => new Spikard().websocket("/raw", (m) => m, { rawText: true, messageSchema: { type: "string" } });
    expect(both).toThrow(/raw-text route takes no message schema/);
  },

  async dispatch(mod) {
    const url = urlOf(mod);
    const chat = await TestClient.connect(`${url}/chat`);
    expect(await exchange(chat, { type: "join", user: "ann", id: 1 })).toEqual({ joined: "ann", id: 1 });
    expect(await exchange(chat, { type: "shout" })).toMatchObject({
      code: "validation_failed",
      errors: [{ path: "/type", message: 'value is not one of "join", "leave"' }],
    });
    expect(await exchange(chat, { type: "leave" })).toEqual({ left: true });
    const game = await TestClient.connect(`${url}/game`);
    expect(await exchange(game, { action: "move", to: "b2" })).toEqual({ moved: "b2" });
    const { document } = mod as Served & { document: { asyncapi: string; operations: object } };
    expect(document.asyncapi).toBe("3.0.0");
    expect(Object.keys(document.operations).sort()).toEqual(["chat.join", "chat.leave", "game.move"]);
    await chat.close();
    await game.close();
  },

  async decorators(mod, log) {
    const client = await TestClient.connect(`${urlOf(mod)}/chat`);
    expect(await exchange(client, { text: "Hello", user: "Alice" })).toEqual({ echo: "Hello", from: "Alice" });
    expect(await exchange(client, { text: "Hello" })).toMatchObject({ code: "validation_failed" });
    await client.close(1000);
    await vi.waitFor(() => expect(log).toContainEqual(["left", 1000]));
    expect(log[0]).toEqual(["joined", "/chat"]);
  },
};

/** Blocks that define vitest tests of their own, imported while this file is collected. */
const TEST_BLOCKS = ["testing"];

describe("docs/node.md", () => {
  test("every ts/js block has a <!-- test: NAME --> marker and is exercised", () => {
    const fenced = [...text.matchAll(FENCED)].filter((m) => m[1] === "ts" || m[1] === "js");
    expect(fenced.length).toBeGreaterThanOrEqual(5);
    expect(blocks.size, "a ts/js block lacks its marker (or two share one)").toBe(fenced.length);
    expect([...blocks.keys()].sort()).toEqual([...Object.keys(SCENARIOS), ...TEST_BLOCKS].sort());
  });

  test("every block type-checks (tsc, strict)", () => {
    const tsc = join(here, "../../../node_modules/.bin/tsc");
    const done = spawnSync(tsc, ["-p", join(OUT, "tsconfig.json")], { encoding: "utf8" });
    expect(done.stdout + done.stderr).toBe("");
    expect(done.status).toBe(0);
  }, 60_000);

  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    test(`the ${name} block serves on port 0 and answers`, async () => {
      const file = files.get(name);
      expect(file, `docs/node.md has no <!-- test: ${name} --> block`).toBeDefined();
      const log: unknown[][] = [];
      const spy = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
        log.push(args);
      });
      const before = process.env.PORT;
      process.env.PORT = "0";
      let mod: Served | undefined;
      try {
        mod = (await import(/* @vite-ignore */ file ?? "")) as Served;
        expect(mod.app, "a serving block exports its `app`").toBeInstanceOf(Spikard);
        expect(mod.app.address?.port).not.toBe(8000);
        await scenario(mod, log);
      } finally {
        await mod?.app.close();
        spy.mockRestore();
        if (before === undefined) {
          delete process.env.PORT;
        } else {
          process.env.PORT = before;
        }
      }
    });
  }

  describe("blocks with their own tests", async () => {
    for (const name of TEST_BLOCKS) {
      const file = files.get(name);
      if (file === undefined) {
        test(`the ${name} block exists`, () => {
          expect.fail(`docs/node.md has no <!-- test: ${name} --> block`);
        });
        continue;
      }
      await import(/* @vite-ignore */ file);
    }
  });
});
