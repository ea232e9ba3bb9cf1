"""Spikard Python benchmark server: `/echo` (no schema, binary echoed too), `/raw` (raw text), the
validated `/chat` and the `/broadcast` room; permessage-deflate on with `SPIKARD_BENCH_COMPRESSION=1`.

`/chat` validates against `bench/chat_schema.json` in the Rust core and replies
`{"echo": text, "from": user}`. `/broadcast` joins the room on connect and publishes every message
to everyone else in it (one call into Python per message; the core fans out).

Reads `PORT` (0 = any free port), prints `READY <port>` once bound, serves until SIGTERM or Ctrl-C.
"""

import json
import os
from pathlib import Path

from spikard import Spikard

ROOM = "bench"
SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "chat_schema.json").read_text())
app = Spikard(compression=os.environ.get("SPIKARD_BENCH_COMPRESSION") == "1")


@app.websocket("/echo")
async def echo(message):
    """Send the message back unchanged."""
    return message


@echo.on_binary
async def echo_binary(message: bytes) -> bytes:
    """Send binary data back unchanged."""
    return message


@app.websocket("/raw", raw_text=True)
async def raw(message: str) -> str:
    """Send the text back verbatim."""
    return message


@app.websocket("/chat", message_schema=SCHEMA)
async def chat(message):
    """Reply to a valid chat message."""
    return {"echo": message["text"], "from": message["user"]}


@app.websocket("/broadcast")
async def broadcast(message, ws):
    """Publish the message to everyone else in the room; no reply."""
    await ws.publish_others(ROOM, message)


@broadcast.on_connect
async def join(ws):
    """Join the room before the upgrade completes."""
    await ws.subscribe(ROOM)


if __name__ == "__main__":
    server = app.start(os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "0")))
    print(f"READY {server.port}", flush=True)
    server.serve_until_signal()
