"""Spikard: WebSockets for Python on a Rust core.

::

    from spikard import Spikard, websocket

    @websocket("/echo")
    async def echo(message: dict) -> dict:
        return message

    Spikard(routes=[echo]).run(host="127.0.0.1", port=8000)

Parsing, JSON Schema validation (schemas derived from your type hints), size limits, error
envelopes and graceful shutdown happen in Rust; handlers run on one asyncio event loop thread.
"""

from spikard.app import Compression, PublishCapture, Server, Spikard
from spikard.connection import Headers, QueryParams, State, WebSocket
from spikard.errors import (
    BindError,
    ConfigError,
    ConnectionClosedError,
    DuplicateRouteError,
    FieldError,
    HandlerError,
    InvalidCloseError,
    InvalidMessage,
    InvalidPathError,
    InvalidStateError,
    PublishError,
    PubSubUnavailableError,
    QueueFullError,
    Rejection,
    SchemaCompileError,
    SchemaExtractionError,
    ServeError,
    SpikardError,
)
from spikard.routing import Branch, WebSocketRoute, dispatch, websocket

__version__ = "0.1.0"  # the distribution's version (pyproject.toml); test_cli.py checks they agree

__all__ = [
    "BindError",
    "Branch",
    "Compression",
    "ConfigError",
    "ConnectionClosedError",
    "DuplicateRouteError",
    "FieldError",
    "HandlerError",
    "Headers",
    "InvalidCloseError",
    "InvalidMessage",
    "InvalidPathError",
    "InvalidStateError",
    "PubSubUnavailableError",
    "PublishCapture",
    "PublishError",
    "QueryParams",
    "QueueFullError",
    "Rejection",
    "SchemaCompileError",
    "SchemaExtractionError",
    "ServeError",
    "Server",
    "Spikard",
    "SpikardError",
    "State",
    "WebSocket",
    "WebSocketRoute",
    "__version__",
    "dispatch",
    "websocket",
]
