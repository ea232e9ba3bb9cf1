// The Node server `task autobahn` runs Autobahn|Testsuite against: `/echo` is a raw-text route
// that sends every message back as it came (text as text, binary as binary), with a 16 MiB limit
// so the large-message cases (9.*) run, and permessage-deflate on for every message (threshold 0)
// so the compression cases (12.*, 13.*) run.
//
//   node examples/node/autobahn.js   prints `READY <port>` once bound; SIGTERM or Ctrl-C stops it
//
// SPIKARD_HOST and SPIKARD_PORT override the address (default 127.0.0.1, port 0: a free one).
import { Spikard } from "spikard";

// Compression for every message, however small: threshold 0 (the default leaves messages under
// 1 KiB uncompressed), so that Autobahn's 12.* and 13.* exercise it.
const app = new Spikard({ maxMessageSize: 16 * 1024 * 1024, compression: { threshold: 0 } });
app.websocket("/echo", (message) => message, { rawText: true, onBinary: (data) => data });

const address = await app.listen({
  host: process.env.SPIKARD_HOST ?? "127.0.0.1",
  port: Number(process.env.SPIKARD_PORT ?? 0),
});
console.log(`READY ${address.port}`);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => void app.close());
}
