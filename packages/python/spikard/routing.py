"""Routes: the ``@websocket`` decorator, :class:`WebSocketRoute`, and how handlers are called.

A handler's parameters are filled by what they ask for:

- the **message**: the parameter named ``message`` (or else the first parameter that is not the
  connection); its annotation gives the route's message schema and the value the handler
  receives: what the annotation's type system builds from the message's JSON (see
  :mod:`spikard.schema`);
- the **connection**: a parameter annotated :class:`~spikard.WebSocket`, or an unannotated one
  named ``ws`` or ``websocket``.

``on_disconnect`` hooks may also take ``code`` (the close code) and ``reason``.

A route may **dispatch by message type** (:func:`dispatch`, :meth:`WebSocketRoute.on`): each
value of a discriminator field (``"type"`` unless the route names another) has its own handler,
message schema, reply schema and description. The Rust core reads the field, picks the branch
and validates the message against that branch's schema only; the package only calls the
callable registered under the branch's name.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    Generic,
    Literal,
    ParamSpec,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from spikard import _native
from spikard.connection import WebSocket
from spikard.errors import ConfigError, SchemaExtractionError
from spikard.schema import Converter, JsonSchema, converter_for, json_schema

__all__ = ["Branch", "CallPlan", "WebSocketRoute", "dispatch", "websocket"]

P = ParamSpec("P")
R = TypeVar("R")
H = TypeVar("H", bound=Callable[..., Any])

Source = Literal["message", "ws", "code", "reason"]
Role = Literal["handler", "on_connect", "on_disconnect", "on_binary"]

_WS_NAMES = frozenset({"ws", "websocket"})


def _where(func: Callable[..., Any]) -> str:
    """``'name' (file.py:12)`` for messages about a function."""
    name = getattr(func, "__qualname__", repr(func))
    code = getattr(func, "__code__", None)
    if code is None:
        return repr(name)
    return f"{name!r} ({code.co_filename}:{code.co_firstlineno})"


def _hints(func: Callable[..., Any], path: str, localns: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return get_type_hints(func, localns=localns, include_extras=True)
    except Exception as exc:
        raise SchemaExtractionError(
            f"route {path}: cannot resolve the annotations of handler {_where(func)}: {exc}", route=path
        ) from None


def _is_websocket(annotation: Any) -> bool:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return isinstance(annotation, type) and issubclass(annotation, WebSocket)


@dataclass(frozen=True)
class CallPlan:
    """How to call a handler or hook: what goes in each parameter."""

    func: Callable[..., Any]
    positional: tuple[Source, ...]
    keywords: tuple[tuple[str, Source], ...]
    message_annotation: Any
    return_annotation: Any
    converter: Converter | None
    """The function turning the JSON message into the value its annotation's type system builds
    (raising :class:`~spikard.errors.InvalidMessage` where that type refuses it), if any."""


def plan_call(
    func: Callable[..., Any],
    role: Role,
    path: str,
    localns: dict[str, Any] | None = None,
    *,
    raw_text: bool = False,
) -> CallPlan:
    """Work out how to call ``func`` for ``role`` on route ``path``. ``localns`` resolves
    postponed annotations that name local types (the decorating scope's locals). On a
    ``raw_text`` route the handler's message is the ``str`` the client sent, never JSON: no type
    system decodes it.

    Raises:
        SchemaExtractionError: a parameter cannot be filled, or annotations do not resolve.
        ConfigError: a ``raw_text`` handler annotates its message with a type other than ``str``
            (or one meaning anything).
        TypeError: ``func`` is not callable.
    """
    if not callable(func):
        raise TypeError(f"route {path}: {role} must be callable, got {func!r}")
    hints = _hints(func, path, localns)
    params = list(inspect.signature(func).parameters.values())
    takes_message = role in ("handler", "on_binary")
    named_message = takes_message and any(p.name == "message" for p in params)
    message_taken = False
    message_annotation: Any = inspect.Parameter.empty
    positional: list[Source] = []
    keywords: list[tuple[str, Source]] = []
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(param.name, inspect.Parameter.empty)
        source: Source | None = None
        if _is_websocket(annotation) or (annotation is inspect.Parameter.empty and param.name in _WS_NAMES):
            source = "ws"
        elif takes_message and not message_taken and (param.name == "message" or not named_message):
            source = "message"
            message_taken = True
            message_annotation = annotation
        elif role == "on_disconnect" and param.name in ("code", "reason"):
            source = "code" if param.name == "code" else "reason"
        elif param.default is not param.empty:
            continue
        else:
            accepts = {
                "handler": "the message (named `message`, or the first parameter)",
                "on_binary": "the data (named `message`, or the first parameter)",
                "on_connect": "nothing else",
                "on_disconnect": "`code` and `reason`",
            }[role]
            raise SchemaExtractionError(
                f"route {path}: {role} {_where(func)} has a parameter {param.name!r} that Spikard cannot "
                f"fill; it passes the connection (annotated `WebSocket`, or named `ws`/`websocket`) and "
                f"{accepts}",
                route=path,
            )
        if param.kind == param.KEYWORD_ONLY or keywords or len(positional) != _index(params, param):
            keywords.append((param.name, source))
        else:
            positional.append(source)
    converter = None
    if role == "handler" and message_taken and raw_text:
        if message_annotation not in (str, Any, object, inspect.Parameter.empty):
            raise ConfigError(
                f"route {path}: a raw-text route's message is a `str`; the handler annotates it "
                f"{message_annotation!r}",
                route=path,
            )
    elif role == "handler" and message_taken:
        try:
            converter = converter_for(message_annotation)
        except SchemaExtractionError as exc:
            raise SchemaExtractionError(
                f"route {path}: cannot derive the message schema of handler {_where(func)}: {exc}", route=path
            ) from None
    return CallPlan(
        func=func,
        positional=tuple(positional),
        keywords=tuple(keywords),
        message_annotation=message_annotation,
        return_annotation=hints.get("return", inspect.Parameter.empty),
        converter=converter,
    )


def _caller_locals(fallback: dict[str, Any] | None, depth: int = 2) -> dict[str, Any] | None:
    """The locals of the function that applied a decorator (``depth`` frames up), so that
    postponed annotations may name types defined in that function; module scopes give
    ``fallback`` (their names resolve through the handler's globals anyway)."""
    frame = sys._getframe(depth)
    if frame.f_code.co_flags & inspect.CO_NEWLOCALS:
        return dict(frame.f_locals)
    return fallback


def _index(params: list[inspect.Parameter], param: inspect.Parameter) -> int:
    return next(i for i, p in enumerate(params) if p is param)


def _response_annotation(annotation: Any) -> Any:
    """The reply's type: ``X | None`` means "an X, or no reply", so ``None`` is dropped."""
    if annotation is None or annotation is type(None):
        return inspect.Parameter.empty
    args = get_args(annotation)
    if args and type(None) in args and get_origin(annotation) is not None:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _derive(func: Callable[..., Any], path: str, what: str, annotation: Any, mode: Any) -> JsonSchema | None:
    if annotation is bytes:
        return None
    try:
        return json_schema(annotation, mode=mode)
    except SchemaExtractionError as exc:
        raise SchemaExtractionError(
            f"route {path}: cannot derive the {what} schema of handler {_where(func)}: {exc}", route=path
        ) from None


@dataclass(frozen=True)
class Branch:
    """One message type of a dispatching route (see :meth:`WebSocketRoute.on`)."""

    name: str
    """The discriminator's value this branch handles."""
    plan: CallPlan
    """How its handler is called."""
    message_schema: JsonSchema | bool | None
    """The JSON Schema its messages must satisfy (``None``: any object with this type)."""
    reply_schema: JsonSchema | bool | None
    """The JSON Schema its replies must satisfy (``None``: no check)."""
    description: str | None
    """What this message type does, for the AsyncAPI document (the handler's docstring)."""


def _union_branches(annotation: Any, discriminator: str) -> list[tuple[str, type]] | None:
    """``[(name, member), ...]`` when ``annotation`` is a union of classes (TypedDicts,
    dataclasses, pydantic models, msgspec Structs) each with a field ``discriminator`` annotated
    with one string ``Literal``, all different; else ``None``."""
    if get_origin(annotation) not in (Union, types.UnionType):
        return None
    found: list[tuple[str, type]] = []
    for member in get_args(annotation):
        if not isinstance(member, type):
            return None
        try:
            field = get_type_hints(member).get(discriminator)
        except Exception:
            return None
        values = get_args(field) if get_origin(field) is Literal else ()
        if len(values) != 1 or not isinstance(values[0], str) or any(values[0] == n for n, _ in found):
            return None
        found.append((values[0], member))
    return found


def _own_doc(member: type) -> str | None:
    """A class's own docstring (not inherited, not the one ``@dataclass`` writes)."""
    doc = member.__dict__.get("__doc__")
    if not isinstance(doc, str) or (
        dataclasses.is_dataclass(member) and doc.startswith(member.__name__ + "(")
    ):
        return None
    return inspect.cleandoc(doc)


async def _no_message_handler(message: Any) -> None:
    """The message handler of a route made by :func:`dispatch`: the core hands every message of
    a dispatching route to a branch, never to it."""


class WebSocketRoute(Generic[P, R]):
    """A WebSocket route: a path, its message handler, optional hooks and schemas.

    Made by :func:`websocket` (or ``app.websocket``). Calling the route calls the handler, so
    handlers stay unit-testable::

        assert await echo({"a": 1}) == {"a": 1}
    """

    def __init__(
        self,
        path: str,
        handler: Callable[P, R],
        *,
        message_schema: JsonSchema | bool | None = None,
        response_schema: JsonSchema | bool | None = None,
        max_message_size: int | None = None,
        raw_text: bool = False,
        subprotocols: Sequence[str] = (),
        localns: dict[str, Any] | None = None,
        description: str | None = None,
        discriminator: str = "type",
    ) -> None:
        """Prefer :func:`websocket` or :func:`dispatch`. ``localns`` resolves postponed
        annotations naming types local to the defining function (the decorators pass their
        caller's locals)."""
        if raw_text and message_schema is not None:
            raise ConfigError(
                f"route {path}: a raw-text route takes no message schema (its messages are not JSON)",
                route=path,
            )
        self.path = path
        self.handler = handler
        self._localns = localns
        self.plan = plan_call(handler, "handler", path, localns, raw_text=raw_text)
        self.branches: dict[str, Branch] = {}
        """The branches by message type, in registration order (empty: no dispatch)."""
        members = None
        if message_schema is None and not raw_text:
            members = _union_branches(self.plan.message_annotation, discriminator)
            if members is None:
                message_schema = _derive(handler, path, "message", self.plan.message_annotation, "validation")
        if response_schema is None:
            response = _response_annotation(self.plan.return_annotation)
            response_schema = _derive(handler, path, "response", response, "serialization")
        for name, member in members or ():
            # `Join | Say | Leave` with a `Literal` discriminator: a branch per member, all
            # calling this handler, each with that member's schema and decoder.
            where = f"{path} ({discriminator}={name!r})"
            branch_schema = _derive(handler, where, "message", member, "validation")
            plan = dataclasses.replace(self.plan, message_annotation=member, converter=converter_for(member))
            self.branches[name] = Branch(name, plan, branch_schema, response_schema, _own_doc(member))
        for which, schema in (("message", message_schema), ("response", response_schema)):
            if schema is not None:
                _native.check_schema(path, which, schema)
        self.message_schema: JsonSchema | bool | None = message_schema
        """The JSON Schema every message must satisfy (``None``: no validation)."""
        self.response_schema: JsonSchema | bool | None = response_schema
        """The JSON Schema every reply must satisfy (``None``: no validation)."""
        self.max_message_size = max_message_size
        """This route's largest message in bytes (``None``: the app's limit)."""
        self.raw_text = raw_text
        """Text messages reach the handler as ``str``, unparsed; a ``str`` reply is sent as is."""
        self.subprotocols: tuple[str, ...] = tuple(subprotocols)
        """The subprotocols this route speaks, in order of preference (see ``ws.subprotocol``)."""
        self.description = description
        """What the route is for, in the AsyncAPI document (its channel's description)."""
        self.discriminator = discriminator
        """The field whose value picks the branch of a dispatching route (default ``"type"``)."""
        self.connect_plan: CallPlan | None = None
        self.disconnect_plan: CallPlan | None = None
        self.binary_plan: CallPlan | None = None
        self.__doc__ = getattr(handler, "__doc__", None)
        self.__name__ = getattr(handler, "__name__", "route")
        self.__qualname__ = getattr(handler, "__qualname__", self.__name__)
        self.__wrapped__ = handler

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.handler(*args, **kwargs)

    def on(
        self,
        name: str,
        *,
        message_schema: JsonSchema | bool | None = None,
        reply_schema: JsonSchema | bool | None = None,
        description: str | None = None,
    ) -> Callable[[H], H]:
        """Register the handler of messages whose discriminator (``"type"`` by default) is
        ``name``: the route then dispatches by message type, and its own message handler is no
        longer called (its hooks and binary handler are).

        The handler's parameters are filled as a route handler's are. Its message schema comes
        from ``message_schema`` or the message parameter's annotation (a TypedDict, pydantic
        model, msgspec Struct, dataclass...; the handler receives the value that type builds);
        its reply schema from ``reply_schema`` or the return annotation; its description (in the
        AsyncAPI document) from ``description`` or its docstring. The core validates each
        message against its branch's schema only; a message whose type names no branch gets a
        ``validation_failed`` envelope listing the allowed values. When a message carries an
        ``id`` (a string or an integer), an object reply carries the same ``id``::

            chat = dispatch("/chat")

            @chat.on("join")
            async def join(message: Join, ws: WebSocket) -> Joined:
                \"\"\"Join the chat.\"\"\"
                return {"joined": message["user"]}

        Raises:
            ConfigError: ``name`` already has a handler, or the route is raw text.
            SchemaExtractionError: an annotation has no JSON Schema, or a parameter cannot be filled.
            SchemaCompileError: a given schema is not a valid JSON Schema.
        """

        def register(handler: H) -> H:
            where = f"{self.path} ({self.discriminator}={name!r})"
            if self.raw_text:
                raise ConfigError(
                    f"route {self.path}: a raw-text route cannot dispatch by type", route=self.path
                )
            if name in self.branches:
                raise ConfigError(f"route {where}: this message type already has a handler", route=self.path)
            plan = plan_call(handler, "handler", where, _caller_locals(self._localns))
            message = message_schema
            if message is None:
                message = _derive(handler, where, "message", plan.message_annotation, "validation")
            reply = reply_schema
            if reply is None:
                reply = _derive(
                    handler, where, "reply", _response_annotation(plan.return_annotation), "serialization"
                )
            for which, schema in (("message", message), ("response", reply)):
                if schema is not None:
                    _native.check_schema(where, which, schema)
            text = description if description is not None else inspect.getdoc(handler)
            self.branches[name] = Branch(name, plan, message, reply, text)
            return handler

        return register

    def on_connect(self, hook: H) -> H:
        """Register the hook run before each connection is accepted.

        It may take the connection. Raise :class:`~spikard.Rejection` (or return ``False``) to
        refuse the upgrade with HTTP 403; ``await ws.close(code, reason)`` accepts and closes.
        """
        self.connect_plan = plan_call(hook, "on_connect", self.path, _caller_locals(self._localns))
        return hook

    def on_disconnect(self, hook: H) -> H:
        """Register the hook run exactly once after each accepted connection ended.

        It may take the connection, ``code`` (the close code) and ``reason``.
        """
        self.disconnect_plan = plan_call(hook, "on_disconnect", self.path, _caller_locals(self._localns))
        return hook

    def on_binary(self, handler: H) -> H:
        """Register the handler of binary frames (without one, a binary frame closes the
        connection with 1003). It receives ``bytes``; returning ``bytes`` sends a binary frame,
        anything else JSON, ``None`` nothing."""
        self.binary_plan = plan_call(handler, "on_binary", self.path, _caller_locals(self._localns))
        return handler

    def spec(self) -> dict[str, Any]:
        """The route as the core reads it (``spikard._native.App.add_route``)."""
        spec: dict[str, Any] = {
            "path": self.path,
            "message_schema": None if self.branches else self.message_schema,
            "response_schema": None if self.branches else self.response_schema,
            "max_message_size": self.max_message_size,
            "raw_text": self.raw_text,
            "subprotocols": list(self.subprotocols),
            "description": self.description,
            "on_connect": self.connect_plan is not None,
            "on_disconnect": self.disconnect_plan is not None,
            "binary": self.binary_plan is not None,
        }
        if self.branches:
            spec["dispatch"] = {
                "discriminator": self.discriminator,
                "branches": {
                    name: {
                        "message_schema": branch.message_schema,
                        "reply_schema": branch.reply_schema,
                        "description": branch.description,
                    }
                    for name, branch in self.branches.items()
                },
            }
        return spec

    def __repr__(self) -> str:
        return f"<WebSocketRoute {self.path} -> {self.__qualname__}>"


def websocket(
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
    """Declare a WebSocket route served by the decorated handler.

    Schemas not given are derived from the ``message`` parameter's annotation and the return
    annotation (see :mod:`spikard.schema`); a bare ``dict`` or no annotation means no
    validation. Messages are validated in Rust before the handler runs; invalid ones get a
    ``validation_failed`` error envelope.

    Args:
        path: the route pattern, e.g. ``"/chat"`` or ``"/rooms/{room}"``.
        message_schema: a JSON Schema for incoming messages (overrides the annotation).
        response_schema: a JSON Schema for replies (overrides the return annotation); failing
            replies are dropped and logged.
        max_message_size: this route's largest message in bytes (larger ones close with 1009).
        raw_text: a plain-text route: each text message reaches the handler as the ``str`` it
            is, without JSON parsing or message schema (none is derived; giving one is an
            error), and a ``str`` reply is sent as that text, not JSON-quoted. Other replies
            are JSON; binary frames work as on any route.
        subprotocols: the subprotocols the route speaks (``Sec-WebSocket-Protocol``), in order
            of preference: the upgrade selects the first one the client offered
            (``ws.subprotocol``); a client offering none of them connects without one.
        description: what the route is for (its channel's description in the AsyncAPI
            document, see :meth:`Spikard.asyncapi`).
        discriminator: when the message annotation is a union of classes each with this field
            annotated by one string ``Literal`` (``message: Join | Say | Leave``), the route
            dispatches by it: the core validates each message against its member's schema only
            (see :meth:`WebSocketRoute.on`), the handler receives that member's value, and each
            member's docstring describes its message type in the AsyncAPI document.

    Raises:
        SchemaExtractionError: an annotation has no JSON Schema, or a parameter cannot be filled.
        SchemaCompileError: a given schema is not a valid JSON Schema.
        ConfigError: ``raw_text`` with a ``message_schema``.
    """

    def decorate(handler: Callable[P, R]) -> WebSocketRoute[P, R]:
        return WebSocketRoute(
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

    return decorate


def dispatch(
    path: str,
    *,
    discriminator: str = "type",
    description: str | None = None,
    max_message_size: int | None = None,
    subprotocols: Sequence[str] = (),
) -> WebSocketRoute[[Any], Any]:
    """A route that dispatches by message type: register a handler per type with
    :meth:`~WebSocketRoute.on`, hooks with ``on_connect``, ``on_disconnect``, ``on_binary``::

        chat = dispatch("/chat", description="A chat: join, say, leave.")

        @chat.on("say")
        async def say(message: Say) -> Said:
            \"\"\"Say something.\"\"\"
            return {"echo": message["text"]}

        app = Spikard(routes=[chat])   # or: chat = app.dispatch("/chat")

    Args:
        path: the route pattern, e.g. ``"/chat"``.
        discriminator: the message field whose value picks the branch.
        description: what the route is for (its channel's description in the AsyncAPI document).
        max_message_size: this route's largest message in bytes.
        subprotocols: the subprotocols the route speaks, in order of preference.
    """
    return WebSocketRoute(
        path,
        _no_message_handler,
        max_message_size=max_message_size,
        subprotocols=subprotocols,
        localns=_caller_locals(None),
        description=description,
        discriminator=discriminator,
    )
