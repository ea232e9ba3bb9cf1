/** The examples in examples/node, run as their own processes and driven by real `ws` clients. */

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { TestClient } from "spikard/testing";
import { afterEach, expect, test } from "vitest";

const examples = join(dirname(fileURLToPath(import.meta.url)), "../../../examples/node");
let child: ChildProcess | undefined;

afterEach(async () => {
  if (child !== undefined && child.exitCode === null) {
    child.kill("SIGKILL");
    await once(child, "exit");
  }
  child = undefined;
});

/** Start an example on a free port; resolves to its `ws://` base URL (read from its output). */
async function start(file: string): Promise<string> {
  const proc = spawn(process.execPath, [join(examples, file)], {
    env: { ...process.env, SPIKARD_PORT: "0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  child = proc;
  const lines = createInterface({ input: proc.stdout });
  for await (const line of lines) {
    const url = /listening on (ws:\/\/\S+)/.exec(line)?.[1];
    if (url !== undefined) {
      return url;
    }
  }
  throw new Error(`${file} exited without printing its address`);
}

test("echo example echoes", async () => {
  const url = await start("echo.js");
  const client = await TestClient.connect(`${url}/echo`);
  client.sendJson({ hello: ["world", 1] });
  expect(await client.receiveJson()).toEqual({ hello: ["world", 1] });
  await client.close();
});

test("chat example: join, broadcast, validation, leave, graceful SIGTERM", async () => {
  const url = await start("chat.js");
  // As in the Rust chat example: a join goes to the members already there.
  const alice = await TestClient.connect(`${url}/chat?user=alice`);
  const bob = await TestClient.connect(`${url}/chat?user=bob`);
  expect(await alice.receiveJson()).toEqual({ type: "join", user: "bob" });
  alice.sendJson({ text: "hello" });
  expect(await alice.receiveJson()).toEqual({ type: "message", user: "alice", text: "hello" });
  expect(await bob.receiveJson()).toEqual({ type: "message", user: "alice", text: "hello" });
  // The design document's browser snippet sends the user in the message.
  bob.sendJson({ text: "Hello", user: "Alice" });
  expect(await alice.receiveJson()).toEqual({ type: "message", user: "Alice", text: "Hello" });
  expect(await bob.receiveJson()).toEqual({ type: "message", user: "Alice", text: "Hello" });
  bob.sendJson({ text: "" });
  expect(await bob.receiveJson()).toMatchObject({ type: "error", code: "validation_failed", errors: [{ path: "/text" }] });
  await bob.close();
  expect(await alice.receiveJson()).toEqual({ type: "leave", user: "bob" });
  const exited = once(child as ChildProcess, "exit");
  child?.kill("SIGTERM");
  expect(await alice.receiveData()).toMatchObject({ type: "close", code: 1001 });
  const [code] = (await exited) as [number | null];
  expect(code).toBe(0);
});
