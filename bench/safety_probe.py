#!/usr/bin/env python3
"""Reproduce issue 14's findings 1-4 against a Spikard server and print bounded figures.

The server is started by this script (once per probe, so that the probes do not disturb each
other) from the command after `--`, with `PORT=0` in its environment; it must print
`READY <port>` once bound and serve `/echo` (replies with the message) and `/chat` (the schema of
`bench/chat_schema.json`, `additionalProperties: false`), as every benchmark server in `bench/`
does:

    python3 bench/safety_probe.py -- target/debug/spikard-bench serve --port 0
    python3 bench/safety_probe.py -- python3 bench/ours/spikard_python.py

Probes (Linux: figures come from /proc/<pid>):
1. shutdown: one socket has sent `GET /echo HTTP/1.1\\r\\nHost: x\\r\\n` and nothing more, one
   WebSocket client is connected; SIGTERM; seconds until the process exits.
2. flood: the server runs with a file descriptor limit (default 256); sockets that send nothing,
   3 bytes or a partial request head (default 300); the server's open descriptors after the
   flood and after the handshake timeout, and whether a real client can connect then.
3. memory: a client that never reads sends 1 MiB messages (to `/echo`, then error-provoking
   ones to `/chat`) until the server stops reading it or closes it; the server's peak resident
   memory above what it used before.
4. envelopes: the size of the error envelope answering a 1 MiB message of tiny unexpected keys,
   and one with a single 900 KB key, and the worst round trip another client saw meanwhile.

Only the Python standard library and `websockets` (for the well-behaved clients).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from websockets.sync.client import connect

MIB = 1024 * 1024
HALF_HEAD = b"GET /echo HTTP/1.1\r\nHost: x\r\n"
# The largest message the servers accept by default is 1 MiB; stay just under it.
MESSAGE_BYTES = 1_000_000


@dataclass
class Server:
    """A server process started for one probe."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def status(self, field: str) -> int:
        """A `kB` field of /proc/<pid>/status, in bytes."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise KeyError(field)

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


@contextlib.contextmanager
def start(command: list[str], fd_limit: int | None = None) -> Iterator[Server]:
    """Start the server, wait for `READY <port>`, stop it (SIGKILL if still running) at the end."""

    def limit() -> None:
        if fd_limit is not None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, hard))

    env = dict(os.environ, PORT="0")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, preexec_fn=limit)
    try:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("READY "):
                port = int(line.split()[1])
                break
        else:
            raise SystemExit(f"server exited before printing READY <port>: {command}")
        # Keep reading its stdout so that it never blocks on a full pipe.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield Server(process, port)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def raw_upgrade(port: int, path: str, rcvbuf: int | None = None) -> socket.socket:
    """A WebSocket handshake on a plain socket (a client that reads only when told to)."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head.split(b"\r\n")[0].decode(errors="replace"))
    return sock


