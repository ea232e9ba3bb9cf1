"""Echo throughput of Spikard's Python path next to the ``websockets`` library, in one run.

Each server runs in its own process pinned to CPU 0; the load generator (raw sockets on uvloop,
one message in flight per connection, like a chat client waiting for each answer) runs in this
process pinned to CPU 1. Messages are 20-byte JSON objects. Loopback only; bounded in time.
Besides messages/s, it prints messages per server CPU-second (utime + stime of the server
process over the measured window), which holds up better on a machine that is busy elsewhere.

    python packages/python/bench/echo_throughput.py --connections 100 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import time
from pathlib import Path

MESSAGE = b'{"msg":"0123456789"}'  # 20 bytes
MASK = b"\x11\x22\x33\x44"

SERVERS = {
    "spikard": """
import sys
from spikard import Spikard, websocket

@websocket("/echo")
async def echo(message: dict) -> dict:
    return message

Spikard(routes=[echo]).run(host="127.0.0.1", port=0)
""",
    "spikard-sync": """
from spikard import Spikard, websocket

@websocket("/echo")
def echo(message: dict) -> dict:
    return message

Spikard(routes=[echo]).run(host="127.0.0.1", port=0)
""",
    "websockets": """
import asyncio
from websockets.asyncio.server import serve

async def echo(ws):
    async for message in ws:
        await ws.send(message)

async def main():
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    async with serve(echo, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"spikard listening on ws://127.0.0.1:{port}", flush=True)
        await asyncio.Future()

asyncio.run(main())
""",
}


def frame(payload: bytes) -> bytes:
    """A masked client text frame (payload under 126 bytes)."""
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + MASK + masked


class EchoClient(asyncio.Protocol):
    """One connection: upgrade, then send a message each time the previous answer arrived."""

    def __init__(self, counter: list[int], ready: asyncio.Future[None]) -> None:
        self.counter = counter
        self.ready = ready
        self.buffer = b""
        self.upgraded = False
        self.frame = frame(MESSAGE)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            if b" 101 " not in buffer[:end].split(b"\r\n", 1)[0]:
                raise RuntimeError(f"upgrade failed: {buffer[:end]!r}")
            buffer = buffer[end + 4 :]
            self.upgraded = True
            self.ready.set_result(None)
            assert self.transport is not None
            self.transport.write(self.frame)
        replies = 0
        while len(buffer) >= 2:
            length = buffer[1] & 0x7F
            header = 2
            if length == 126:
                if len(buffer) < 4:
                    break
                length, header = int.from_bytes(buffer[2:4], "big"), 4
            if len(buffer) < header + length:
                break
            buffer = buffer[header + length :]
            replies += 1
        self.buffer = buffer
        if replies:
            self.counter[0] += replies
            assert self.transport is not None
            self.transport.write(self.frame * replies)


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(port: int, connections: int, seconds: float, pid: int) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    counter = [0]
    readies = []
    transports = []
    for _ in range(connections):
        ready: asyncio.Future[None] = loop.create_future()
        transport, _ = await loop.create_connection(lambda r=ready: EchoClient(counter, r), "127.0.0.1", port)
        transports.append(transport)
        readies.append(ready)
    await asyncio.wait_for(asyncio.gather(*readies), 10)
    await asyncio.sleep(1.0)  # warm up
    start_count, start, start_cpu = counter[0], time.perf_counter(), cpu_seconds(pid)
    await asyncio.sleep(seconds)
    messages = counter[0] - start_count
    rate = messages / (time.perf_counter() - start)
    per_cpu = messages / max(cpu_seconds(pid) - start_cpu, 1e-9)
    for transport in transports:
        transport.abort()
    return rate, per_cpu


def measure(kind: str, connections: int, seconds: float, server_cpu: int) -> tuple[float, float]:
    env = dict(os.environ)
    env.setdefault("SPIKARD_WORKER_THREADS", "1")
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVERS[kind]],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: os.sched_setaffinity(0, {server_cpu}),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"{kind} did not start: {line!r}")
        port = int(line.rsplit(":", 1)[1])
        return asyncio.run(load(port, connections, seconds, proc.pid))
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", default="spikard,websockets")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = cpus[0], cpus[-1]
    os.sched_setaffinity(0, {client_cpu})
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    for kind in args.servers.split(","):
        rate, per_cpu = measure(kind, args.connections, args.seconds, server_cpu)
        print(
            f"{kind:>14}: {rate:>9,.0f} messages/s, {per_cpu:>9,.0f} per server CPU-s "
            f"({args.connections} connections, 20-byte messages)",
            flush=True,
        )


if __name__ == "__main__":
    main()
