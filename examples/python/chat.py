"""Chat server: every connected client receives every message, and is told when someone joins
or leaves. Messages are validated in Rust against the schema derived from ``ChatMessage``.

Run it with ``spikard run examples/python/chat.py:app``, connect to
ws://127.0.0.1:8000/chat?user=alice and send ``{"text": "hello"}``.
"""

from typing import Literal, NotRequired, TypedDict

from spikard import ConnectionClosedError, Spikard, WebSocket, websocket


class ChatMessage(TypedDict):
    """What a client sends."""

    text: str


class ChatEvent(TypedDict):
    """What every client receives."""

    type: Literal["join", "message", "leave"]
    user: str
    text: NotRequired[str]


members: set[WebSocket] = set()


def user(ws: WebSocket) -> str:
    """The name the client gave in ``?user=``."""
    return ws.query_params.get("user", "anonymous")


async def broadcast(event: ChatEvent) -> None:
    """Send ``event`` to every member."""
    for member in list(members):
        try:
            await member.send(event)
        except ConnectionClosedError:
            members.discard(member)  # it left (or stopped reading and was closed with 1013)


@websocket("/chat")
async def chat(message: ChatMessage, ws: WebSocket) -> None:
    """Pass each message on to everyone, the sender included."""
    await broadcast({"type": "message", "user": user(ws), "text": message["text"]})


@chat.on_connect
async def joined(ws: WebSocket) -> None:
    """Tell everyone, then add the newcomer."""
    await broadcast({"type": "join", "user": user(ws)})
    members.add(ws)


@chat.on_disconnect
async def left(ws: WebSocket) -> None:
    """Remove the member and tell the others."""
    members.discard(ws)
    await broadcast({"type": "leave", "user": user(ws)})


app = Spikard(routes=[chat])

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
