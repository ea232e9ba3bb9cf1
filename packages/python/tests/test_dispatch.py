"""Dispatch by message type (``spikard.dispatch``, ``route.on``) and the AsyncAPI document
(``app.asyncapi``, ``spikard asyncapi``), over real sockets.

The core picks the branch and validates against its schema; these tests check what the package
adds: the branch's schemas from each type system, the typed value its handler receives, its
docstring as the description, the route's hooks, and the document of the chat example, which
must equal ``fixtures/asyncapi/chat.json`` (what ``examples/rust/chat.rs`` produces).
"""

from __future__ import annotations

import dataclasses
import json
import urllib.request
from pathlib import Path
from typing import Any, Literal, TypedDict

import msgspec
import pydantic
import pytest

from spikard import ConfigError, Spikard, WebSocket, dispatch
from spikard.cli import load_app, main
from spikard.testing import TestClient

REPO = Path(__file__).resolve().parents[3]
CHAT = REPO / "examples" / "python" / "chat.py"
CHAT_DOCUMENT = REPO / "fixtures" / "asyncapi" / "chat.json"
CHAT_INFO = {"title": "Spikard chat", "version": "1.0.0"}


class Join(TypedDict):
    type: Literal["join"]
    user: str


class Joined(TypedDict):
    joined: str


class Say(pydantic.BaseModel):
    type: Literal["say"]
    text: str


class Move(msgspec.Struct):
    type: Literal["move"]
    x: int


@dataclasses.dataclass
class Leave:
    type: Literal["leave"]


def typed_app() -> tuple[Spikard, list[str]]:
    events: list[str] = []
    app = Spikard()
    chat = app.dispatch("/chat", description="Typed branches.")

    @chat.on("join")
    async def join(message: Join, ws: WebSocket) -> Joined:
        """Join as `user`."""
        ws.state.user = message["user"]
        return {"joined": message["user"]}

    @chat.on("say")
    async def say(message: Say, ws: WebSocket) -> dict[str, Any]:
        """Say something."""
        assert isinstance(message, Say)
        return {"said": message.text, "by": getattr(ws.state, "user", None)}

    @chat.on("move")
    def move(message: Move) -> dict[str, Any]:  # a plain `def` branch
        assert isinstance(message, Move)
        return {"x": message.x}

    @chat.on("leave")
    async def leave(message: Leave) -> None:
        assert isinstance(message, Leave)
        events.append("leave")

    @chat.on_connect
    async def connected() -> None:
        events.append("connect")

    @chat.on_disconnect
    async def disconnected(code: int) -> None:
        events.append(f"disconnect:{code}")

    @chat.on_binary
    async def binary(data: bytes) -> bytes:
        return data[::-1]

    return app, events


def test_each_branch_gets_its_typed_value_and_hooks_still_run() -> None:
    app, events = typed_app()
    with TestClient(app) as client:
        with client.connect("/chat") as ws:
            ws.send_json({"type": "join", "user": "ann", "id": 3})
            assert ws.receive_json() == {"joined": "ann", "id": 3}
            ws.send_json({"type": "say", "text": "hi"})
            assert ws.receive_json() == {"said": "hi", "by": "ann"}
            ws.send_json({"type": "move", "x": 2})
            assert ws.receive_json() == {"x": 2}
            ws.send_json({"type": "move", "x": "two"})
            error = ws.receive_json()
            assert (error["code"], [e["path"] for e in error["errors"]]) == ("validation_failed", ["/x"])
            ws.send_json({"type": "kick"})
            error = ws.receive_json()
            assert [e["message"] for e in error["errors"]] == [
                'value is not one of "join", "say", "move", "leave"'
            ]
            ws.send_bytes(b"abc")
            assert ws.receive_bytes() == b"cba"
            ws.send_json({"type": "leave"})
            ws.send_json({"type": "move", "x": 1})
            assert ws.receive_json() == {"x": 1}
        client.server.stop(5)
    assert events == ["connect", "leave", "disconnect:1000"]


def test_the_document_names_typed_branches_and_their_docstrings() -> None:
    app, _ = typed_app()
    document = app.asyncapi({"title": "t", "version": "0"})
    channel = document["channels"]["chat"]
    assert channel["description"] == "Typed branches."
    assert list(channel["messages"]) == [
        "join",
        "join_reply",
        "say",
        "say_reply",
        "move",
        "move_reply",
        "leave",
        "leave_reply",
        "error",
    ]
    assert channel["messages"]["join"]["description"] == "Join as `user`."
    assert "description" not in channel["messages"]["move"]
    join_payload = channel["messages"]["join"]["payload"]["allOf"][1]
    assert join_payload["required"] == ["type", "user"]
    assert channel["messages"]["join_reply"]["payload"]["required"] == ["joined"]
    # msgspec's schema is a `$ref` into its own `$defs`: the document moves them to
    # components.schemas so the reference resolves against the document.
    move_ref = channel["messages"]["move"]["payload"]["allOf"][1]["$ref"]
    assert move_ref.startswith("#/components/schemas/")
    assert '"integer"' in json.dumps(document["components"]["schemas"][move_ref.rsplit("/", 1)[1]])
    assert "$defs" not in json.dumps(document)
    assert document["operations"]["chat.say"]["description"] == "Say something."


