/** The handshake limits and bounded shutdown, set from TypeScript (the shared fixtures pin the
 * connection limit and the origin allowlist; these need raw sockets or timing). */

import { connect, type Socket } from "node:net";
import { Spikard, SpikardError } from "spikard";
import { TestServer, UpgradeRejected } from "spikard/testing";
import { afterEach, expect, test } from "vitest";

let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

function echoApp(options: ConstructorParameters<typeof Spikard>[0] = {}): Spikard {
  return new Spikard(options).websocket("/echo", (message) => message);
}

/** Open a raw socket to the server, send `bytes`, resolve with the milliseconds until the
 * server closed it (reject after `limitMs`). */
function closedAfter(port: number, bytes: string, limitMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket: Socket = connect(port, "127.0.0.1", () => socket.write(bytes));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the socket open for ${limitMs} ms`));
    }, limitMs);
    socket.on("data", () => {});
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

test("a silent or half-sent handshake is closed at handshakeTimeoutMs", async () => {
  server = await TestServer.start(echoApp({ handshakeTimeoutMs: 300 }));
  const port = Number(new URL(server.baseUrl).port);
  for (const sent of ["", "GET", "GET /echo HTTP/1.1\r\nHost: x\r\n"]) {
    expect(await closedAfter(port, sent, 3000)).toBeGreaterThanOrEqual(250);
  }
  const client = await server.connect("/echo");
  await client.sendJson("ok");
  expect(await client.receiveJson()).toBe("ok");
});

test("a half-sent request does not hold up shutdown", async () => {
  const running = await TestServer.start(echoApp());
  const port = Number(new URL(running.baseUrl).port);
  const half = closedAfter(port, "GET /echo HTTP/1.1\r\nHost: x\r\n", 8000);
  const client = await running.connect("/echo");
  await client.sendJson(1);
  expect(await client.receiveJson()).toBe(1); // accepted in order: the half-sent one is held too
  const started = Date.now();
  await running.close();
  expect(Date.now() - started).toBeLessThan(4000);
  await half;
});

test("one header over maxHeaderSize is refused with 431", async () => {
  server = await TestServer.start(echoApp({ maxHeaderSize: 1024 }));
  const refused = await server.connect("/echo", { headers: { "x-big": "a".repeat(2000) } }).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(refused).toBeInstanceOf(UpgradeRejected);
  expect((refused as UpgradeRejected).status).toBe(431);
});

test("out-of-range handshake options are refused with invalid_config", () => {
  for (const options of [
    { handshakeTimeoutMs: 0 },
    { maxRequestHead: 100 },
    { maxHeaderSize: 100 },
    { maxConnections: 0 },
    { allowedOrigins: [] },
    { allowedOrigins: ["chat.example.com"] },
  ]) {
    expect(() => echoApp(options), JSON.stringify(options)).toThrow();
  }
  const refused = (() => {
    try {
      echoApp({ maxConnections: 0 });
      return undefined;
    } catch (err) {
      return err;
    }
  })();
  expect(refused).toBeInstanceOf(SpikardError);
  expect((refused as SpikardError).code).toBe("invalid_config");
});

/** The first bytes the server answers a raw upgrade request carrying `key` with. */
function answerTo(port: number, key: string): Promise<string> {
  const request =
    "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, "127.0.0.1", () => socket.write(request));
    socket.once("data", (data: Buffer) => {
      socket.destroy();
      resolve(data.toString("latin1"));
    });
    socket.on("error", reject);
  });
}

test("the Sec-WebSocket-Key must be 16 bytes of base64", async () => {
  server = await TestServer.start(echoApp());
  const port = Number(new URL(server.baseUrl).port);
  expect(await answerTo(port, "short")).toMatch(/^HTTP\/1\.1 400 /);
  expect(await answerTo(port, "dGhlIHNhbXBsZSBub25jZQ==")).toMatch(/^HTTP\/1\.1 101 /);
});
