"""Testing Spikard apps over real sockets: :class:`TestClient`.

The client starts the app on ``127.0.0.1`` with a free port and connects real WebSocket clients
(the ``websockets`` library, ``pip install spikard[testing]``). Connections work from plain
tests and from asyncio code alike::

    from spikard.testing import TestClient

    def test_echo() -> None:
        with TestClient(app) as client, client.connect("/echo") as ws:
            ws.send_json({"a": 1})
            assert ws.receive_json() == {"a": 1}

    async def test_echo_async() -> None:
        async with TestClient(app) as client, client.connect("/echo") as ws:
            await ws.send_json({"a": 1})
            assert await ws.receive_json() == {"a": 1}
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection as AsyncClientConnection
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection as SyncClientConnection
from websockets.sync.client import connect as sync_connect
from websockets.typing import Subprotocol

from spikard.app import PublishCapture, Server, Spikard

__all__ = ["AsyncTestWebSocket", "Closed", "TestClient", "TestWebSocket", "UpgradeRejected"]

Data = str | bytes


class Closed(Exception):
    """The server closed the connection while the test was waiting for a message."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"connection closed with code {code} {reason!r}".rstrip())
        self.code = code
        self.reason = reason


class UpgradeRejected(Exception):
    """The server refused the WebSocket upgrade (``on_connect`` rejected it, or no route)."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"upgrade rejected with HTTP {status}: {body.decode(errors='replace')}")
        self.status = status
        self.body = body

    def json(self) -> Any:
        """The response body as JSON (a ``connection_rejected`` error envelope)."""
        return json.loads(self.body)


def _closed(exc: ConnectionClosed) -> Closed:
    frame = exc.rcvd
    return Closed(frame.code if frame else None, frame.reason if frame else "")


def _rejected(exc: InvalidStatus) -> UpgradeRejected:
    return UpgradeRejected(exc.response.status_code, bytes(exc.response.body or b""))


def _expect_text(data: Data) -> str:
    if not isinstance(data, str):
        raise AssertionError(f"expected a text frame, got binary {data!r}")
    return data


def _expect_bytes(data: Data) -> bytes:
    if not isinstance(data, bytes):
        raise AssertionError(f"expected a binary frame, got text {data!r}")
    return data


_OPTIONS: dict[str, Any] = {"compression": None, "proxy": None, "ping_interval": None, "max_size": None}


class TestWebSocket:
    """A blocking WebSocket connection to the app under test."""

    __test__ = False

    def __init__(self, conn: SyncClientConnection, timeout: float) -> None:
        self.raw = conn
        """The underlying ``websockets.sync.client.ClientConnection``."""
        self._timeout = timeout

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected (``None``: none)."""
        return self.raw.subprotocol

    def send_json(self, value: Any) -> None:
        """Send ``value`` as JSON in a text frame."""
        self.raw.send(json.dumps(value))

    def send_text(self, text: str) -> None:
        """Send ``text`` as a text frame, as is."""
        self.raw.send(text)

    def send_bytes(self, data: bytes) -> None:
        """Send ``data`` as a binary frame."""
        self.raw.send(data)

    def receive(self, timeout: float | None = None) -> Data:
        """The next message (``str`` or ``bytes``). Raises :class:`Closed` if the server closed,
        ``TimeoutError`` after ``timeout`` seconds (default: the client's)."""
        try:
            return self.raw.recv(timeout if timeout is not None else self._timeout)
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    def receive_text(self, timeout: float | None = None) -> str:
        """The next message, which must be a text frame."""
        return _expect_text(self.receive(timeout))

    def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next message, which must be a binary frame."""
        return _expect_bytes(self.receive(timeout))

    def receive_json(self, timeout: float | None = None) -> Any:
        """The next message, a text frame, parsed as JSON."""
        return json.loads(self.receive_text(timeout))

    def receive_close(self, timeout: float | None = None) -> tuple[int | None, str]:
        """Wait for the server to close; ``(code, reason)``. A data frame instead fails."""
        try:
            data = self.raw.recv(timeout if timeout is not None else self._timeout)
        except ConnectionClosed as exc:
            closed = _closed(exc)
            return closed.code, closed.reason
        raise AssertionError(f"expected the connection to close, got {data!r}")

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code`` and ``reason`` and wait for the closing handshake."""
        self.raw.close(code, reason)

    def __enter__(self) -> TestWebSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.raw.close()


