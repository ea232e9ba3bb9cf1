"""The handshake limits and bounded shutdown, set from Python (the fixtures pin the connection
limit and the origin allowlist; these need raw sockets or timing)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from spikard import ConfigError, Spikard, websocket
from spikard.testing import TestClient, UpgradeRejected


@websocket("/echo")
async def echo(message: Any) -> Any:
    return message


def read_until_closed(sock: socket.socket, limit: float) -> None:
    sock.settimeout(limit)
    while sock.recv(4096):
        pass


def test_a_silent_or_half_sent_handshake_is_closed_at_the_handshake_timeout() -> None:
    with TestClient(Spikard(routes=[echo], handshake_timeout=0.3)) as client:
        for sent in (b"", b"GET", b"GET /echo HTTP/1.1\r\nHost: x\r\n"):
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", client.server.port)) as sock:
                sock.sendall(sent)
                read_until_closed(sock, 3)
            assert time.monotonic() - started >= 0.25, sent
        with client.connect("/echo") as ws:
            ws.send_json("ok")
            assert ws.receive_json() == "ok"


def test_a_half_sent_request_does_not_hold_up_shutdown() -> None:
    client = TestClient(Spikard(routes=[echo], drain_timeout=30))
    with socket.create_connection(("127.0.0.1", client.server.port)) as half:
        half.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        with client.connect("/echo") as ws:
            ws.send_json(1)
            assert ws.receive_json() == 1  # accepted in order: the half-sent one is held too
        closer = threading.Thread(target=client.close)
        started = time.monotonic()
        closer.start()
        closer.join(5)
        assert not closer.is_alive(), "shutdown waited for the half-sent request"
        assert time.monotonic() - started < 4
        read_until_closed(half, 1)


def test_the_head_size_limits_refuse_with_431() -> None:
    with TestClient(Spikard(routes=[echo], max_header_size=1024)) as client:
        with (
            pytest.raises(UpgradeRejected) as refused,
            client.connect("/echo", headers={"x-big": "a" * 2000}),
        ):
            pass
        assert refused.value.status == 431
        with client.connect("/echo", headers={"x-small": "a" * 500}) as ws:
            ws.send_json(2)
            assert ws.receive_json() == 2


@pytest.mark.parametrize(
    "options",
    [
        {"handshake_timeout": 0},
        {"handshake_timeout": -1},
        {"max_request_head": 100},
        {"max_header_size": 100},
        {"max_connections": 0},
        {"allowed_origins": []},
        {"allowed_origins": ["chat.example.com"]},
    ],
)
def test_out_of_range_options_raise_config_error(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as invalid:
        Spikard(routes=[echo], **options).start()
    assert invalid.value.code == "invalid_config"


UPGRADE = (
    "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
)


@pytest.mark.parametrize(("key", "status"), [("short", b"400"), ("dGhlIHNhbXBsZSBub25jZQ==", b"101")])
def test_the_websocket_key_must_be_16_bytes_of_base64(key: str, status: bytes) -> None:
    with (
        TestClient(Spikard(routes=[echo])) as client,
        socket.create_connection(("127.0.0.1", client.server.port)) as sock,
    ):
        sock.settimeout(5)
        sock.sendall(UPGRADE.format(key=key).encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 " + status)
