"""Rooms (topics) against a real server: membership kept by the core, publishing from handlers,
hooks, background tasks and other threads, fan-out order, and nothing delivered after a
disconnect."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from concurrent.futures import Future
from typing import Any, TypedDict

import msgspec
import pydantic
import pytest

from spikard import (
    ConfigError,
    PublishError,
    SchemaCompileError,
    SchemaExtractionError,
    Spikard,
    SpikardError,
    WebSocket,
)
from spikard.testing import AsyncTestWebSocket, TestClient


def names(ws: WebSocket) -> tuple[str, str]:
    return ws.query_params.get("user", "anonymous"), ws.path_params["room"]


def rooms_app(left: dict[str, Future[dict[str, Any]]] | None = None) -> Spikard:
    """``/rooms/{room}``: join on connect, every message is published to the room as
    ``{"user": U, "seq": message}``; on disconnect, what the connection saw then is reported."""
    app = Spikard()

    @app.websocket("/rooms/{room}")
    async def rooms(message: Any, ws: WebSocket) -> None:
        user, room = names(ws)
        await ws.publish(room, {"user": user, "seq": message})

    @rooms.on_connect
    async def join(ws: WebSocket) -> None:
        _, room = names(ws)
        assert await ws.subscribe(room) is True
        assert await ws.subscribe(room) is False, "a second subscribe is a no-op"

    @rooms.on_disconnect
    async def leave(ws: WebSocket, code: int) -> None:
        user, room = names(ws)
        if left is None:
            return
        seen = {"subscriptions": ws.subscriptions, "count": ws.topic_count(room), "code": code}
        seen["resubscribed"] = await ws.subscribe(room)
        seen["delivered"] = await ws.publish(room, {"left": user})
        left[user].set_result(seen)

    return app


async def connect_all(client: TestClient, paths: list[str]) -> list[AsyncTestWebSocket]:
    return [await client.connect(path).__aenter__() for path in paths]


def test_ten_clients_each_see_every_message_in_order() -> None:
    clients, messages = 10, 30
    app = rooms_app()

    async def main() -> None:
        async with TestClient(app) as client:
            sockets = await connect_all(client, [f"/rooms/ten?user=u{i}" for i in range(clients)])
            # on_connect (which subscribes) ran before each upgrade completed.
            assert app.topic_count("ten") == clients
            assert app.topics() == ["ten"]
            for seq in range(messages):  # everyone sends at once
                for ws in sockets:
                    await ws.send_json(seq)
            for index, ws in enumerate(sockets):
                seen: dict[str, list[int]] = {}
                for _ in range(clients * messages):
                    got = await ws.receive_json()
                    seen.setdefault(got["user"], []).append(got["seq"])
                assert sorted(seen) == sorted(f"u{i}" for i in range(clients)), index
                for user, seqs in seen.items():
                    assert seqs == list(range(messages)), f"client {index} got {user}'s out of order"
            for ws in sockets:
                await ws.close()

    asyncio.run(main())


class Headline(pydantic.BaseModel):
    title: str


class Score(msgspec.Struct):
    home: int
    away: int


@dataclasses.dataclass
class Tick:
    n: int


def test_app_publish_from_a_background_task_and_another_thread() -> None:
    app = rooms_app()
    assert app.publish_sync("news", {"early": True}) == 0, "not running: nobody to deliver to"
    assert app.topic_count("news") == 0
    assert app.topics() == []

    async def main() -> None:
        async with TestClient(app) as client:
            a, b, other = await connect_all(
                client, ["/rooms/news?user=a", "/rooms/news?user=b", "/rooms/sport?user=c"]
            )

            async def background() -> int:
                await asyncio.sleep(0.01)
                return await app.publish("news", {"headline": "späť", "tags": ["a", 1, 2.5, None]})

            # A task of the test's own event loop (not the server's) publishes.
            assert await asyncio.create_task(background()) == 2
            for ws in (a, b):
                assert await ws.receive_json() == {"headline": "späť", "tags": ["a", 1, 2.5, None]}

            # Another thread, without an event loop, publishes with publish_sync.
            counts: list[int] = []
            thread = threading.Thread(target=lambda: counts.append(app.publish_sync("news", Tick(1))))
            thread.start()
            await asyncio.to_thread(thread.join)
            assert counts == [2]
            # Class instances publish as JSON, like replies.
            assert await app.publish("news", Headline(title="t")) == 2
            assert await app.publish("news", Score(home=1, away=0)) == 2
            for ws in (a, b):
                assert await ws.receive_json() == {"n": 1}
                assert await ws.receive_json() == {"title": "t"}
                assert await ws.receive_json() == {"home": 1, "away": 0}

            # A value with no JSON form raises and delivers nothing.
            with pytest.raises(TypeError):
                await app.publish("news", object())
            # The other room heard nothing: the next thing it gets is its own message.
            await other.send_json(7)
            assert await other.receive_json() == {"user": "c", "seq": 7}
            assert app.topics() == ["news", "sport"]
            assert app.topic_count("news") == 2
            assert await app.publish("nobody", {}) == 0
            await a.send_json(8)
            assert await a.receive_json() == {"user": "a", "seq": 8}, "nothing else was queued"

    asyncio.run(main())
    assert app.publish_sync("news", {"late": True}) == 0, "stopped: nobody to deliver to"
    assert app.topics() == []


def test_publish_from_a_task_the_handler_started() -> None:
    app = Spikard()
    tasks: set[asyncio.Task[None]] = set()

    @app.websocket("/timer/{room}")
    async def timer(message: Any, ws: WebSocket) -> dict[str, bool]:
        async def later() -> None:
            for i in range(3):
                await asyncio.sleep(0.001)
                await app.publish(ws.path_params["room"], {"tick": i})

        task = asyncio.create_task(later())  # on the server's loop, outliving the handler
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return {"started": True}

    @timer.on_connect
    async def join(ws: WebSocket) -> None:
        await ws.subscribe(ws.path_params["room"])

    with TestClient(app) as client, client.connect("/timer/t") as ws:
        ws.send_json({})
        got = [ws.receive_json() for _ in range(4)]
        # The reply crosses to the core when the handler returns, the task's publishes queue
        # directly: on a busy machine a tick may overtake the reply.
        got.remove({"started": True})
        assert got == [{"tick": 0}, {"tick": 1}, {"tick": 2}]


def test_a_disconnected_client_receives_nothing_and_the_count_drops() -> None:
    left: dict[str, Future[dict[str, Any]]] = {"a": Future(), "b": Future()}
    app = rooms_app(left)

    async def main() -> None:
        async with TestClient(app) as client:
            a, b = await connect_all(client, ["/rooms/lobby?user=a", "/rooms/lobby?user=b"])
            assert app.topic_count("lobby") == 2
            await b.send_json(1)
            assert await a.receive_json() == {"user": "b", "seq": 1}
            assert await b.receive_json() == {"user": "b", "seq": 1}

            b.raw.transport.abort()  # no closing handshake: the socket just ends
            # The core took the connection out of its rooms before on_disconnect: it saw no
            # subscriptions, could not rejoin, and its leave notice reached a only.
            seen = await asyncio.wrap_future(left["b"])
            assert seen == {
                "subscriptions": (),
                "count": 1,
                "code": 1006,
                "resubscribed": False,
                "delivered": 1,
            }
            assert await a.receive_json() == {"left": "b"}
            assert app.topic_count("lobby") == 1
            assert await app.publish("lobby", {"after": True}) == 1
            await a.send_json(2)
            assert await a.receive_json() == {"after": True}
            assert await a.receive_json() == {"user": "a", "seq": 2}

            await a.close()
            seen = await asyncio.wrap_future(left["a"])
            assert seen["delivered"] == 0, "the last member left: nobody to tell"
            assert app.topics() == [], "the last member leaving removes the room"

    asyncio.run(main())


def test_subscribe_unsubscribe_publish_others_on_the_connection() -> None:
    app = Spikard()

    @app.websocket("/ctl")
    async def ctl(message: dict[str, str], ws: WebSocket) -> dict[str, Any]:
        op, topic = message["op"], message["topic"]
        if op == "sub":
            return {"ok": await ws.subscribe(topic), "subscriptions": list(ws.subscriptions)}
        if op == "unsub":
            return {"ok": await ws.unsubscribe(topic), "subscriptions": list(ws.subscriptions)}
        if op == "others":
            return {"delivered": await ws.publish_others(topic, {"from": ws.id})}
        if op == "all":
            return {"delivered": await ws.publish(topic, {"from": ws.id})}
        return {"count": ws.topic_count(topic)}

    with TestClient(app) as client, client.connect("/ctl") as a, client.connect("/ctl") as b:

        def ask(ws: Any, op: str, topic: str) -> Any:
            ws.send_json({"op": op, "topic": topic})
            return ws.receive_json()

        assert ask(a, "sub", "t1") == {"ok": True, "subscriptions": ["t1"]}
        assert ask(a, "sub", "t2") == {"ok": True, "subscriptions": ["t1", "t2"]}
        assert ask(b, "sub", "t1") == {"ok": True, "subscriptions": ["t1"]}
        assert ask(b, "count", "t1") == {"count": 2}

        # publish_others skips the sender; publish includes it (queued before the reply).
        assert ask(a, "others", "t1") == {"delivered": 1}
        a_id = b.receive_json()["from"]
        assert ask(a, "all", "t1") == {"from": a_id}
        assert a.receive_json() == {"delivered": 2}
        assert b.receive_json() == {"from": a_id}

        assert ask(a, "unsub", "t1") == {"ok": True, "subscriptions": ["t2"]}
        assert ask(a, "unsub", "t1") == {"ok": False, "subscriptions": ["t2"]}
        # a left t1: b's publish reaches b only, and a's next message is its own reply.
        b.send_json({"op": "all", "topic": "t1"})
        assert b.receive_json()["from"] != a_id
        assert b.receive_json() == {"delivered": 1}
        assert ask(a, "count", "t1") == {"count": 1}
        assert app.topic_count("t1") == 1
        assert app.topics() == ["t1", "t2"]


class Chat(TypedDict):
    user: str
    text: str


def test_topic_schemas_refuse_invalid_publishes_before_fan_out() -> None:
    app = Spikard()
    app.topic("news*", schema=Headline)  # a Pydantic model: {"title": str}
    app.topic("news/raw", schema={"type": "object"})  # an exact name beats the prefix
    app.topic("chat", schema=Chat)  # a TypedDict
    assert list(app.topic_schemas) == ["news*", "news/raw", "chat"]
    assert app.topic_schemas["chat"]["required"] == ["user", "text"]  # type: ignore[index]

    @app.websocket("/pub")
    async def pub(message: dict[str, Any], ws: WebSocket) -> dict[str, Any]:
        try:
            delivered = await ws.publish(message["topic"], message["value"])
        except PublishError as err:
            return {"code": err.code, "topic": err.topic, "errors": err.errors, "message": str(err)}
        return {"delivered": delivered}

    @app.websocket("/raise")
    async def unguarded(message: dict[str, Any], ws: WebSocket) -> None:
        await ws.publish_others("chat", message)  # a PublishError is not caught here

    @app.websocket("/read/{topic}")
    async def read(message: Any) -> None:
        return None

    @read.on_connect
    async def follow(ws: WebSocket) -> None:
        await ws.subscribe(ws.path_params["topic"].replace("~", "/"))

    async def main() -> None:
        async with TestClient(app) as client:
            news, raw, chat = await connect_all(client, ["/read/news", "/read/news~raw", "/read/chat"])
            pub = await client.connect("/pub").__aenter__()

            async def publish(topic: str, value: Any) -> Any:
                await pub.send_json({"topic": topic, "value": value})
                return await pub.receive_json()

            refused = await publish("news", {"title": 5})
            assert refused == {
                "code": "publish_invalid",
                "topic": "news",
                "errors": [{"path": "/title", "message": refused["errors"][0]["message"], "keyword": "type"}],
                "message": f'message published to "news" does not match the topic\'s schema: '
                f"/title: {refused['errors'][0]['message']}",
            }
            missing = await publish("chat", {"user": "ann"})
            assert [(e["path"], e["keyword"]) for e in missing["errors"]] == [("/text", "required")]
            assert await publish("news/raw", {"title": 5}) == {"delivered": 1}
            assert await publish("news", {"title": "ok"}) == {"delivered": 1}
            assert await publish("chat", {"user": "ann", "text": "hi"}) == {"delivered": 1}
            assert await publish("sport", [1]) == {"delivered": 0}, "a topic without a schema"
            # Nothing refused reached anyone: each reader's next message is the valid one.
            assert await news.receive_json() == {"title": "ok"}
            assert await raw.receive_json() == {"title": 5}
            assert await chat.receive_json() == {"user": "ann", "text": "hi"}

            # The app's publish raises the same error, for an empty topic too.
            with pytest.raises(PublishError) as err:
                await app.publish("newsroom", {"title": 7})
            assert isinstance(err.value, SpikardError)
            assert isinstance(err.value, ValueError)
            assert (err.value.code, err.value.topic) == ("publish_invalid", "newsroom")
            assert [e["path"] for e in err.value.errors] == ["/title"]
            with pytest.raises(PublishError, match=r'^message published to "chat" does not match') as err:
                app.publish_sync("chat", Chat(text="no user"))  # type: ignore[typeddict-item]

            # Uncaught in a handler: an internal error (the core's message goes to the log).
            unguarded = await client.connect("/raise").__aenter__()
            await unguarded.send_json({"text": "no user"})
            assert await unguarded.receive_json() == {
                "type": "error",
                "code": "handler_error",
                "message": "internal error",
                "errors": [],
            }
            await unguarded.send_json({"user": "bob", "text": "fine"})
            assert await chat.receive_json() == {"user": "bob", "text": "fine"}
            assert client.server.metrics()["publishes_refused"] == 5
            for ws in (news, raw, chat, pub, unguarded):
                await ws.close()

    asyncio.run(main())


def test_topic_declarations_are_checked_when_made() -> None:
    app = Spikard()
    with pytest.raises(ConfigError, match="topic pattern"):
        app.topic("news*eu", schema={})
    with pytest.raises(ConfigError):
        app.topic("", schema={})
    with pytest.raises(SchemaCompileError):
        app.topic("news", schema={"type": 5})

    class Opaque:  # no type system has a schema for it
        pass

    with pytest.raises(SchemaExtractionError, match="topic news"):
        app.topic("news", schema=Opaque)
    app.topic("news", schema=Tick)  # a dataclass
    app.topic("any", schema=dict)  # no constraint, and it shadows a shorter prefix
    with pytest.raises(ConfigError, match="already"):
        app.topic("news", schema={})
    assert app.topic_schemas["news"]["required"] == ["n"]  # type: ignore[index]
    assert app.topic_schemas["any"] is True
    with TestClient(app), pytest.raises(RuntimeError, match="before the app starts"):
        app.topic("late", schema={})


def test_a_negative_fanout_flush_interval_is_refused_when_the_app_starts() -> None:
    app = Spikard(fanout_flush_interval=-1)

    @app.websocket("/x")
    async def x(message: Any) -> Any:
        return message

    with pytest.raises(ValueError, match="fanout_flush_interval"), TestClient(app):
        pass