class AsyncTestWebSocket:
    """An asyncio WebSocket connection to the app under test."""

    __test__ = False

    def __init__(self, conn: AsyncClientConnection, timeout: float) -> None:
        self.raw = conn
        """The underlying ``websockets.asyncio.client.ClientConnection``."""
        self._timeout = timeout

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected (``None``: none)."""
        return self.raw.subprotocol

    async def send_json(self, value: Any) -> None:
        """Send ``value`` as JSON in a text frame."""
        await self.raw.send(json.dumps(value))

    async def send_text(self, text: str) -> None:
        """Send ``text`` as a text frame, as is."""
        await self.raw.send(text)

    async def send_bytes(self, data: bytes) -> None:
        """Send ``data`` as a binary frame."""
        await self.raw.send(data)

    async def receive(self, timeout: float | None = None) -> Data:
        """The next message (``str`` or ``bytes``). Raises :class:`Closed` if the server closed,
        ``TimeoutError`` after ``timeout`` seconds (default: the client's)."""
        try:
            async with asyncio.timeout(timeout if timeout is not None else self._timeout):
                return await self.raw.recv()
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def receive_text(self, timeout: float | None = None) -> str:
        """The next message, which must be a text frame."""
        return _expect_text(await self.receive(timeout))

    async def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next message, which must be a binary frame."""
        return _expect_bytes(await self.receive(timeout))

    async def receive_json(self, timeout: float | None = None) -> Any:
        """The next message, a text frame, parsed as JSON."""
        return json.loads(await self.receive_text(timeout))

    async def receive_close(self, timeout: float | None = None) -> tuple[int | None, str]:
        """Wait for the server to close; ``(code, reason)``. A data frame instead fails."""
        try:
            async with asyncio.timeout(timeout if timeout is not None else self._timeout):
                data = await self.raw.recv()
        except ConnectionClosed as exc:
            closed = _closed(exc)
            return closed.code, closed.reason
        raise AssertionError(f"expected the connection to close, got {data!r}")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code`` and ``reason`` and wait for the closing handshake."""
        await self.raw.close(code, reason)


class _Connect:
    """``client.connect(path)``: use with ``with`` (blocking) or ``async with`` (asyncio)."""

    def __init__(
        self, url: str, headers: Mapping[str, str] | None, subprotocols: Sequence[str], timeout: float
    ) -> None:
        self._url = url
        self._headers = dict(headers or {})
        self._subprotocols = [Subprotocol(p) for p in subprotocols] or None
        self._timeout = timeout
        self._sync: TestWebSocket | None = None
        self._async: AsyncTestWebSocket | None = None

    def __enter__(self) -> TestWebSocket:
        try:
            conn = sync_connect(
                self._url,
                additional_headers=self._headers,
                subprotocols=self._subprotocols,
                open_timeout=self._timeout,
                **_OPTIONS,
            )
        except InvalidStatus as exc:
            raise _rejected(exc) from None
        self._sync = TestWebSocket(conn.__enter__(), self._timeout)  # this object manages it
        return self._sync

    def __exit__(self, *exc: object) -> None:
        if self._sync is not None:
            self._sync.raw.close()

    async def __aenter__(self) -> AsyncTestWebSocket:
        try:
            conn = await async_connect(
                self._url,
                additional_headers=self._headers,
                subprotocols=self._subprotocols,
                open_timeout=self._timeout,
                **_OPTIONS,
            )
        except InvalidStatus as exc:
            raise _rejected(exc) from None
        self._async = AsyncTestWebSocket(conn, self._timeout)
        return self._async

    async def __aexit__(self, *exc: object) -> None:
        if self._async is not None:
            await self._async.raw.close()


class TestClient:
    """Runs ``app`` on ``127.0.0.1`` (a free port) for the duration of a test.

    The server starts when the client is made and stops (gracefully: every ``on_disconnect``
    runs) on :meth:`close`, at the end of a ``with``/``async with`` block.
    """

    __test__ = False

    def __init__(self, app: Spikard, *, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        """Args:
        app: the app under test.
        host: the address to bind.
        timeout: seconds each connect and receive waits by default.
        """
        self.app = app
        self.timeout = timeout
        self.server: Server = app.start(host, 0)
        """The running server (``.port``, ``.metrics()``)."""

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT``."""
        return self.server.url

    def connect(
        self, path: str, *, headers: Mapping[str, str] | None = None, subprotocols: Sequence[str] = ()
    ) -> _Connect:
        """Open a connection to ``path`` (query string allowed), with extra request headers,
        offering ``subprotocols`` (the selected one is ``ws.subprotocol``).

        Raises :class:`UpgradeRejected` when the server refuses the upgrade.
        """
        return _Connect(self.url + path, headers, subprotocols, self.timeout)

    def capture(self, topic: str) -> PublishCapture:
        """Record every message published to ``topic`` from now on (see
        :meth:`spikard.Server.capture`): ``with client.capture("room:lobby") as published:``."""
        return self.server.capture(topic)

    def close(self) -> None:
        """Stop the server gracefully and wait until it stopped."""
        self.server.stop()

    def __enter__(self) -> TestClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> TestClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.close)
