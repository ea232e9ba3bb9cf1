// One echo server for bench/echo.mjs: `node server.mjs spikard|ws`; prints its port, serves
// until SIGTERM.
import { WebSocketServer } from "ws";
import { Spikard } from "spikard";

const kind = process.argv[2];
if (kind === "spikard") {
  const app = new Spikard();
  app.websocket("/echo", (message) => message);
  const { port } = await app.listen({ host: "127.0.0.1", port: 0 });
  console.log(port);
  process.on("SIGTERM", () => void app.close());
} else if (kind === "ws") {
  // The plain `ws` baseline does the same work as the core: parse the JSON, serialise the reply.
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 }, () => console.log(server.address().port));
  server.on("connection", (socket) => {
    socket.on("message", (data, isBinary) => {
      if (!isBinary) {
        socket.send(JSON.stringify(JSON.parse(data.toString())));
      }
    });
  });
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
} else {
  throw new Error(`unknown server kind ${kind}`);
}
