"""The Python server `task autobahn` runs Autobahn|Testsuite against.

`/echo` is a raw-text route: text comes back as the same text, binary as the same bytes, up to
16 MiB per message (the large-message cases, 9.*, send that much), with permessage-deflate on for
every message (threshold 0) so that the compression cases (12.*, 13.*) run. Reads `PORT` (0: any
free port), prints `READY <port>` once bound and serves until SIGTERM or Ctrl-C.
"""

import os

from spikard import Spikard

# Compression for every message, however small: threshold 0 (the default leaves messages under
# 1 KiB uncompressed), so that Autobahn's 12.* and 13.* exercise it.
app = Spikard(max_message_size=16 * 1024 * 1024, compression={"threshold": 0})


@app.websocket("/echo", raw_text=True)
async def echo(message: str) -> str:
    """Send the text back as it came."""
    return message


@echo.on_binary
async def echo_binary(message: bytes) -> bytes:
    """Send the bytes back as they came."""
    return message


if __name__ == "__main__":
    server = app.start(os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "0")))
    print(f"READY {server.port}", flush=True)
    server.serve_until_signal()
