"""Echo peer: Python `websockets` (the asyncio server), uvloop, no compression, any path."""

import asyncio

from peer_common import HOST, announce, port_from_env, use_uvloop
from websockets.asyncio.server import serve


async def echo(ws) -> None:
    """Send every text or binary message back unchanged."""
    async for message in ws:
        await ws.send(message)


async def main(loop_name: str) -> None:
    """Serve until cancelled."""
    async with serve(echo, HOST, port_from_env(), compression=None, max_size=2**24) as server:
        port = server.sockets[0].getsockname()[1]
        announce(port, note=f"websockets on {loop_name}")
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(use_uvloop()))