def text_frame(payload: bytes) -> bytes:
    """A masked text frame. The mask is all zeros (legal, and it leaves the payload as is)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, 0x80 | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
    return header + b"\0\0\0\0" + payload


def tiny_keys_message(size: int = MESSAGE_BYTES) -> bytes:
    """A JSON object of as many tiny keys as fit in `size` bytes (each refused by the schema)."""
    parts, total, i = [], 2, 0
    while True:
        part = f'"{i:x}":0'
        if total + len(part) + 1 > size:
            break
        parts.append(part)
        total += len(part) + 1
        i += 1
    return ("{" + ",".join(parts) + "}").encode()


def probe_shutdown(command: list[str], limit: float) -> str:
    with start(command) as server:
        half = socket.create_connection(("127.0.0.1", server.port))
        half.sendall(HALF_HEAD)
        with connect(f"ws://127.0.0.1:{server.port}/echo") as client:
            client.send(json.dumps("ready"))
            client.recv(timeout=5)  # connections are accepted in order: the half one is held
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            try:
                server.process.wait(timeout=limit)
                took = f"{time.monotonic() - started:.2f} s"
            except subprocess.TimeoutExpired:
                took = f"still running after {limit:.0f} s (killed)"
        half.close()
    return f"exit after SIGTERM with a half-sent request open: {took}"


def probe_flood(command: list[str], sockets: int, fd_limit: int, wait: float) -> list[str]:
    with start(command, fd_limit=fd_limit) as server:
        before = server.fds()
        flood = []
        for i in range(sockets):
            try:
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=2)
            except OSError:
                break
            sock.sendall([b"", b"GET", HALF_HEAD][i % 3])
            flood.append(sock)
        time.sleep(0.5)
        during = server.fds()
        reachable_during = can_connect(server.port)
        time.sleep(wait)
        after = server.fds()
        closed = sum(1 for sock in flood if closed_by_peer(sock))
        reachable_after = can_connect(server.port)
        for sock in flood:
            sock.close()
    return [
        f"slow-handshake flood: {len(flood)} sockets (0 bytes, 3 bytes, half a head) against a "
        f"{fd_limit}-descriptor limit",
        f"  server descriptors: {before} before, {during} after the flood, {after} {wait:.0f} s later",
        f"  flood sockets closed by the server after {wait:.0f} s: {closed} of {len(flood)}",
        f"  a real client right after the flood: {reachable_during}; {wait:.0f} s later: {reachable_after}",
    ]


def can_connect(port: int) -> str:
    try:
        with connect(f"ws://127.0.0.1:{port}/echo", open_timeout=3) as client:
            client.send(json.dumps("hi"))
            client.recv(timeout=3)
        return "connected"
    except Exception as exc:  # report whatever went wrong, the probe goes on
        return f"failed ({type(exc).__name__})"


def closed_by_peer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def probe_memory(command: list[str], path: str, message: bytes, count: int, stall: float) -> str:
    with start(command) as server:
        baseline = server.status("VmRSS")
        sock = raw_upgrade(server.port, path, rcvbuf=4096)
        sock.settimeout(stall)
        frame = text_frame(message)
        sent, outcome = 0, "all sent"
        for _ in range(count):
            try:
                sock.sendall(frame)
            except TimeoutError:
                outcome = f"sending stalled (no progress for {stall:.0f} s)"
                break
            except OSError as exc:
                outcome = f"closed by the server ({type(exc).__name__})"
                break
            sent += 1
        peak = server.status("VmHWM")
        close_code = read_close_code(sock)
        sock.close()
    closed = f", close code {close_code}" if close_code is not None else ""
    size = len(message) / MIB
    growth = (peak - baseline) / MIB
    return (
        f"non-reading client, {size:.2f} MiB messages to {path}: {sent} sent, {outcome}{closed}; "
        f"server peak RSS {peak / MIB:.0f} MiB ({growth:+.0f} MiB over its {baseline / MIB:.0f} MiB at start)"
    )


def read_close_code(sock: socket.socket) -> int | None:
    """Read what the server sent (at most 3 s, skipping data frames) and return its close code."""
    sock.settimeout(3)
    buf = b""
    try:
        while True:
            while len(buf) >= 2:
                opcode, length = buf[0] & 0x0F, buf[1] & 0x7F
                offset = 2
                if length == 126:
                    if len(buf) < 4:
                        break
                    (length,) = struct.unpack("!H", buf[2:4])
                    offset = 4
                elif length == 127:
                    if len(buf) < 10:
                        break
                    (length,) = struct.unpack("!Q", buf[2:10])
                    offset = 10
                if len(buf) < offset + length:
                    break
                if opcode == 0x8:
                    payload = buf[offset : offset + length]
                    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                buf = buf[offset + length :]
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buf += chunk
    except OSError:
        return None


def probe_envelopes(command: list[str]) -> list[str]:
    lines = []
    with start(command) as server:
        url = f"ws://127.0.0.1:{server.port}"
        worst = [0.0]
        stop = threading.Event()

        def ping_echo() -> None:
            with connect(f"{url}/echo") as other:
                while not stop.is_set():
                    sent = time.monotonic()
                    other.send(json.dumps({"t": sent}))
                    other.recv(timeout=30)
                    worst[0] = max(worst[0], time.monotonic() - sent)

        with connect(f"{url}/chat", max_size=None) as client:
            for label, message in [
                ("tiny unexpected keys", tiny_keys_message()),
                ("one 900 KB key", json.dumps({"k" * 900_000: 1}).encode()),
            ]:
                worst[0] = 0.0
                stop.clear()
                pinger = threading.Thread(target=ping_echo)
                pinger.start()
                time.sleep(0.2)
                client.send(message.decode())
                reply = client.recv(timeout=60)
                time.sleep(0.2)
                stop.set()
                pinger.join()
                size = len(reply.encode() if isinstance(reply, str) else reply)
                envelope = json.loads(reply)
                lines.append(
                    f"error envelope for a {len(message) / MIB:.2f} MiB message of {label}: {size:,} bytes "
                    f"(x{size / len(message):.3f}), {len(envelope.get('errors', []))} errors"
                    f"{', truncated' if envelope.get('truncated') else ''}; "
                    f"another client's worst echo round trip meanwhile {worst[0] * 1000:.0f} ms"
                )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flood", type=int, default=300, help="sockets in the slow-handshake flood (300)")
    parser.add_argument("--fd-limit", type=int, default=256, help="the server's descriptor limit in the flood (256)")
    parser.add_argument(
        "--handshake-wait",
        type=float,
        default=12.0,
        help="seconds to wait after the flood (12: 10 s timeout + 2)",
    )
    parser.add_argument("--exit-limit", type=float, default=60.0, help="longest wait for the exit after SIGTERM (60)")
    parser.add_argument("--messages", type=int, default=200, help="1 MiB messages the non-reading client sends (200)")
    parser.add_argument("--stall", type=float, default=5.0, help="seconds without progress that end a send (5)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the server command")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the server command after --")
    print(f"server: {' '.join(command)}")
    print("1. " + probe_shutdown(command, args.exit_limit))
    print("2. " + "\n".join(probe_flood(command, args.flood, args.fd_limit, args.handshake_wait)))
    echo = json.dumps("x" * (MESSAGE_BYTES - 2)).encode()
    print("3. " + probe_memory(command, "/echo", echo, args.messages, args.stall))
    print("   " + probe_memory(command, "/chat", tiny_keys_message(), args.messages, args.stall))
    print("4. " + "\n   ".join(probe_envelopes(command)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
