"""The application: :class:`Spikard` (routes and settings) and :class:`Server` (a running app)."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any, ParamSpec, TypedDict, TypeVar

from spikard import _native
from spikard._runtime import Dispatcher, event_loop
from spikard.errors import DuplicateRouteError, SchemaExtractionError
from spikard.routing import WebSocketRoute, _caller_locals, _no_message_handler
from spikard.schema import JsonSchema, json_schema

__all__ = ["Compression", "PublishCapture", "Server", "Spikard"]

log = logging.getLogger("spikard")

DEFAULT_INFO: dict[str, str] = {"title": "Spikard app", "version": "1.0.0"}
"""The AsyncAPI Info Object of :meth:`Spikard.asyncapi` when none is given."""

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[[], Any])


def run_hook(loop: asyncio.AbstractEventLoop, hook: Callable[[], Any]) -> None:
    """Call a lifespan hook; when it returns an awaitable, run that on ``loop`` (the handlers'
    loop) and wait for it."""
    result = hook()
    if inspect.isawaitable(result):
        asyncio.run_coroutine_threadsafe(_awaited(result), loop).result()


async def _awaited(awaitable: Awaitable[Any]) -> None:
    await awaitable


class Compression(TypedDict, total=False):
    """The settings of the ``compression`` option of :class:`Spikard` (permessage-deflate, RFC
    7692), each optional: ``Spikard(compression={"threshold": 256})``."""

    threshold: int
    """Messages the server sends (replies, pushes, published messages) of at least this many
    payload bytes go out compressed, shorter ones as they are (default 1024; 0 compresses
    every message)."""
    server_context_takeover: bool
    """Keep the server's compressor from one message to the next on each connection: better
    ratios for similar messages, at about 260 KiB per connection for as long as it lives
    (default ``False``: each message is compressed on its own and the compressor freed)."""
    level: int
    """zlib level of the messages the server compresses, 0 (stored) to 9 (smallest); default 1,
    the fastest (on a 16 KiB JSON document less than half the CPU of level 6, for a reply about
    17% larger). Other values raise :class:`~spikard.ConfigError` at start."""


class Spikard:
    """A Spikard application: WebSocket routes plus settings.

    ::

        app = Spikard(routes=[chat])

        @app.websocket("/echo")
        async def echo(message: dict) -> dict:
            return message

        app.run(host="127.0.0.1", port=8000)
    """

    def __init__(
        self,
        routes: Iterable[WebSocketRoute[..., Any]] = (),
        *,
        max_message_size: int | None = None,
        static_dir: str | os.PathLike[str] | None = None,
        drain_timeout: float | None = None,
        outgoing_queue: int | None = None,
        outgoing_queue_bytes: int | None = None,
        fanout_flush_interval: float | None = None,
        handshake_timeout: float | None = None,
        max_request_head: int | None = None,
        max_header_size: int | None = None,
        max_connections: int | None = None,
        allowed_origins: Iterable[str] | None = None,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        idle_timeout: float | None = None,
        on_startup: Iterable[Callable[[], Any]] = (),
        on_shutdown: Iterable[Callable[[], Any]] = (),
        pubsub: str | None = None,
        asyncapi: dict[str, Any] | None = None,
        compression: bool | Compression | None = None,
    ) -> None:
        """Args:
        routes: routes made with :func:`spikard.websocket` or :func:`spikard.dispatch`.
        max_message_size: largest message in bytes for routes without their own limit
            (default 1 MiB); larger messages close the connection with 1009.
        outgoing_queue: capacity of each connection's outgoing queue, in messages (default
            1024); a client that stops reading is closed with 1013 once its queue is full.
        outgoing_queue_bytes: the same queue's capacity in payload bytes (default 4 MiB); a
            reply or push that would take a client's queue past it closes the client with 1013.
        ping_interval: seconds between the server's pings to each connection (default 25; 0
            sends none).
        ping_timeout: seconds a ping waits for its pong (default 20); then the connection is
            closed with 1011 (``ping timeout``) and ``on_disconnect`` gets 1011.
        idle_timeout: seconds without a message from the client before it is closed with 1001
            (``idle timeout``; default ``None``: never). Pongs do not count.
        fanout_flush_interval: the longest, in seconds, that a subscriber's published messages
            are held while some connection is still handling messages that were already
            waiting (default 0.001; 0 holds nothing). What such a burst publishes then leaves
            in one socket write per subscriber. Replies and direct sends are never held.
        static_dir: serve this directory's files on every other path (``index.html`` for
            directories), e.g. a browser client.
        drain_timeout: seconds graceful shutdown waits for connections to close (default 10).
            Connections still open after it (a handler that never returns) are dropped
            without their ``on_disconnect``; the server stops within it plus about a second.
        handshake_timeout: seconds a connection has to send its request head, and
            ``on_connect`` to decide (default 10). A silent or half-sent handshake is closed;
            an ``on_connect`` that runs out gets HTTP 503.
        max_request_head: largest request head (request line and headers) in bytes (default
            16 KiB); a longer one gets HTTP 431.
        max_header_size: largest single header (name and value) in bytes (default 8 KiB); a
            longer one gets HTTP 431.
        max_connections: most WebSocket connections open at once (default 10,000); past it
            an upgrade gets HTTP 503 before ``on_connect`` runs.
        allowed_origins: accept upgrades only from these origins, written as browsers send
            them (``"https://chat.example.com"``; default: any origin). A missing or unlisted
            ``Origin`` header gets HTTP 403 before ``on_connect`` runs. Browsers send it with
            every WebSocket handshake; clients outside a browser must send a listed one.
        on_startup: callables (``def`` or ``async def``, no parameters) run in order each time
            the app starts, before it binds; an ``async def`` runs on the loop that runs the
            handlers, so a pool it opens is bound to that loop. One that raises stops the start
            (the exception propagates). Also :meth:`on_startup` as a decorator.
        on_shutdown: callables run in order once a started server has stopped (every
            connection closed, every ``on_disconnect`` run); one that raises is logged and the
            others still run. Also :meth:`on_shutdown` as a decorator.
        pubsub: share rooms with every other server (process, machine, language) that uses
            the same backend: a Redis URL such as ``"redis://127.0.0.1:6379/0"``, or
            ``"local"`` (default, unless the ``SPIKARD_PUBSUB`` environment variable names
            one). See ``docs/scaling.md``.
        asyncapi: serve the app's AsyncAPI 3.0 document (:meth:`asyncapi`) over HTTP GET:
            ``{"path": "/asyncapi.json", "info": {"title": ..., "version": ...}}`` (``info``
            optional). The core builds it once, at start.
        compression: negotiate permessage-deflate (RFC 7692) with clients that offer it (every
            browser does): ``True`` with the defaults, or a :class:`Compression` dict such as
            ``{"threshold": 256, "server_context_takeover": True}``. Off by default (``None``
            or ``False``): it costs CPU per message and memory per connection, and secrets
            compressed together with input an attacker chooses can leak (CRIME/BREACH). Size
            limits and schemas apply to the inflated message. An invalid value raises
            :class:`~spikard.ConfigError` at start. See ``docs/python.md``, "Compression".
        """
        self._routes: list[WebSocketRoute[..., Any]] = []
        self._servers: tuple[Server, ...] = ()  # running; replaced whole under the lock
        self._servers_lock = threading.Lock()
        self.max_message_size = max_message_size
        self.static_dir = static_dir
        self.drain_timeout = drain_timeout
        self.outgoing_queue = outgoing_queue
        self.outgoing_queue_bytes = outgoing_queue_bytes
        self.fanout_flush_interval = fanout_flush_interval
        self.handshake_timeout = handshake_timeout
        self.max_request_head = max_request_head
        self.max_header_size = max_header_size
        self.max_connections = max_connections
        self.allowed_origins = None if allowed_origins is None else list(allowed_origins)
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.idle_timeout = idle_timeout
        self.pubsub = pubsub
        self.asyncapi_route = None if asyncapi is None else dict(asyncapi)
        """The ``asyncapi`` option: where the document is served, and its Info Object."""
        self.compression = compression.copy() if isinstance(compression, dict) else compression
        """The ``compression`` option: ``None``/``False`` (off), ``True`` or its settings."""
        self._topic_schemas: dict[str, JsonSchema | bool] = {}
        self._on_startup: list[Callable[[], Any]] = list(on_startup)
        self._on_shutdown: list[Callable[[], Any]] = list(on_shutdown)
        for route in routes:
            self.add_route(route)

    @property
    def routes(self) -> tuple[WebSocketRoute[..., Any], ...]:
        """The routes, in registration order."""
        return tuple(self._routes)

    def add_route(self, route: WebSocketRoute[..., Any]) -> None:
        """Add a route made with :func:`spikard.websocket` or :func:`spikard.dispatch`.

        Raises:
            DuplicateRouteError: a route with this path is already registered.
        """
        if not isinstance(route, WebSocketRoute):
            raise TypeError(f"expected a route made with @websocket, got {route!r}")
        if any(existing.path == route.path for existing in self._routes):
            raise DuplicateRouteError(
                f"route {route.path}: a route with this path is already registered", route=route.path
            )
        self._routes.append(route)

    def websocket(
        self,
        path: str,
        *,
        message_schema: JsonSchema | bool | None = None,
        response_schema: JsonSchema | bool | None = None,
        max_message_size: int | None = None,
        raw_text: bool = False,
        subprotocols: Sequence[str] = (),
        description: str | None = None,
        discriminator: str = "type",
    ) -> Callable[[Callable[P, R]], WebSocketRoute[P, R]]:
        """Like :func:`spikard.websocket`, and adds the route to this app."""

        def decorate(handler: Callable[P, R]) -> WebSocketRoute[P, R]:
            route = WebSocketRoute(
                path,
                handler,
                message_schema=message_schema,
                response_schema=response_schema,
                max_message_size=max_message_size,
                raw_text=raw_text,
                subprotocols=subprotocols,
                localns=_caller_locals(None),
                description=description,
                discriminator=discriminator,
            )
            self.add_route(route)
            return route

        return decorate

    def dispatch(
        self,
        path: str,
        *,
        discriminator: str = "type",
        description: str | None = None,
        max_message_size: int | None = None,
        subprotocols: Sequence[str] = (),
    ) -> WebSocketRoute[[Any], Any]:
        """Like :func:`spikard.dispatch`, and adds the route to this app: register its message
        types with ``@route.on("name")``."""
        route = WebSocketRoute(
            path,
            _no_message_handler,
            max_message_size=max_message_size,
            subprotocols=subprotocols,
            localns=_caller_locals(None),
            description=description,
            discriminator=discriminator,
        )
        self.add_route(route)
        return route

    def topic(self, pattern: str, *, schema: Any) -> None:
        """Declare the schema of the topics (rooms) matching ``pattern``: every message
        published to them (``ws.publish``, ``ws.publish_others``, ``app.publish``) must satisfy
        it, or the publish raises :class:`~spikard.PublishError` and nobody receives it.

        ``pattern`` is a topic name (``"news"``) or a prefix followed by one ``*`` (``"news*"``
        matches ``news``, ``newsroom`` and ``news/eu``); an exact name beats a prefix, a longer
        prefix beats a shorter one. ``schema`` takes every form a route's schema does: a
        TypedDict, a Pydantic model, a msgspec Struct, a dataclass or any supported annotation
        (its serialization schema: what the published value turns into), or a JSON Schema
        ``dict`` (or ``True``/``False``). The Rust core validates each published message once,
        before fan-out, without the GIL. Declare topics before the app starts.

        Raises:
            ConfigError: ``pattern`` is empty or has a ``*`` elsewhere than at its end, or is
                already declared.
            SchemaCompileError: the schema is not a valid JSON Schema.
            SchemaExtractionError: the annotation has no JSON Schema.
            RuntimeError: the app is running.
        """
        if self._servers:
            raise RuntimeError("declare topic schemas before the app starts")
        if isinstance(schema, (dict, bool)):
            compiled: JsonSchema | bool = schema
        else:
            try:
                derived = json_schema(schema, mode="serialization")
            except SchemaExtractionError as exc:
                raise SchemaExtractionError(f"topic {pattern}: cannot derive the schema: {exc}") from None
            compiled = True if derived is None else derived
        _native.check_topics([*self._topic_schemas.items(), (pattern, compiled)])
        self._topic_schemas[pattern] = compiled

    @property
    def topic_schemas(self) -> dict[str, JsonSchema | bool]:
        """The declared topic schemas as JSON Schemas, by pattern, in declaration order."""
        return dict(self._topic_schemas)

    def on_startup(self, hook: F) -> F:
        """Register ``hook`` (no parameters, ``def`` or ``async def``) to run each time the app
        starts, before it binds, after the hooks registered before it."""
        self._on_startup.append(hook)
        return hook

    def on_shutdown(self, hook: F) -> F:
        """Register ``hook`` (no parameters, ``def`` or ``async def``) to run once a started
        server has stopped, after the hooks registered before it."""
        self._on_shutdown.append(hook)
        return hook

    def start(self, host: str = "127.0.0.1", port: int = 0, *, reuse_port: bool = False) -> Server:
        """Bind ``host:port`` and serve in the background (port 0 picks a free port).
        ``reuse_port`` binds with ``SO_REUSEPORT``, so that several processes share the port
        (``spikard run --workers N``).

        Returns the running :class:`Server`; ``server.stop()`` shuts it down gracefully.

        Raises:
            BindError: the address cannot be bound.
            PubSubUnavailableError: the ``pubsub`` backend cannot be reached.
            SchemaCompileError, InvalidPathError, DuplicateRouteError, ConfigError: a route or
                setting is invalid.
        """
        loop = event_loop()
        for hook in self._on_startup:
            run_hook(loop, hook)
        bridge = _native.Bridge()
        native = _native.App(bridge)
        native.configure(self._settings(reuse_port))
        for index, route in enumerate(self._routes):
            native.add_route(index, route.spec())
        dispatcher = Dispatcher(loop, bridge, self._routes)
        dispatcher.attach()
        try:
            native_server = native.bind(host, port)
        except BaseException:
            dispatcher.detach()
            raise
        server = Server(native_server, dispatcher, self._stopped)
        with self._servers_lock:
            self._servers = (*self._servers, server)
        return server

    def _settings(self, reuse_port: bool) -> dict[str, Any]:
        """The app-wide settings as the core reads them (``spikard._native.App.configure``)."""
        return {
            "max_message_size": self.max_message_size,
            "static_dir": None if self.static_dir is None else os.fspath(self.static_dir),
            "drain_timeout": self.drain_timeout,
            "outgoing_queue": self.outgoing_queue,
            "outgoing_queue_bytes": self.outgoing_queue_bytes,
            "fanout_flush_interval": self.fanout_flush_interval,
            "handshake_timeout": self.handshake_timeout,
            "max_request_head": self.max_request_head,
            "max_header_size": self.max_header_size,
            "max_connections": self.max_connections,
            "allowed_origins": self.allowed_origins,
            "ping_interval": self.ping_interval,
            "ping_timeout": self.ping_timeout,
            "idle_timeout": self.idle_timeout,
            "topics": [[pattern, schema] for pattern, schema in self._topic_schemas.items()],
            "pubsub": self.pubsub,
            "reuse_port": reuse_port,
            "asyncapi": self.asyncapi_route,
            "compression": self.compression,
        }

    def asyncapi(self, info: dict[str, Any] | None = None) -> dict[str, Any]:
        """The app's AsyncAPI 3.0 document, built by the Rust core from the routes: a channel per
        route (with its path parameters), a receive operation per message type (per branch of
        a dispatching route) with the reply and the error envelope as its replies, payloads
        from the message, reply and topic schemas, descriptions from ``description=`` and the
        branch handlers' docstrings.

        Args:
            info: the document's Info Object (``title``, ``version``, ``description``, ...);
                default: the ``info`` of the ``asyncapi`` option, else
                ``{"title": "Spikard app", "version": "1.0.0"}``.

        Raises:
            SchemaCompileError, InvalidPathError, DuplicateRouteError, ConfigError: a route or
                setting is invalid (as :meth:`start` would raise).
        """
        settings = self._settings(False)
        settings["pubsub"] = None  # described, never connected
        routes = [route.spec() for route in self._routes]
        if info is None:
            info = (self.asyncapi_route or {}).get("info") or dict(DEFAULT_INFO)
        document: dict[str, Any] = json.loads(_native.asyncapi(routes, settings, info))
        return document

    def _stopped(self, server: Server) -> None:
        with self._servers_lock:
            self._servers = tuple(s for s in self._servers if s is not server)
        for hook in self._on_shutdown:
            try:
                run_hook(event_loop(), hook)
            except Exception:
                log.exception("on_shutdown hook %s raised", getattr(hook, "__qualname__", hook))

    async def publish(self, topic: str, data: Any) -> int:
        """Send ``data`` as JSON to every member of the room ``topic``, from anywhere: a handler
        of another route, a background task, a timer, an event loop on another thread.

        Returns how many of this server's connections it was queued for: 0 for an empty room,
        and 0 while the app is not running. With ``pubsub`` set it also reaches the members on
        every other server sharing the backend. The Rust core serialises ``data`` once and
        queues the same bytes for every member, without the GIL. From code that is not async (a
        plain thread, a ``def`` handler), call :meth:`publish_sync`, which does the same.

        Raises:
            TypeError: ``data`` has no JSON form (nothing is sent).
            PublishError: ``data`` does not match the topic's schema (see :meth:`topic`;
                nothing is sent).
        """
        return self.publish_sync(topic, data)

    def publish_sync(self, topic: str, data: Any) -> int:
        """:meth:`publish` for code that is not async; safe from any thread. It never blocks:
        like :meth:`publish`, it only queues the message for each member."""
        return sum(server._native.publish(topic, data) for server in self._servers)

    def topic_count(self, topic: str) -> int:
        """How many of this server's connections are in the room ``topic`` now (0 while the app
        is not running). Node-local: members on other servers sharing ``pubsub`` are not counted."""
        return sum(server._native.topic_count(topic) for server in self._servers)

    def topics(self) -> list[str]:
        """Every room with at least one member, sorted (empty while the app is not running)."""
        servers = self._servers
        if len(servers) == 1:
            return servers[0]._native.topics()
        return sorted({topic for server in servers for topic in server._native.topics()})

    def run(self, host: str = "127.0.0.1", port: int = 8000, *, reuse_port: bool = False) -> None:
        """Serve on ``host:port`` until Ctrl-C or SIGTERM, then shut down gracefully: stop
        accepting, close every connection with 1001, run every ``on_disconnect``, return.

        Logs ``spikard listening on ws://HOST:PORT`` (``INFO``, logger ``spikard``) once bound and
        the signal handlers are in place. When logging is not configured (no handler on
        ``spikard`` or the root logger), the ``spikard`` logger writes its ``INFO`` records and
        above to stderr while this runs. A second Ctrl-C during the shutdown raises
        ``KeyboardInterrupt`` at once.
        """
        with _show_info_when_unconfigured():
            server = self.start(host, port, reuse_port=reuse_port)
            server._serve_until_signal(announce=True)


class PublishCapture:
    """The messages published to one topic since :meth:`Server.capture` (or
    ``TestClient.capture``), in order. A context manager: leaving it stops the recording and
    keeps what was recorded."""

    def __init__(self, topic: str, native: _native.Capture) -> None:
        self.topic = topic
        """The topic it records."""
        self._native = native
        self._final: list[Any] | None = None

    @property
    def messages(self) -> list[Any]:
        """The messages published so far, oldest first, as JSON values (dicts, lists, ...)."""
        return self._native.messages() if self._final is None else list(self._final)

    def stop(self) -> None:
        """Stop recording; :attr:`messages` keeps what was recorded."""
        if self._final is None:
            self._final = self._native.messages()
            self._native.stop()

    def __enter__(self) -> PublishCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Server:
    """A running app. Made by :meth:`Spikard.start`; a context manager that stops it on exit."""

    def __init__(
        self,
        native: _native.Server,
        dispatcher: Dispatcher,
        on_stopped: Callable[[Server], None],
    ) -> None:
        self._native = native
        self._dispatcher = dispatcher
        self._on_stopped = on_stopped
        self._detached = threading.Lock()
        self._done = False

    @property
    def host(self) -> str:
        """The bound IP address."""
        return self._native.host

    @property
    def port(self) -> int:
        """The bound port (the real one when port 0 was asked for)."""
        return self._native.port

    @property
    def url(self) -> str:
        """``ws://host:port``, to which a route path is appended."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    def metrics(self) -> dict[str, int]:
        """The server's counters (connections, messages, errors, dropped replies, ...)."""
        return self._native.metrics()

    def capture(self, topic: str) -> PublishCapture:
        """Record every message published to ``topic`` from now on, whoever publishes it (a
        handler, :meth:`Spikard.publish`, a room nobody is in), for tests: Action Cable's
        ``assert_broadcast_on``. A publish the topic's schema refused is not recorded."""
        return PublishCapture(topic, self._native.capture(topic))

    def shutdown(self) -> None:
        """Start a graceful shutdown and return at once (see :meth:`wait`)."""
        self._native.shutdown()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the server stopped (at most ``timeout`` seconds); ``True`` once stopped.

        Raises:
            ServeError: the server failed while serving.
        """
        stopped = self._native.wait(timeout)
        if stopped:
            self._release()
        return stopped

    def stop(self, timeout: float | None = None) -> bool:
        """Shut down gracefully and wait until every connection closed and every
        ``on_disconnect`` ran (at most ``timeout`` seconds)."""
        self.shutdown()
        return self.wait(timeout)

    def serve_until_signal(self) -> None:
        """Block until SIGINT or SIGTERM (then shut down gracefully) or until the server stops.

        Signal handlers are only installed when called from the main thread.
        """
        self._serve_until_signal(announce=False)

    def _serve_until_signal(self, *, announce: bool) -> None:
        # `announce` logs the listening line once the handlers are in place: a supervisor that
        # signals as soon as it reads the line must reach them, not Python's default handler.
        stopped = threading.Event()

        def watch() -> None:
            self._native.wait(None)
            stopped.set()

        threading.Thread(target=watch, name="spikard-wait", daemon=True).start()
        if threading.current_thread() is not threading.main_thread():
            if announce:
                log.info("spikard listening on %s", self.url)
            stopped.wait()
            self.wait()
            return
        previous: dict[signal.Signals, Any] = {}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            print(
                f"spikard: {signal.Signals(signum).name} received, shutting down", file=sys.stderr, flush=True
            )
            for restored, handler in previous.items():  # a second signal acts at once
                signal.signal(restored, handler)
            self.shutdown()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
        try:
            if announce:
                log.info("spikard listening on %s", self.url)
            stopped.wait()  # interruptible: signal handlers run while waiting
        finally:
            for restored, handler in previous.items():
                signal.signal(restored, handler)
        self.wait()

    def _release(self) -> None:
        with self._detached:
            if not self._done:
                self._done = True
                self._dispatcher.detach()
                self._on_stopped(self)

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def _show_info_when_unconfigured() -> Iterator[None]:
    """While the block runs, have the ``spikard`` logger write ``INFO`` and above to stderr if
    logging is not configured at all (as Flask's and uvicorn's ``run`` do); otherwise change
    nothing, so an app's own handlers and levels decide."""
    if log.hasHandlers():
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    level = log.level
    log.addHandler(handler)
    if level == logging.NOTSET:
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
