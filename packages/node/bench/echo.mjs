// Echo throughput: spikard (Rust core + JS handler) against a plain `ws` server, same run.
// Each server runs in its own process; this process is the load generator: CONNECTIONS `ws`
// clients each keep WINDOW 20-byte JSON messages in flight for SECONDS after a warm-up.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import WebSocket from "ws";

const CONNECTIONS = Number(process.env.CONNECTIONS ?? 100);
const WINDOW = Number(process.env.WINDOW ?? 8);
const SECONDS = Number(process.env.SECONDS ?? 5);
const WARMUP_MS = 1000;
const MESSAGE = JSON.stringify({ text: "hello world 1234" }); // 20 bytes

async function startServer(kind) {
  const child = spawn(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), "server.mjs"), kind], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = await once(createInterface({ input: child.stdout }), "line");
  return { child, port: Number(line) };
}

async function load(port) {
  let received = 0;
  const sockets = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/echo`);
      return once(socket, "open").then(() => socket);
    }),
  );
  let running = true;
  for (const socket of sockets) {
    socket.on("message", () => {
      received += 1;
      if (running) socket.send(MESSAGE);
    });
    for (let i = 0; i < WINDOW; i++) socket.send(MESSAGE);
  }
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const start = received;
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const count = received - start;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  running = false;
  for (const socket of sockets) socket.terminate();
  return count / seconds;
}

const results = {};
for (const kind of ["ws", "spikard", "ws", "spikard"]) {
  const { child, port } = await startServer(kind);
  const rate = await load(port);
  child.kill("SIGTERM");
  await once(child, "exit");
  results[kind] = Math.max(results[kind] ?? 0, rate);
  console.log(`${kind.padEnd(8)} ${Math.round(rate).toLocaleString("en")} msg/s`);
}
console.log(
  `best of 2: spikard ${Math.round(results.spikard)} msg/s, ws ${Math.round(results.ws)} msg/s ` +
    `(${CONNECTIONS} connections, window ${WINDOW}, ${SECONDS}s)`,
);
