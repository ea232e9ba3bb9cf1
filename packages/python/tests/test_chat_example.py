"""``examples/python/chat.py`` started the way the browser test and ``task demo`` start it
(``python3 examples/python/chat.py``, port from ``PORT``), talked to over real sockets: the same
room protocol as the Rust and Node chat examples, ``/chat`` (dispatch by message type), the page,
and SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve import Served, serve
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

REPO = Path(__file__).resolve().parents[3]
CHAT = REPO / "examples" / "python" / "chat.py"


@pytest.fixture
def chat(tmp_path: Path) -> Iterator[Served]:
    # Started from elsewhere: the example finds its page from its own location.
    with serve([sys.executable, str(CHAT)], "in a browser", cwd=tmp_path, env={"PORT": "0"}) as served:
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", served.output())
        assert found, served.output()
        served.url = f"ws://127.0.0.1:{found[1]}"
        yield served


def open_ws(served: Served, path: str) -> ClientConnection:
    return connect(served.url + path, proxy=None, open_timeout=5)


def receive(ws: ClientConnection) -> Any:
    return json.loads(ws.recv(5))


def until_closed(ws: ClientConnection) -> tuple[list[Any], int | None]:
    """The messages received until the server closed, and its close code."""
    received = []
    try:
        while True:
            received.append(receive(ws))
    except ConnectionClosed as closed:
        return received, closed.rcvd.code if closed.rcvd else None


def test_room_join_message_leave_and_validation(chat: Served) -> None:
    with open_ws(chat, "/rooms/lobby?user=alice") as alice:
        assert receive(alice) == {"type": "join", "user": "alice", "room": "lobby", "members": 1}
        with open_ws(chat, "/rooms/lobby?user=bob") as bob:
            joined = {"type": "join", "user": "bob", "room": "lobby", "members": 2}
            assert receive(alice) == joined
            assert receive(bob) == joined
            alice.send(json.dumps({"text": "hello bob"}))
            said = {"type": "message", "user": "alice", "room": "lobby", "text": "hello bob"}
            assert receive(alice) == said  # the sender too, and no direct reply before it
            assert receive(bob) == said
            for bad, paths in [
                ({"text": ""}, ["/text"]),
                ({"text": "x" * 501}, ["/text"]),
                ({"text": "hi", "extra": 1}, ["/extra"]),
                ({}, ["/text"]),
            ]:
                bob.send(json.dumps(bad))
                error = receive(bob)
                assert error["code"] == "validation_failed", error
                assert [e["path"] for e in error["errors"]] == paths
            bob.send(json.dumps({"text": "x" * 500}))
            assert receive(bob)["text"] == "x" * 500
            assert receive(alice)["text"] == "x" * 500  # the invalid ones never reached alice
        assert receive(alice) == {"type": "leave", "user": "bob", "room": "lobby", "members": 1}
    with open_ws(chat, "/rooms/other") as anonymous:
        assert receive(anonymous) == {"type": "join", "user": "anonymous", "room": "other", "members": 1}


def test_chat_route_dispatches_by_type(chat: Served) -> None:
    with open_ws(chat, "/chat") as ws:
        ws.send(json.dumps({"type": "join", "user": "Alice", "id": 1}))
        assert receive(ws) == {"joined": "Alice", "id": 1}
        ws.send(json.dumps({"type": "say", "text": "Hello", "user": "Alice"}))
        assert receive(ws) == {"echo": "Hello", "from": "Alice"}
        ws.send(json.dumps({"type": "say", "text": "Hello"}))
        error = receive(ws)
        assert error["code"] == "validation_failed"
        assert [e["path"] for e in error["errors"]] == ["/user"]
        ws.send(json.dumps({"type": "kick"}))
        error = receive(ws)
        assert [e["message"] for e in error["errors"]] == ['value is not one of "join", "say", "leave"']
        ws.send(json.dumps({"type": "leave", "id": "x"}))
        assert receive(ws) == {"left": True, "id": "x"}


def test_serves_its_asyncapi_document(chat: Served) -> None:
    url = chat.url.replace("ws://", "http://") + "/asyncapi.json"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["content-type"].startswith("application/json")
        document = json.load(response)
    assert document == json.loads((REPO / "fixtures" / "asyncapi" / "chat.json").read_text())


def test_serves_the_page_and_stops_on_sigterm(chat: Served) -> None:
    page = chat.url.replace("ws://", "http://") + "/"
    with urllib.request.urlopen(page, timeout=5) as response:
        assert response.status == 200
        assert response.read() == (REPO / "examples" / "chat" / "index.html").read_bytes()
    with open_ws(chat, "/rooms/r?user=a") as a, open_ws(chat, "/rooms/r?user=b") as b:
        assert [receive(a)["user"], receive(a)["user"], receive(b)["user"]] == ["a", "b", "b"]
        chat.process.send_signal(signal.SIGTERM)
        for ws in (a, b):
            # Shutdown closes both with 1001; a leave notice of the other may come first.
            notices, code = until_closed(ws)
            assert code == 1001
            assert all(notice["type"] == "leave" for notice in notices), notices
        assert chat.process.wait(15) == 0
    assert "SIGTERM received, shutting down" in chat.output()
