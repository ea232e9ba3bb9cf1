"""Chat rooms on the core's topics: the Rust core keeps each room's members and fans every
message out (serialised once, no Python per recipient); this file only says what to publish.

    python3 examples/python/chat.py     then open http://127.0.0.1:8000/ in a browser,
                                        or connect to ws://127.0.0.1:8000/rooms/lobby?user=alice
                                        and send {"text": "hello"}

``/rooms/{room}?user=U``, every member of the room receives, from the room's topic ``room:R``:

- ``{"type": "join", "user": U, "room": R, "members": n}`` (the newcomer included)
- ``{"type": "message", "user": U, "room": R, "text": T}`` (the sender included; no direct reply)
- ``{"type": "leave", "user": U, "room": R, "members": n}`` (the remaining members)

The topic schema ``room:*`` says so in the AsyncAPI document (what the browser page's generated
client types), and the route's response schema ``False`` says that it never replies directly.

``/chat`` dispatches by message type (the ``"type"`` field), exactly as ``examples/rust/chat.rs``:
``join`` (``{"user"}``, reply ``{"joined": user}``), ``say`` (``{"text", "user"}``, reply
``{"echo": text, "from": user}``) and ``leave`` (reply ``{"left": true}``); a message with an
``id`` gets it back in its reply. ``GET /asyncapi.json`` answers the app's AsyncAPI document
(``fixtures/asyncapi/chat.json``); ``python3 examples/python/chat.py asyncapi`` prints it. The files of
``examples/chat/`` (the browser page) are served on every other path. ``PORT`` overrides the
port (default 8000; 0 picks a free one); Ctrl-C or SIGTERM shuts down gracefully (every member
gets its leave notice out first).
"""

import json
import os
import sys
from pathlib import Path
from typing import Any, Literal, TypedDict

from spikard import Spikard, WebSocket

PAGE = Path(__file__).resolve().parent.parent / "chat"


class RoomMessage(TypedDict):
    """What a client sends to a room."""

    text: str


# Given as a schema (not derived from RoomMessage) for the length limits and for refusing
# unknown properties: the same schema the Rust and Node chat examples use.
ROOM_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 500}},
    "required": ["text"],
    "additionalProperties": False,
}


class Join(TypedDict):
    """``/chat``: join the chat."""

    type: Literal["join"]
    user: str


class Joined(TypedDict):
    """The reply to ``join``."""

    joined: str


class Say(TypedDict):
    """``/chat``: say something (the design document's chat message)."""

    type: Literal["say"]
    text: str
    user: str


# The reply to `say`; `from` is a Python keyword, so the functional form names it.
Said = TypedDict("Said", {"echo": str, "from": str})


class Leave(TypedDict):
    """``/chat``: leave the chat."""

    type: Literal["leave"]


# The branches' schemas are given as JSON Schema, not derived from the TypedDicts above (which
# still type the values the handlers receive): the derived ones would differ in form (titles,
# `"const"` with `"type"`, no `minLength`), and the chat example's AsyncAPI document must be the
# same in every language (fixtures/asyncapi/chat.json, which examples/rust/chat.rs produces).
JOIN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"user": {"type": "string", "minLength": 1}},
    "required": ["user"],
}
JOINED_SCHEMA: dict[str, Any] = {"type": "object", "required": ["joined"]}
SAY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"text": {"type": "string"}, "user": {"type": "string"}},
    "required": ["text", "user"],
}
SAID_SCHEMA: dict[str, Any] = {"type": "object", "required": ["echo", "from"]}
LEAVE_SCHEMA: dict[str, Any] = {"type": "object"}


# What is published to a room's topic (``room:*``): a RoomEvent or a RoomText, written as JSON
# Schema for the same reason as the branches' schemas.
ROOM_EVENT_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "type": {"enum": ["join", "leave"]},
                "user": {"type": "string"},
                "room": {"type": "string"},
                "members": {"type": "integer", "minimum": 0},
            },
            "required": ["type", "user", "room", "members"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "type": {"const": "message"},
                "user": {"type": "string"},
                "room": {"type": "string"},
                "text": {"type": "string"},
            },
            "required": ["type", "user", "room", "text"],
            "additionalProperties": False,
        },
    ]
}


class RoomEvent(TypedDict):
    """A join or leave notice."""

    type: Literal["join", "leave"]
    user: str
    room: str
    members: int


class RoomText(TypedDict):
    """A message, as every member of the room receives it."""

    type: Literal["message"]
    user: str
    room: str
    text: str


INFO = {"title": "Spikard chat", "version": "1.0.0"}

# The AsyncAPI document is served on /asyncapi.json, as by the Rust example.
app = Spikard(static_dir=PAGE, asyncapi={"path": "/asyncapi.json", "info": INFO})
app.topic("room:*", schema=ROOM_EVENT_SCHEMA)


def names(ws: WebSocket) -> tuple[str, str, str]:
    """The user (``?user=``, default ``anonymous``), the room (the path's ``{room}``) and the
    room's topic (``room:`` and the room)."""
    room = ws.path_params["room"]
    return ws.query_params.get("user", "anonymous"), room, f"room:{room}"


# Never replies directly (response schema False): members get everything from the room's topic.
@app.websocket("/rooms/{room}", message_schema=ROOM_MESSAGE_SCHEMA, response_schema=False)
async def rooms(message: RoomMessage, ws: WebSocket) -> None:
    """Pass each message on to the whole room, the sender included."""
    user, room, topic = names(ws)
    await ws.publish(topic, RoomText(type="message", user=user, room=room, text=message["text"]))


@rooms.on_connect
async def joined(ws: WebSocket) -> None:
    """Join the room, then tell everyone in it (the newcomer too) who came."""
    user, room, topic = names(ws)
    await ws.subscribe(topic)
    await ws.publish(topic, RoomEvent(type="join", user=user, room=room, members=ws.topic_count(topic)))


@rooms.on_disconnect
async def left(ws: WebSocket) -> None:
    """The core has already taken the connection out of its room: this reaches the others."""
    user, room, topic = names(ws)
    await ws.publish(topic, RoomEvent(type="leave", user=user, room=room, members=ws.topic_count(topic)))


chat = app.dispatch("/chat", description="A chat without rooms: join, say something, leave.")


@chat.on("join", message_schema=JOIN_SCHEMA, reply_schema=JOINED_SCHEMA)
async def join(message: Join) -> Joined:
    """Join the chat as `user`."""
    return {"joined": message["user"]}


@chat.on("say", message_schema=SAY_SCHEMA, reply_schema=SAID_SCHEMA)
async def say(message: Say) -> Said:
    """Say `text` as `user`; the reply echoes it."""
    return {"echo": message["text"], "from": message["user"]}


@chat.on("leave", message_schema=LEAVE_SCHEMA)
async def leave(message: Leave) -> Any:  # `Any`: no reply schema, as in the Rust example
    """Leave the chat."""
    return {"left": True}


if __name__ == "__main__" and sys.argv[1:] == ["asyncapi"]:
    print(json.dumps(app.asyncapi(INFO), indent=2))
elif __name__ == "__main__":
    server = app.start(host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
    print(f"Spikard chat: open http://127.0.0.1:{server.port}/ in a browser", flush=True)
    server.serve_until_signal()
