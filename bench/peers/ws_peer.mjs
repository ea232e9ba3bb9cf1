// Peer: Node `ws` (WebSocketServer), perMessageDeflate off (DEFLATE=1: on, ws's defaults).
// `/broadcast` is a room: every message goes to every other client in it, fanned out in JS the
// way the ws README does it; `/json` parses every text message and sends `JSON.stringify` of it
// back (what a JSON echo does); any other path echoes. Reads PORT (0 = any free port) and prints
// `READY <port>` once listening.
import { WebSocket, WebSocketServer } from "ws";

const server = new WebSocketServer({
  host: process.env.HOST ?? "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  perMessageDeflate: process.env.DEFLATE === "1",
  maxPayload: 2 ** 24,
});

/** The clients of `/broadcast`. */
const room = new Set();

server.on("connection", (socket, request) => {
  if (request.url === "/broadcast") {
    room.add(socket);
    socket.on("close", () => room.delete(socket));
    socket.on("message", (data, isBinary) => {
      for (const client of room) {
        if (client !== socket && client.readyState === WebSocket.OPEN) {
          client.send(data, { binary: isBinary });
        }
      }
    });
    return;
  }
  if (request.url === "/json") {
    socket.on("message", (data, isBinary) => {
      if (isBinary) socket.send(data, { binary: true });
      else socket.send(JSON.stringify(JSON.parse(data.toString())));
    });
    return;
  }
  socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
});

server.on("listening", () => {
  process.stdout.write(`READY ${server.address().port}\n`);
});

process.on("SIGTERM", () => server.close(() => process.exit(0)));
