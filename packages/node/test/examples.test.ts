/** The examples in examples/node, run as their own processes and driven by real `ws` clients. */

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { TestClient } from "spikard/testing";
import { afterEach, expect, test } from "vitest";

const examplesRoot = join(dirname(fileURLToPath(import.meta.url)), "../../../examples");
const examples = join(examplesRoot, "node");
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
    env: { ...process.env, PORT: "0", SPIKARD_PORT: "0" },
    stdio: ["ignore", "inherit", "pipe"],
  });
  child = proc;
  const lines = createInterface({ input: proc.stderr }); // the default logger's info: stderr
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

test("chat example: rooms with join, message and leave notices; /chat; graceful SIGTERM", async () => {
  const url = await start("chat.js");
  const alice = await TestClient.connect(`${url}/rooms/lobby?user=alice`);
  expect(await alice.receiveJson()).toEqual({ type: "join", user: "alice", room: "lobby", members: 1 });
  const bob = await TestClient.connect(`${url}/rooms/lobby?user=bob`);
  const bobJoined = { type: "join", user: "bob", room: "lobby", members: 2 };
  expect(await alice.receiveJson()).toEqual(bobJoined);
  expect(await bob.receiveJson()).toEqual(bobJoined);
  const anon = await TestClient.connect(`${url}/rooms/elsewhere`);
  expect(await anon.receiveJson()).toEqual({ type: "join", user: "anonymous", room: "elsewhere", members: 1 });

  alice.sendJson({ text: "hello" });
  const hello = { type: "message", user: "alice", room: "lobby", text: "hello" };
  expect(await alice.receiveJson()).toEqual(hello);
  expect(await bob.receiveJson()).toEqual(hello);
  bob.sendJson({ text: "" });
  expect(await bob.receiveJson()).toMatchObject({ type: "error", code: "validation_failed", errors: [{ path: "/text" }] });
  bob.sendJson({ text: "hi", user: "mallory" });
  expect(await bob.receiveJson()).toMatchObject({ type: "error", code: "validation_failed", errors: [{ path: "/user" }] });
  // The other room heard nothing of the lobby: its next frame is its own message.
  anon.sendJson({ text: "anyone?" });
  expect(await anon.receiveJson()).toEqual({ type: "message", user: "anonymous", room: "elsewhere", text: "anyone?" });

  await bob.close();
  expect(await alice.receiveJson()).toEqual({ type: "leave", user: "bob", room: "lobby", members: 1 });

  // /chat dispatches by message type, as examples/rust/chat.rs.
  const echo = await TestClient.connect(`${url}/chat`);
  echo.sendJson({ type: "join", user: "Alice", id: 1 });
  expect(await echo.receiveJson()).toEqual({ joined: "Alice", id: 1 });
  echo.sendJson({ type: "say", text: "Hello", user: "Alice" });
  expect(await echo.receiveJson()).toEqual({ echo: "Hello", from: "Alice" });
  echo.sendJson({ type: "say", text: "Hello" });
  expect(await echo.receiveJson()).toMatchObject({ type: "error", code: "validation_failed", errors: [{ path: "/user" }] });
  echo.sendJson({ type: "shout" });
  expect(await echo.receiveJson()).toMatchObject({
    code: "validation_failed",
    errors: [{ path: "/type", message: 'value is not one of "join", "say", "leave"' }],
  });
  echo.sendJson({ type: "leave", id: "bye" });
  expect(await echo.receiveJson()).toEqual({ left: true, id: "bye" });

  // The AsyncAPI document, over HTTP on the same port.
  const served = await fetch(`${url.replace("ws://", "http://")}/asyncapi.json`);
  expect(served.status).toBe(200);
  expect(await served.json()).toEqual(JSON.parse(readFileSync(join(examplesRoot, "../fixtures/asyncapi/chat.json"), "utf8")));

  // examples/chat/ is served over plain HTTP on the same port.
  const page = join(examplesRoot, "chat", "index.html");
  const response = await fetch(`${url.replace("ws://", "http://")}/index.html`);
  if (existsSync(page)) {
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(readFileSync(page, "utf8"));
  } else {
    expect(response.status).toBe(404);
  }

  const exited = once(child as ChildProcess, "exit");
  child?.kill("SIGTERM");
  expect(await alice.receiveData()).toMatchObject({ type: "close", code: 1001 });
  const [code] = (await exited) as [number | null];
  expect(code).toBe(0);
});
