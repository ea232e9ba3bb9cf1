// Echo peer: Bun.serve's built-in WebSocket server, perMessageDeflate off, any path.
// Reads PORT (0 = any free port) and prints `READY <port>` once listening.
const server = Bun.serve({
  hostname: process.env.HOST ?? "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  fetch(request, srv) {
    if (srv.upgrade(request)) return undefined;
    return new Response("websocket only", { status: 426 });
  },
  websocket: {
    perMessageDeflate: false,
    maxPayloadLength: 2 ** 24,
    message(socket, message) {
      socket.send(message);
    },
  },
});

process.stdout.write(`READY ${server.port}\n`);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
