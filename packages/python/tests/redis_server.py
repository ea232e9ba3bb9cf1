"""A ``redis-server`` of a test's own, on a free loopback port (``task setup`` installs Debian's
``redis-server``; tests that need it are skipped, saying so, when it is missing)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Redis:
    """``redis-server`` on a free loopback port; ready once it said so on its log."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = self._start()

    def _start(self) -> subprocess.Popen[str]:
        args = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port)]
        args += ["--save", "", "--appendonly", "no"]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        for line in process.stdout:
            if "Ready to accept connections" in line:
                threading.Thread(target=process.stdout.read, daemon=True).start()
                return process
        raise AssertionError("redis-server exited before it was ready")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()

    def restart(self) -> None:
        """Kill it and start a new one on the same port."""
        self.stop()
        self.process = self._start()

    def numsub(self, topic: str) -> int:
        """How many connections (one per server) follow the room's channel."""
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            s.sendall(f"PUBSUB NUMSUB spikard:{topic}\r\n".encode())
            reply = b""
            while reply.count(b"\r\n") < 4:
                reply += s.recv(4096)
        return int(reply.split(b"\r\n")[3][1:])

    def wait_for_servers(self, topic: str, n: int) -> None:
        """Wait until ``n`` servers follow the room (servers subscribe asynchronously)."""
        deadline = time.monotonic() + 10
        while (count := self.numsub(topic)) != n:
            assert time.monotonic() < deadline, f"{count} servers follow {topic}, not {n}"
            time.sleep(0.01)


@pytest.fixture
def redis() -> Iterator[Redis]:
    """A fresh ``redis-server`` for one test."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (`task setup` installs it)")
    server = Redis()
    yield server
    server.stop()
