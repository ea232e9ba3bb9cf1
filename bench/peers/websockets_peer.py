"""Peer: Python `websockets` (the asyncio server), uvloop, no compression (`DEFLATE=1`: its
permessage-deflate).

`/broadcast` is a room: every message goes to every other client in it with websockets'
`broadcast()` helper; any other path echoes.
"""

import asyncio

from peer_common import HOST, announce, deflate, port_from_env, use_uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve

ROOM: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    """Echo every text or binary message, or fan it out on `/broadcast`."""
    if ws.request is not None and ws.request.path == "/broadcast":
        ROOM.add(ws)
        try:
            async for message in ws:
                broadcast((client for client in ROOM if client is not ws), message)
        finally:
            ROOM.discard(ws)
        return
    async for message in ws:
        await ws.send(message)


async def main(loop_name: str) -> None:
    """Serve until cancelled."""
    compression = "deflate" if deflate() else None
    async with serve(handler, HOST, port_from_env(), compression=compression, max_size=2**24) as server:
        port = server.sockets[0].getsockname()[1]
        announce(port, note=f"websockets on {loop_name}")
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(use_uvloop()))