def test_the_chat_example_document_matches_the_fixture() -> None:
    app = load_app(f"{CHAT}:app")
    assert app.asyncapi(CHAT_INFO) == json.loads(CHAT_DOCUMENT.read_text())


def test_the_cli_prints_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    # The info comes from the app's `asyncapi` option unless given.
    assert main(["asyncapi", f"{CHAT}:app"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(CHAT_DOCUMENT.read_text())
    assert main(["asyncapi", f"{CHAT}:app", "--title", "Other", "--version", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["info"] == {"title": "Other", "version": "2"}


def test_the_asyncapi_option_serves_the_document_over_http() -> None:
    app, _ = typed_app()
    app.asyncapi_route = {"path": "/spec.json", "info": {"title": "t", "version": "0"}}
    with TestClient(app) as client:
        url = client.url.replace("ws://", "http://") + "/spec.json"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert json.load(response) == app.asyncapi()
    refused = Spikard(asyncapi={"path": "/x"})

    @refused.websocket("/x")
    async def clash(message: Any) -> None: ...

    with pytest.raises(ConfigError):
        refused.start()


def test_a_plain_route_is_one_receive_operation() -> None:
    app = Spikard()

    @app.websocket("/echo/{id}", description="Echo.")
    async def echo(message: Join) -> Joined:
        return {"joined": message["user"]}

    document = app.asyncapi()
    assert document["info"] == {"title": "Spikard app", "version": "1.0.0"}
    channel = document["channels"]["echo_id"]
    assert (channel["address"], channel["description"]) == ("/echo/{id}", "Echo.")
    assert list(channel["parameters"]) == ["id"]


def test_misuse_is_refused() -> None:
    chat = dispatch("/chat")

    @chat.on("join")
    async def join(message: Join) -> None: ...

    with pytest.raises(ConfigError, match="already has a handler"):

        @chat.on("join")
        async def again(message: Join) -> None: ...

    app = Spikard()

    @app.websocket("/raw", raw_text=True)
    async def raw(message: str) -> str:
        return message

    with pytest.raises(ConfigError, match="raw-text"):

        @raw.on("join")
        async def nope(message: Join) -> None: ...

    custom = dispatch("/game", discriminator="action")
    assert (custom.discriminator, custom.branches) == ("action", {})


class Hello(TypedDict):
    """Say hello."""

    kind: Literal["hello"]
    name: str


class Bye(pydantic.BaseModel):
    kind: Literal["bye"]


def test_a_union_with_a_literal_discriminator_dispatches() -> None:
    app = Spikard()

    @app.websocket("/greet", discriminator="kind")
    async def greet(message: Hello | Bye) -> dict[str, str]:
        if isinstance(message, Bye):
            return {"said": "bye"}
        return {"said": f"hello {message['name']}"}

    assert list(greet.branches) == ["hello", "bye"]
    with TestClient(app) as client, client.connect("/greet") as ws:
        ws.send_json({"kind": "hello", "name": "ann", "id": "q"})
        assert ws.receive_json() == {"said": "hello ann", "id": "q"}
        ws.send_json({"kind": "bye"})
        assert ws.receive_json() == {"said": "bye"}
        ws.send_json({"kind": "hello"})
        error = ws.receive_json()
        assert [e["path"] for e in error["errors"]] == ["/name"]
        ws.send_json({"kind": "wave"})
        error = ws.receive_json()
        assert [e["message"] for e in error["errors"]] == ['value is not one of "hello", "bye"']
    messages = app.asyncapi()["channels"]["greet"]["messages"]
    assert messages["hello"]["description"] == "Say hello."
    assert "description" not in messages["bye"]
    assert messages["hello_reply"]["payload"]["type"] == "object"


def test_a_union_without_a_discriminator_is_one_schema() -> None:
    @dispatch_free_route
    async def either(message: Join | Joined) -> None: ...

    assert either.branches == {}
    assert either.message_schema is not None


def dispatch_free_route(handler: Any) -> Any:
    from spikard import websocket

    return websocket("/either")(handler)


def test_the_cli_prints_typeddicts_of_the_messages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["asyncapi", "--typeddict", f"{CHAT}:app", "--title", "Spikard chat"]) == 0
    source = capsys.readouterr().out
    namespace: dict[str, Any] = {}
    exec(compile(source, "chat_types.py", "exec", dont_inherit=True), namespace)
    assert namespace["ChatSay"].__required_keys__ == {"type", "text", "user"}
    assert namespace["ChatSay"].__optional_keys__ == {"id"}
    assert namespace["ChatSay"].__doc__ == "Say `text` as `user`; the reply echoes it."
    assert namespace["ChatSayReply"].__required_keys__ == {"echo", "from"}
    assert namespace["Error"].__required_keys__ == {"type", "code", "message", "errors"}
    assert namespace["RoomsRoomMessage"].__required_keys__ == {"text"}
