// Echo peer: Bun.serve's built-in WebSocket server, perMessageDeflate off (DEFLATE=1: on, and
// every send asks for compression: Bun's send() compresses only when told to). On
// `/json` every text message is parsed and `JSON.stringify` of it sent back (a JSON echo); any
// other path echoes. Reads PORT (0 = any free port) and prints `READY <port>` once listening.
const deflate = process.env.DEFLATE === "1";
const server = Bun.serve({
  hostname: process.env.HOST ?? "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  fetch(request, srv) {
    const json = new URL(request.url).pathname === "/json";
    if (srv.upgrade(request, { data: { json } })) return undefined;
    return new Response("websocket only", { status: 426 });
  },
  websocket: {
    perMessageDeflate: deflate,
    maxPayloadLength: 2 ** 24,
    message(socket, message) {
      if (socket.data.json && typeof message === "string") socket.send(JSON.stringify(JSON.parse(message)), deflate);
      else socket.send(message, deflate);
    },
  },
});

process.stdout.write(`READY ${server.port}\n`);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
