// The chat page in a real browser (Debian's Chromium driven by playwright-core) against each
// language's chat example: two people in one room see each other, the server's validation
// errors show inline, join and leave notices arrive, and the page reconnects after the server
// restarts. Screenshots go to test-output/browser/.
//
// SPIKARD_CHAT_SERVERS lists the servers to test (comma separated, default "rust"); a listed
// server that cannot start fails the test.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const output = join(repo, "test-output", "browser");

/** How each language's chat example is started (port from PORT, prints its address). */
const SERVERS = {
  rust: [join(repo, "target/debug/examples/chat")],
  node: ["node", join(repo, "examples/node/chat.js")],
  python: ["python3", join(repo, "examples/python/chat.py")],
  ruby: ["ruby", "-I", join(repo, "packages/ruby/lib"), join(repo, "examples/ruby/chat.rb")],
};

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Start a chat server and resolve once it printed its address. */
function startServer(name, port) {
  const [command, ...args] = SERVERS[name];
  const child = spawn(command, args, {
    cwd: repo,
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let seen = "";
  const ready = new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} chat did not start:\n${seen}`)), 60_000);
    const onData = (chunk) => {
      seen += chunk;
      const match = /127\.0\.0\.1:(\d+)/.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolvePort(Number(match[1]));
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} chat exited with ${code}:\n${seen}`));
    });
  });
  return { child, ready };
}

async function stopServer(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

async function joinRoom(page, url, user, room) {
  await page.goto(url);
  await page.getByTestId("name").fill(user);
  await page.getByTestId("room").fill(room);
  await page.getByTestId("join").click();
  await waitForText(page, "status", "online");
}

async function say(page, text) {
  await page.getByTestId("text").fill(text);
  await page.getByTestId("send").click();
}

/** Wait until the element's text equals (or, for the log, contains) `text`. */
async function waitForText(page, testId, text, { contains = false } = {}) {
  await page.waitForFunction(
    ([id, want, partial]) => {
      const el = document.querySelector(`[data-testid="${id}"]`);
      if (!el) return false;
      return partial ? el.textContent.includes(want) : el.textContent === want;
    },
    [testId, text, contains],
    { timeout: 10_000 },
  );
}

const selected = (process.env.SPIKARD_CHAT_SERVERS || "rust").split(",").map((s) => s.trim()).filter(Boolean);

for (const name of selected) {
  test(`chat page against the ${name} chat example`, async (t) => {
    assert.ok(SERVERS[name], `unknown server ${name}`);
    mkdirSync(output, { recursive: true });
    let server = startServer(name, 0);
    const port = await server.ready;
    const url = `http://127.0.0.1:${port}/`;
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
    t.after(async () => {
      await browser.close();
      await stopServer(server.child);
    });
    const alice = await browser.newPage();
    const bob = await browser.newPage();

    await joinRoom(alice, url, "alice", "lobby");
    await waitForText(alice, "log", "alice joined (1 here)", { contains: true });
    await joinRoom(bob, url, "bob", "lobby");
    await waitForText(alice, "log", "bob joined (2 here)", { contains: true });

    await say(alice, "hello bob");
    await waitForText(bob, "log", "alicehello bob", { contains: true });
    await say(bob, "hi alice");
    await waitForText(alice, "log", "bobhi alice", { contains: true });

    // The server's validation errors show inline: an empty and an overlong message.
    await say(bob, "");
    await bob.waitForSelector('[data-testid="error"][data-code="validation_failed"]:not([hidden])');
    assert.match(await bob.getByTestId("error").textContent(), /\/text/);
    await say(alice, "x".repeat(501));
    await alice.waitForSelector('[data-testid="error"][data-code="validation_failed"]:not([hidden])');
    assert.doesNotMatch(await bob.getByTestId("log").textContent(), /xxxxx/);

    await alice.screenshot({ path: join(output, `${name}-alice.png`), fullPage: true });
    await bob.screenshot({ path: join(output, `${name}-bob.png`), fullPage: true });

    await bob.close();
    await waitForText(alice, "log", "bob left (1 here)", { contains: true });

    // The server restarts on the same port: the page reconnects by itself.
    await stopServer(server.child);
    await waitForText(alice, "status", "offline");
    server = startServer(name, port);
    await server.ready;
    await waitForText(alice, "status", "online");
    await say(alice, "back again");
    await waitForText(alice, "log", "aliceback again", { contains: true });
    await alice.screenshot({ path: join(output, `${name}-reconnected.png`), fullPage: true });
  });
}
