"""Scaling out (docs/scaling.md): the ``pubsub`` option, and ``spikard run --workers N``: N
processes on one port (SO_REUSEPORT) sharing every room through Redis, and the refusal of more
than one worker without a shared backend."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
from redis_server import Redis, free_port, redis
from serve import spikard_run
from websockets.sync.client import ClientConnection, connect

from spikard import ConfigError, PubSubUnavailableError, Spikard, WebSocket

CHAT = Path(__file__).resolve().parents[3] / "examples" / "python" / "chat.py"
__all__ = ["redis"]  # the fixture


def test_an_unreachable_redis_stops_the_start_with_a_clear_error() -> None:
    app = Spikard(pubsub=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(PubSubUnavailableError, match="cannot reach the pub/sub backend redis://") as raised:
        app.start()
    assert raised.value.code == "pubsub_unavailable"
    with pytest.raises(ConfigError, match="pubsub must be"):
        Spikard(pubsub="kafka://nope").start()


def test_a_publish_reaches_a_room_on_another_server(redis: Redis) -> None:
    one, two = Spikard(pubsub=redis.url), Spikard(pubsub=redis.url)

    @two.websocket("/rooms/{room}")
    async def room(message: dict[str, str]) -> None:
        return None

    @room.on_connect
    async def joined(ws: WebSocket) -> None:
        await ws.subscribe(ws.path_params["room"])

    with one.start() as first, two.start() as second:
        with connect(f"{second.url}/rooms/news", proxy=None) as client:
            redis.wait_for_servers("news", 1)
            assert one.publish_sync("news", {"text": "from the other server"}) == 0
            assert json.loads(client.recv(5)) == {"text": "from the other server"}
        assert first.metrics()["pubsub_forwarded"] == 1
        assert second.metrics()["pubsub_received"] == 1


def test_more_than_one_worker_needs_a_shared_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPIKARD_PUBSUB", raising=False)
    done = subprocess.run(
        [sys.executable, "-m", "spikard", "run", f"{CHAT}:app", "--port", str(free_port()), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "--workers 2 needs a shared pub/sub backend" in done.stderr


def next_message(client: ClientConnection) -> dict[str, str]:
    """The next chat message, join and leave notices skipped."""
    while (event := json.loads(client.recv(5)))["type"] != "message":
        pass
    return event


def test_two_workers_serve_the_chat_with_both_in_every_room(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPIKARD_PUBSUB", redis.url)
    port = free_port()
    with spikard_run(f"{CHAT}:app", "--port", str(port), "--workers", "2") as served, ExitStack() as stack:
        with served.changed:
            assert served.changed.wait_for(lambda: served.output().count("spikard listening on") == 2, 30)
        clients: list[ClientConnection] = []
        # The kernel spreads connections over the workers: connect until both have members.
        while redis.numsub("room:lobby") < 2:  # the chat example's topic for the room lobby
            assert len(clients) < 64, "every connection went to one worker"
            url = f"ws://127.0.0.1:{port}/rooms/lobby?user=u{len(clients)}"
            clients.append(stack.enter_context(connect(url, proxy=None)))
        for sender in (clients[0], clients[-1]):
            sender.send(json.dumps({"text": f"hello from {id(sender)}"}))
            for client in clients:
                assert next_message(client)["text"] == f"hello from {id(sender)}"
        stack.close()
        assert served.stop(signal.SIGTERM) == 0
