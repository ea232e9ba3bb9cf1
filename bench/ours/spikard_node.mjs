// Spikard Node benchmark server: `/echo` (no schema, binary echoed too), `/raw` (raw text), the
// validated `/chat`
// (schema bench/chat_schema.json, checked in the Rust core; replies {"echo": text, "from": user})
// and the `/broadcast` room (joined on connect; every message is published to everyone else in it,
// one call into JS per message, the core fans out). SPIKARD_BENCH_COMPRESSION=1: permessage-deflate on.
// Reads PORT (0 = any free port), prints `READY <port>` once bound, serves until SIGTERM.
import { readFileSync } from "node:fs";
import { Spikard } from "spikard";

const schema = JSON.parse(readFileSync(new URL("../chat_schema.json", import.meta.url), "utf8"));
const ROOM = "bench";
const app = new Spikard({ compression: process.env.SPIKARD_BENCH_COMPRESSION === "1" });
app.websocket("/echo", (message) => message, { onBinary: (data) => data });
app.websocket("/raw", (message) => message, { rawText: true });
app.websocket("/chat", (message) => ({ echo: message.text, from: message.user }), { messageSchema: schema });
app.websocket(
  "/broadcast",
  (message, ctx) => {
    ctx.publishOthers(ROOM, message);
  },
  { onConnect: (ctx) => void ctx.subscribe(ROOM) },
);

const { port } = await app.listen({ host: process.env.HOST ?? "127.0.0.1", port: Number(process.env.PORT ?? 0) });
process.stdout.write(`READY ${port}\n`);
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => void app.close());
