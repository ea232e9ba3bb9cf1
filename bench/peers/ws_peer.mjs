// Echo peer: Node `ws` (WebSocketServer), perMessageDeflate off, any path.
// Reads PORT (0 = any free port) and prints `READY <port>` once listening.
import { WebSocketServer } from "ws";

const server = new WebSocketServer({
  host: process.env.HOST ?? "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  perMessageDeflate: false,
  maxPayload: 2 ** 24,
});

server.on("connection", (socket) => {
  socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
});

server.on("listening", () => {
  process.stdout.write(`READY ${server.address().port}\n`);
});

process.on("SIGTERM", () => server.close(() => process.exit(0)));
