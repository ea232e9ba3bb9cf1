"""Probe a running Spikard server with a client that sends and never reads (issue 14, findings 3-4).

Two modes, each over one raw TCP connection (no WebSocket library: the client must really stop
reading, and must not answer pings by itself):

- ``echo``: send ``--messages`` JSON strings of ``--size`` bytes to an echo route without reading,
  wait ``--settle`` seconds, then print the server's peak resident memory (``VmHWM`` of ``--pid``)
  and what the client finally reads: how many bytes, and the close code if the server closed.
- ``keys``: send one object of tiny keys filling ``--size`` bytes to a route whose schema has
  ``additionalProperties: false``, read the reply and print its size and the ratio to the input.

    python bench/slow_reader.py echo --url ws://127.0.0.1:8000/echo --pid PID --messages 1000
    python bench/slow_reader.py keys --url ws://127.0.0.1:8000/rooms/x --pid PID

Memory is read from ``/proc/PID/status`` (Linux).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import struct
import time
from urllib.parse import urlsplit

MIB = 1024 * 1024


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit("the server closed during the handshake")
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status:
        raise SystemExit(f"upgrade refused: {status.decode()}")
    return sock


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One masked, final client frame (the mask is zero: XOR leaves the payload as is)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    return header + b"\0\0\0\0" + payload


def read_frames(sock: socket.socket, timeout: float) -> tuple[int, int | str, list[bytes]]:
    """Read until close or ``timeout`` of silence: bytes read, close code (or how the connection
    ended without one), the first few text payloads."""
    sock.settimeout(timeout)
    buf = bytearray()
    total = 0
    texts: list[bytes] = []
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            return total, "none (still open)", texts
        except ConnectionResetError:
            return total, "none (reset)", texts
        if not chunk:
            return total, "none (closed without a close frame)", texts
        total += len(chunk)
        buf += chunk
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
            payload = bytes(buf[offset : offset + length])
            del buf[: offset + length]
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return total, code, texts
            if opcode == 0x1 and len(texts) < 4:  # the first few: a join notice may come first
                texts.append(payload)


def peak_rss_mib(pid: int) -> tuple[float, float]:
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def echo(args: argparse.Namespace) -> None:
    before = peak_rss_mib(args.pid)
    sock = connect(args.url)
    message = frame(json.dumps("x" * (args.size - 2)).encode())
    sock.settimeout(args.settle)
    sent = 0
    started = time.monotonic()
    try:
        for _ in range(args.messages):
            sock.sendall(message)
            sent += 1
    except (TimeoutError, BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading us (backpressure) or closed
    time.sleep(args.settle)
    peak, rss = peak_rss_mib(args.pid)
    read, code, _ = read_frames(sock, args.settle)
    print(
        f"echo: sent {sent} x {args.size} B in {time.monotonic() - started:.1f} s without reading; "
        f"server peak RSS {before[0]:.1f} -> {peak:.1f} MiB (now {rss:.1f} MiB); "
        f"then read {read / MIB:.1f} MiB, close code {code}"
    )


def keys(args: argparse.Namespace) -> None:
    parts, size, n = ["{"], 1, 0
    while True:
        entry = f'"{n:x}":0,'
        if size + len(entry) > args.size:
            break
        parts.append(entry)
        size += len(entry)
        n += 1
    parts[-1] = parts[-1].rstrip(",")
    payload = "".join(parts) + "}"
    sock = connect(args.url)
    sock.sendall(frame(payload.encode()))
    _, code, texts = read_frames(sock, args.settle)
    errors = [t for t in texts if t.startswith(b'{"type":"error"')]
    reply = errors[0] if errors else b""
    print(
        f"keys: sent {n} keys in {len(payload)} B; envelope {len(reply)} B "
        f"(x{len(reply) / len(payload):.4f}); close code {code}; "
        f"server peak RSS {peak_rss_mib(args.pid)[0]:.1f} MiB"
    )
    if reply:
        envelope = json.loads(reply)
        print(f"  errors listed: {len(envelope['errors'])}, truncated: {envelope.get('truncated', False)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("mode", choices=["echo", "keys"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--pid", type=int, required=True, help="the server's process id")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--size", type=int, default=MIB, help="bytes per message")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait before reading")
    args = parser.parse_args()
    if args.mode == "echo":
        echo(args)
    else:
        keys(args)


if __name__ == "__main__":
    main()
