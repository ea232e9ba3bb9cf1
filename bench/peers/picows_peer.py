"""Echo peer: picows (Cython WebSocket frames on top of the loop), uvloop, any path.

picows has no permessage-deflate at all. Frames are echoed as they come (opcode and FIN kept), so
fragmented messages are echoed fragment by fragment; pings are answered by picows (auto-pong).
"""

import asyncio

from peer_common import HOST, announce, port_from_env, use_uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

DATA = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION)


class Echo(WSListener):
    """Send every data frame back; answer a close frame and disconnect."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """Handle one received frame."""
        if frame.msg_type in DATA:
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


async def main(loop_name: str) -> None:
    """Serve until cancelled."""
    server = await ws_create_server(lambda _request: Echo(), HOST, port_from_env(), max_frame_size=2**24)
    announce(server.sockets[0].getsockname()[1], note=f"picows on {loop_name}")
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(use_uvloop()))
