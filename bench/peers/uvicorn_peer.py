"""Echo peer: uvicorn serving the raw ASGI app of `asgi_echo.py`, uvloop, one worker, no deflate.

uvicorn's `websockets-sansio` protocol is used (its maintained implementation on the
`websockets` library); `UVICORN_WS` overrides it (`websockets`, `wsproto`).
"""

import os

import uvicorn
from asgi_echo import app
from peer_common import HOST, announce, port_from_env

WS = os.environ.get("UVICORN_WS", "websockets-sansio")


class ReadyServer(uvicorn.Server):
    """A uvicorn server that prints the READY line once its sockets listen."""

    async def startup(self, sockets=None) -> None:
        """Start as uvicorn does, then announce the bound port."""
        await super().startup(sockets)
        port = self.servers[0].sockets[0].getsockname()[1]
        announce(port, note=f"uvicorn {uvicorn.__version__} (ws={WS}) on uvloop")


if __name__ == "__main__":
    config = uvicorn.Config(
        app,
        host=HOST,
        port=port_from_env(),
        loop="uvloop",
        ws=WS,
        ws_per_message_deflate=False,
        ws_max_size=2**24,
        lifespan="off",
        access_log=False,
        log_level="warning",
        workers=1,
    )
    ReadyServer(config).run()
