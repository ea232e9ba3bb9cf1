"""Smoke check of one running echo peer: text and binary round-trips over a real connection.

Usage: python bench/peers/echo_check.py ws://127.0.0.1:PORT/echo [--text-only]  (exit 0 when all
come back). A URL ending in `/chat` checks the chat reply `{"echo": text, "from": user}` instead.
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect


async def check(url: str, binary: bool) -> None:
    """Send JSON text (and binary) messages and require the expected replies, in order."""
    chat = '{"text":"hi","user":"a"}'
    if url.endswith("/chat"):
        pairs = [(chat, '{"echo":"hi","from":"a"}')]
    else:
        pairs = [(chat, chat), ('"' + "x" * 18 + '"', '"' + "x" * 18 + '"')]
        if binary:
            pairs.append((b"\x00\x01" * 8192, b"\x00\x01" * 8192))
    async with connect(url, compression=None) as ws:
        for message, expected in pairs:
            await ws.send(message)
            reply = await asyncio.wait_for(ws.recv(), 5)
            if isinstance(reply, str) and isinstance(expected, str):
                reply, expected = json.loads(reply), json.loads(expected)
            if reply != expected:
                raise SystemExit(f"{url}: sent {message[:20]!r}, got {reply!r:.60}")
    print(f"ok {url}")


if __name__ == "__main__":
    asyncio.run(check(sys.argv[1], "--text-only" not in sys.argv))
