"""The connection context handed to handlers and hooks: :class:`WebSocket`.

Names follow Starlette: ``ws.path_params``, ``ws.query_params``, ``ws.headers``, ``ws.state``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

from spikard import _native

__all__ = ["Headers", "QueryParams", "State", "WebSocket"]


class State(SimpleNamespace):
    """Per-connection state: set any attribute, read it back on the next message.

    >>> state = State()
    >>> state.count = getattr(state, "count", 0) + 1
    >>> state.count
    1
    """


class _MultiMap(Mapping[str, str]):
    """An immutable mapping over ``(key, value)`` pairs where a key may repeat; ``m[key]`` is the
    first value, ``m.getlist(key)`` all of them."""

    __slots__ = ("_first", "_pairs")

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs
        first: dict[str, str] = {}
        for key, value in pairs:
            first.setdefault(key, value)
        self._first = first

    def __getitem__(self, key: str) -> str:
        return self._first[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def getlist(self, key: str) -> list[str]:
        """Every value of ``key``, in order (empty when absent)."""
        return [value for k, value in self._pairs if k == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every ``(key, value)`` pair, in order, repeats included."""
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._pairs!r})"


class QueryParams(_MultiMap):
    """The query string's parameters; ``params["q"]`` is the first value of ``q``."""

    __slots__ = ()


class Headers(_MultiMap):
    """The upgrade request's headers, case-insensitive; ``headers["x-a"]`` is the first value."""

    __slots__ = ()

    def __getitem__(self, key: str) -> str:
        return self._first[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._first

    def getlist(self, key: str) -> list[str]:
        """Every value of header ``key``, in order (empty when absent)."""
        return super().getlist(key.lower())


class WebSocket:
    """One WebSocket connection, as a handler or hook sees it.

    Take it by annotating a parameter with ``WebSocket`` (or naming an unannotated parameter
    ``ws`` or ``websocket``). The same object is passed for every message of the connection, so
    ``ws.state`` keeps values between messages.
    """

    __slots__ = ("_conn", "_headers", "_path_params", "_query_params", "state")

    def __init__(self, conn: _native.Connection) -> None:
        self._conn = conn
        self._path_params: dict[str, str] | None = None
        self._query_params: QueryParams | None = None
        self._headers: Headers | None = None
        self.state = State()
        """Per-connection state: any attributes you set."""

    @property
    def id(self) -> int:
        """A number unique to this connection within the process."""
        return self._conn.id

    @property
    def path(self) -> str:
        """The path the client connected to, without the query string."""
        return self._conn.path

    @property
    def route(self) -> str:
        """The route pattern that matched, e.g. ``/rooms/{room}``."""
        return self._conn.route

    @property
    def path_params(self) -> dict[str, str]:
        """The path's parameters, e.g. ``{"room": "lobby"}`` for ``/rooms/{room}``."""
        if self._path_params is None:
            self._path_params = dict(self._conn.path_params())
        return self._path_params

    @property
    def query_params(self) -> QueryParams:
        """The query string's parameters (``ws.query_params["q"]`` is the first ``q``)."""
        if self._query_params is None:
            self._query_params = QueryParams(self._conn.query_params())
        return self._query_params

    @property
    def headers(self) -> Headers:
        """The upgrade request's headers (case-insensitive)."""
        if self._headers is None:
            self._headers = Headers(self._conn.headers())
        return self._headers

    @property
    def cookies(self) -> dict[str, str]:
        """The upgrade request's cookies by name (the first value of a name sent twice)."""
        cookies: dict[str, str] = {}
        for name, value in self._conn.cookies():
            cookies.setdefault(name, value)
        return cookies

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol selected from the route's ``subprotocols`` (``None``: none)."""
        return self._conn.subprotocol

    @property
    def client(self) -> tuple[str, int]:
        """The client's ``(host, port)``."""
        return self._conn.remote_addr()

    @property
    def closing(self) -> bool:
        """``True`` once either side started closing the connection."""
        return self._conn.is_closing

    async def send(self, data: Any) -> None:
        """Send ``data`` now, outside the reply: ``bytes`` as a binary frame, anything else as
        JSON (dicts, lists, scalars, Pydantic models, msgspec Structs, dataclasses).

        Raises:
            ConnectionClosedError: the connection is closed, or the client stopped reading.
        """
        if isinstance(data, (bytes, bytearray)):
            self._conn.send_bytes(bytes(data))
        else:
            self._conn.send_json(data)

    async def send_json(self, data: Any) -> None:
        """Send ``data`` as JSON in a text frame."""
        self._conn.send_json(data)

    async def send_text(self, text: str) -> None:
        """Send ``text`` as a text frame, as is."""
        self._conn.send_text(text)

    async def send_bytes(self, data: bytes) -> None:
        """Send ``data`` as a binary frame."""
        self._conn.send_bytes(data)

    async def subscribe(self, topic: str) -> bool:
        """Join the room ``topic``: everything published to it reaches this connection until it
        unsubscribes or disconnects. In ``on_connect`` it takes effect before the upgrade
        completes, so a join notice published there reaches the newcomer too.

        Returns ``False`` when already subscribed, or when the connection is closing (also in
        ``on_disconnect``: a connection that ended has left its rooms and cannot rejoin).
        """
        return self._conn.subscribe(topic)

    async def unsubscribe(self, topic: str) -> bool:
        """Leave the room ``topic``; ``False`` when this connection was not in it."""
        return self._conn.unsubscribe(topic)

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """The rooms this connection is in, in the order it joined them."""
        return tuple(self._conn.subscriptions())

    async def publish(self, topic: str, data: Any) -> int:
        """Send ``data`` as JSON to every member of the room ``topic``, this connection included
        when it is one. Returns how many connections it was queued for (0 for an empty room).

        The value is converted once and the Rust core serialises it once and queues the same
        bytes for every member, without the GIL and without any Python per recipient. Anything
        :meth:`send` takes as JSON works (dicts, Pydantic models, msgspec Structs, dataclasses).

        Raises:
            TypeError: ``data`` has no JSON form (nothing is sent).
            PublishError: ``data`` does not match the topic's schema (declared with
                :meth:`Spikard.topic <spikard.Spikard.topic>`); nothing is sent.
        """
        return self._conn.publish(topic, data)

    async def publish_others(self, topic: str, data: Any) -> int:
        """Like :meth:`publish`, but never to this connection."""
        return self._conn.publish_others(topic, data)

    def topic_count(self, topic: str) -> int:
        """How many connections are in the room ``topic`` now."""
        return self._conn.topic_count(topic)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with ``code`` and ``reason`` once the messages sent before are
        out. In ``on_connect`` this accepts the upgrade and closes right after it."""
        self._conn.close(code, reason)

    def __repr__(self) -> str:
        return f"<WebSocket id={self.id} path={self.path!r}>"
