"""Echo peer: aiohttp's WebSocketResponse, uvloop, `compress=False`, any path."""

import asyncio

from aiohttp import WSMsgType, web
from peer_common import HOST, announce, port_from_env, use_uvloop


async def echo(request: web.Request) -> web.WebSocketResponse:
    """Upgrade and send every text or binary message back unchanged."""
    ws = web.WebSocketResponse(compress=False, max_msg_size=2**24)
    await ws.prepare(request)
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            await ws.send_str(message.data)
        elif message.type == WSMsgType.BINARY:
            await ws.send_bytes(message.data)
    return ws


async def main(loop_name: str) -> None:
    """Serve until cancelled."""
    app = web.Application()
    app.router.add_get("/{tail:.*}", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, port_from_env())
    await site.start()
    announce(runner.addresses[0][1], note=f"aiohttp on {loop_name}")
    await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(use_uvloop()))
