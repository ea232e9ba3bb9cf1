"""What every Python benchmark peer shares: the port from `PORT`, the event loop, the READY line.

The driver (`bench/run.py`) starts a peer with `PORT` set (0 means "pick one"), reads exactly one
`READY <port> [<pid>]` line from its stdout, and measures the CPU of `<pid>` (default: the peer's
own process). No peer compresses unless `DEFLATE=1` (the compressed-echo scenario), which
`deflate()` reports.
"""

import os
import sys

HOST = os.environ.get("HOST", "127.0.0.1")


def port_from_env() -> int:
    """The port to listen on, from the `PORT` environment variable (0 = any free port)."""
    return int(os.environ.get("PORT", "0"))


def deflate() -> bool:
    """Whether this run negotiates permessage-deflate (`DEFLATE=1`)."""
    return os.environ.get("DEFLATE") == "1"


def use_uvloop() -> str:
    """Install uvloop's event-loop policy when uvloop is importable; return the loop's name."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    import asyncio

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return f"uvloop {uvloop.__version__}"


def announce(port: int, pid: int | None = None, note: str = "") -> None:
    """Print the READY line the driver waits for (plus a note on stderr) and flush it."""
    if note:
        print(note, file=sys.stderr, flush=True)
    suffix = f" {pid}" if pid is not None else ""
    print(f"READY {port}{suffix}", flush=True)
