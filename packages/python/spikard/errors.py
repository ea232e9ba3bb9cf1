"""Exceptions raised by Spikard.

Every exception carries a stable, machine-readable ``code`` shared with the Rust core and the
other language packages (see ``docs/protocol.md``), so code may branch on ``err.code`` instead of
parsing messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict

__all__ = [
    "BindError",
    "ConfigError",
    "ConnectionClosedError",
    "DuplicateRouteError",
    "FieldError",
    "HandlerError",
    "InvalidCloseError",
    "InvalidMessage",
    "InvalidPathError",
    "InvalidStateError",
    "PubSubUnavailableError",
    "PublishError",
    "QueueFullError",
    "Rejection",
    "SchemaCompileError",
    "SchemaExtractionError",
    "ServeError",
    "SpikardError",
]


class SpikardError(Exception):
    """Base class of every error Spikard raises.

    Attributes:
        code: the stable error code (``"schema_compile"``, ``"bind_failed"``, ...).
        route: the route path the error is about, when it is about one.
    """

    code: str = "spikard_error"

    def __init__(self, message: str, *, route: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.route = route


class SchemaCompileError(SpikardError, ValueError):
    """A route's message or response schema is not a valid JSON Schema."""

    code = "schema_compile"


class InvalidPathError(SpikardError, ValueError):
    """A route path cannot be served (it must start with ``/`` and have no query)."""

    code = "invalid_path"


class DuplicateRouteError(SpikardError, ValueError):
    """Two routes of one app have the same path."""

    code = "duplicate_route"


class ConfigError(SpikardError, ValueError):
    """A setting is out of range (for example a zero ``max_message_size``)."""

    code = "invalid_config"


class BindError(SpikardError, OSError):
    """The server could not bind its address (in use, not permitted, not local)."""

    code = "bind_failed"


class ServeError(SpikardError):
    """The server failed while serving (its listener broke)."""

    code = "serve_failed"


class PubSubUnavailableError(SpikardError, ConnectionError):
    """The shared pub/sub backend (the ``pubsub`` Redis URL or ``SPIKARD_PUBSUB``) could not be
    reached when the server started; it does not start with rooms split from the other nodes'."""

    code = "pubsub_unavailable"


class SchemaExtractionError(SpikardError, TypeError):
    """A handler's annotation cannot be turned into a JSON Schema (raised at decoration)."""

    code = "schema_extraction"


class ConnectionClosedError(SpikardError):
    """A message could not be sent: the connection is closed, or the client stopped reading
    and its outgoing queue is full (it is then closed with 1013)."""

    code = "connection_closed"


class FieldError(TypedDict):
    """One failing location of a value checked against a JSON Schema."""

    path: str
    """JSON pointer to the failing value (``""`` for the value itself)."""
    message: str
    """What is wrong there."""
    keyword: str
    """The JSON Schema keyword that failed (``"type"``, ``"maxLength"``, ...)."""


class InvalidMessage(SpikardError, ValueError):
    """A message that passed the route's JSON Schema but that the handler's type system refused
    (pydantic's or msgspec's strict JSON decoding, say ``1.0`` for an ``int``).

    The client gets a ``validation_failed`` envelope listing :attr:`errors`, exactly as for a
    message the core refused; the handler does not run. A handler may raise it too, to refuse a
    message with pointers of its own.

    Attributes:
        code: ``"validation_failed"``.
        errors: every failing location (JSON pointer, message, keyword). Messages never carry
            the input value.
    """

    code = "validation_failed"

    def __init__(
        self, errors: Iterable[FieldError], message: str = "message does not match its type"
    ) -> None:
        super().__init__(message)
        self.errors: list[FieldError] = list(errors)


class PublishError(SpikardError, ValueError):
    """A message published to a topic does not match the schema declared for it with
    :meth:`Spikard.topic <spikard.Spikard.topic>`; it was queued for nobody.

    Raised by ``ws.publish``, ``ws.publish_others``, ``app.publish`` and ``app.publish_sync``.
    Uncaught in a handler, it becomes the usual ``handler_error`` envelope, whose ``message`` is
    this error's message (the same text in every Spikard language).

    Attributes:
        code: ``"publish_invalid"``.
        topic: the topic the message was published to.
        errors: every failing location, as in a ``validation_failed`` envelope.
    """

    code = "publish_invalid"

    def __init__(
        self, message: str, *, topic: str, errors: Iterable[FieldError] = (), code: str | None = None
    ) -> None:
        super().__init__(message)
        self.topic = topic
        self.errors: list[FieldError] = list(errors)
        if code is not None:
            self.code = code


class Rejection(Exception):
    """Raise in ``on_connect`` to refuse a connection.

    The upgrade is answered with HTTP ``status`` (403 by default) and a ``connection_rejected``
    error envelope carrying ``reason``; ``on_disconnect`` does not run.

    To accept the upgrade and then close with a WebSocket code instead (browsers hide HTTP
    statuses), call ``await ws.close(1008, "reason")`` in ``on_connect``.
    """

    def __init__(self, reason: str = "connection rejected", *, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class QueueFullError(ConnectionClosedError):
    """A send found the client's outgoing queue full: the client is not reading, and the
    connection is being closed with 1013."""

    code = "queue_full"


class InvalidCloseError(SpikardError, ValueError):
    """``close(code, reason)`` with a code a server may not send (use 1000-1003, 1007-1014 or
    3000-4999) or a reason longer than 123 bytes."""

    code = "invalid_close"


class InvalidStateError(SpikardError, RuntimeError):
    """An answer to a call that was already answered, or a refusal with a status that is not
    4xx or 5xx."""

    code = "invalid_state"


class HandlerError(Exception):
    """Raise in a handler to send the client a ``handler_error`` envelope with this message.

    Only this exception's message reaches the client. Any other exception is an internal
    error: the client gets ``"internal error"`` and the traceback is logged on the ``spikard``
    logger. The connection stays open either way.

    Attributes:
        message: the text sent to the client.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_BY_CODE: dict[str, type[SpikardError]] = {
    cls.code: cls
    for cls in (
        SchemaCompileError,
        InvalidPathError,
        DuplicateRouteError,
        ConfigError,
        BindError,
        ServeError,
        PubSubUnavailableError,
        ConnectionClosedError,
        QueueFullError,
        InvalidCloseError,
        InvalidStateError,
    )
}


def _from_native(
    code: str, message: str, route: str | None, topic: str | None, errors: list[FieldError]
) -> SpikardError:
    """Build the exception for a core error code (called by ``spikard._native``)."""
    if code == PublishError.code:
        return PublishError(message, topic=topic or "", errors=errors, code=code)
    cls = _BY_CODE.get(code, SpikardError)
    return cls(message, route=route)
