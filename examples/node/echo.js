// Echo server: every JSON message comes back as it was sent.
//
//   npm run build --workspaces --if-present   (once, from the repository root)
//   node examples/node/echo.js                 then connect to ws://127.0.0.1:8000/echo
//
// SPIKARD_HOST and SPIKARD_PORT override the address (port 0 picks a free one).
import { Spikard } from "spikard";

const app = new Spikard();
app.websocket("/echo", (message) => message);

await app.run({
  host: process.env.SPIKARD_HOST ?? "127.0.0.1",
  port: Number(process.env.SPIKARD_PORT ?? 8000),
});
