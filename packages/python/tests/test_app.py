"""The package end to end over real sockets: handlers per type system, the connection
context, hooks, errors, the test client and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
import logging
import socket
import threading
import time
from typing import Any, TypedDict

import msgspec
import pydantic
import pytest
from websockets.sync.client import connect

from spikard import (
    BindError,
    ConfigError,
    ConnectionClosedError,
    DuplicateRouteError,
    HandlerError,
    InvalidPathError,
    Rejection,
    Spikard,
    WebSocket,
    websocket,
)
from spikard.testing import Closed, TestClient, UpgradeRejected


class Item(pydantic.BaseModel):
    name: str
    quantity: int = 1


class Move(msgspec.Struct):
    x: int
    y: int


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Greeting(TypedDict):
    name: str


def test_pydantic_instances_in_and_out() -> None:
    seen: list[Any] = []

    @websocket("/items")
    async def items(message: Item) -> Item:
        seen.append(message)
        return Item(name=message.name.upper(), quantity=message.quantity * 2)

    with TestClient(Spikard(routes=[items])) as client, client.connect("/items") as ws:
        ws.send_json({"name": "pen", "quantity": 2})
        assert ws.receive_json() == {"name": "PEN", "quantity": 4}
        ws.send_json({"quantity": "x"})
        error = ws.receive_json()
        assert error["code"] == "validation_failed"
        assert {e["path"] for e in error["errors"]} == {"/name", "/quantity"}
    assert seen == [Item(name="pen", quantity=2)]


def test_msgspec_and_dataclass_instances() -> None:
    @websocket("/move")
    async def move(message: Move) -> Move:
        assert isinstance(message, Move)
        return Move(message.y, message.x)

    @websocket("/point")
    def point(message: Point) -> Point:  # a plain `def` handler
        assert isinstance(message, Point)
        return dataclasses.replace(message, y=message.y + 1)

    with TestClient(Spikard(routes=[move, point])) as client:
        with client.connect("/move") as ws:
            ws.send_json({"x": 1, "y": 2})
            assert ws.receive_json() == {"x": 2, "y": 1}
        with client.connect("/point") as ws:
            ws.send_json({"x": 5})
            assert ws.receive_json() == {"x": 5, "y": 1}
            ws.send_json({"y": 5})
            assert ws.receive_json()["code"] == "validation_failed"


def test_returning_none_sends_nothing_and_dicts_are_sent() -> None:
    @websocket("/maybe")
    async def maybe(message: dict[str, Any]) -> dict[str, Any] | None:
        return message if message.get("reply") else None

    with TestClient(Spikard(routes=[maybe])) as client, client.connect("/maybe") as ws:
        ws.send_json({"reply": False})
        ws.send_json({"reply": True, "n": 1})
        assert ws.receive_json() == {"reply": True, "n": 1}


def test_handlers_that_suspend_keep_order_and_run_in_a_task() -> None:
    @websocket("/slow")
    async def slow(message: dict[str, Any]) -> dict[str, Any]:
        assert asyncio.current_task() is None  # started inline, not in a Task
        await asyncio.sleep(0.001 * (5 - message["n"] % 5))
        assert asyncio.current_task() is not None  # carried on by a Task
        return message

    with TestClient(Spikard(routes=[slow])) as client, client.connect("/slow") as ws:
        for n in range(10):
            ws.send_json({"n": n})
        assert [ws.receive_json()["n"] for _ in range(10)] == list(range(10))


def test_awaiting_futures_locks_and_gather() -> None:
    lock = asyncio.Lock()

    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    @websocket("/gather")
    async def gather(message: list[int]) -> list[int]:
        async with lock:
            return list(await asyncio.gather(*(double(x) for x in message)))

    with TestClient(Spikard(routes=[gather])) as client, client.connect("/gather") as ws:
        ws.send_json([1, 2, 3])
        assert ws.receive_json() == [2, 4, 6]
        ws.send_json(["x"])
        assert ws.receive_json()["code"] == "validation_failed"


def test_exceptions_become_handler_error_and_tracebacks_go_to_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @websocket("/boom")
    async def boom(message: dict[str, Any]) -> None:
        if message.get("for_client"):
            raise HandlerError("try again later")
        if message.get("empty"):
            raise ValueError
        raise KeyError("secret detail")

    with (
        caplog.at_level(logging.ERROR, logger="spikard"),
        TestClient(Spikard(routes=[boom])) as client,
        client.connect("/boom") as ws,
    ):
        ws.send_json({})
        error = ws.receive_json()
        # Only an error raised for the client carries its text; the rest stays in the log.
        assert error == {"type": "error", "code": "handler_error", "message": "internal error", "errors": []}
        ws.send_json({"empty": True})
        assert ws.receive_json()["message"] == "internal error"
        ws.send_json({"for_client": True})
        assert ws.receive_json() == {
            "type": "error",
            "code": "handler_error",
            "message": "try again later",
            "errors": [],
        }
        ws.send_json({})
        assert ws.receive_json()["code"] == "handler_error"  # still open
    assert any(r.exc_info for r in caplog.records)
    assert "secret detail" in caplog.text
    assert "boom" in caplog.text


def test_unserialisable_reply_is_an_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    @websocket("/odd")
    async def odd(message: Any) -> Any:
        return {"value": object()}

    with (
        caplog.at_level(logging.ERROR, logger="spikard"),
        TestClient(Spikard(routes=[odd])) as client,
        client.connect("/odd") as ws,
    ):
        ws.send_json(1)
        error = ws.receive_json()
        assert error["code"] == "handler_error"
        assert error["message"] == "internal error"
    assert "cannot be sent as JSON" in caplog.text


def test_connection_context() -> None:
    @websocket("/rooms/{room}")
    async def room(message: Any, ws: WebSocket) -> dict[str, Any]:
        ws.state.seen = getattr(ws.state, "seen", 0) + 1
        return {
            "room": ws.path_params["room"],
            "tags": ws.query_params.getlist("tag"),
            "first": ws.query_params["tag"],
            "agent": ws.headers["X-Agent"],
            "seen": ws.state.seen,
            "path": ws.path,
            "route": ws.route,
            "client": ws.client[0],
        }

    with (
        TestClient(Spikard(routes=[room])) as client,
        client.connect("/rooms/lobby?tag=a&tag=b", headers={"x-agent": "t"}) as ws,
    ):
        ws.send_json(None)
        ws.send_json(None)
        assert ws.receive_json()["seen"] == 1
        assert ws.receive_json() == {
            "room": "lobby",
            "tags": ["a", "b"],
            "first": "a",
            "agent": "t",
            "seen": 2,
            "path": "/rooms/lobby",
            "route": "/rooms/{room}",
            "client": "127.0.0.1",
        }


def test_push_at_any_time_from_a_background_task() -> None:
    tasks: set[asyncio.Task[None]] = set()

    async def tick(ws: WebSocket, n: int) -> None:
        for i in range(n):
            await asyncio.sleep(0.001)
            await ws.send({"tick": i})
        await ws.send(b"\x00done")

    @websocket("/ticks")
    async def ticks(message: int, ws: WebSocket) -> dict[str, str]:
        task = asyncio.get_running_loop().create_task(tick(ws, message))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return {"started": "yes"}

    with TestClient(Spikard(routes=[ticks])) as client, client.connect("/ticks") as ws:
        ws.send_json(3)
        got = [ws.receive_json() for _ in range(4)]
        # The reply travels through the core; a push made after the handler returned may
        # overtake it. Pushes keep their own order.
        assert {"started": "yes"} in got
        assert [m for m in got if "tick" in m] == [{"tick": 0}, {"tick": 1}, {"tick": 2}]
        assert ws.receive_bytes() == b"\x00done"


def test_send_after_close_raises_connection_closed() -> None:
    errors: list[BaseException] = []

    @websocket("/closing")
    async def closing(message: Any, ws: WebSocket) -> None:
        await ws.close(4001, "bye")
        try:
            await ws.send({"late": True})
        except ConnectionClosedError as exc:
            errors.append(exc)

    with TestClient(Spikard(routes=[closing])) as client, client.connect("/closing") as ws:
        ws.send_json({})
        assert ws.receive_close() == (4001, "bye")
    assert len(errors) == 1
    assert errors[0].code == "connection_closed"  # type: ignore[attr-defined]


def test_on_connect_rejects_and_hooks_take_the_connection() -> None:
    events: list[str] = []

    @websocket("/guarded")
    async def guarded(message: Any) -> Any:
        return message

    @guarded.on_connect
    async def check(ws: WebSocket) -> bool | None:
        token = ws.query_params.get("token")
        if token == "teapot":
            raise Rejection("short and stout", status=418)
        if token != "ok":
            return False
        ws.state.user = "ann"
        return None

    @guarded.on_disconnect
    def gone(websocket: WebSocket, code: int, reason: str) -> None:
        events.append(f"{websocket.state.user}:{code}:{reason}")

    with TestClient(Spikard(routes=[guarded])) as client:
        with pytest.raises(UpgradeRejected) as refused, client.connect("/guarded"):
            pass
        assert refused.value.status == 403
        assert refused.value.json()["code"] == "connection_rejected"
        with pytest.raises(UpgradeRejected) as teapot, client.connect("/guarded?token=teapot"):
            pass
        assert teapot.value.status == 418
        assert teapot.value.json()["message"] == "short and stout"
        with client.connect("/guarded?token=ok") as ws:
            ws.send_json("hi")
            assert ws.receive_json() == "hi"
            ws.close(4000, "done")
        client.close()
    assert events == ["ann:4000:done"]


def test_on_connect_error_is_a_500_without_details() -> None:
    @websocket("/broken")
    async def broken(message: Any) -> Any:
        return message

    @broken.on_connect
    def explode() -> None:
        raise RuntimeError("database password is hunter2")

    with TestClient(Spikard(routes=[broken])) as client:
        with pytest.raises(UpgradeRejected) as refused, client.connect("/broken"):
            pass
        assert refused.value.status == 500
        assert b"hunter2" not in refused.value.body


def test_binary_handler() -> None:
    @websocket("/bin")
    async def text(message: Any) -> Any:
        return message

    @text.on_binary
    async def data(message: bytes, ws: WebSocket) -> Any:
        if message == b"json":
            return {"size": len(message)}
        return message[::-1]

    with TestClient(Spikard(routes=[text])) as client, client.connect("/bin") as ws:
        ws.send_bytes(b"abc")
        assert ws.receive_bytes() == b"cba"
        ws.send_bytes(b"json")
        assert ws.receive_json() == {"size": 4}


def test_graceful_shutdown_closes_1001_and_runs_on_disconnect() -> None:
    events: list[str] = []
    done = threading.Event()

    @websocket("/stay")
    async def stay(message: Any) -> Any:
        return message

    @stay.on_disconnect
    async def left(code: int) -> None:
        await asyncio.sleep(0.01)  # the shutdown waits for async hooks
        events.append(f"disconnect:{code}")
        done.set()

    client = TestClient(Spikard(routes=[stay]))
    with client.connect("/stay") as ws:
        ws.send_json(1)
        assert ws.receive_json() == 1
        client.close()
        assert events == ["disconnect:1001"]
        assert ws.receive_close() == (1001, "server shutting down")


def test_async_test_client() -> None:
    @websocket("/echo")
    async def echo(message: Any) -> Any:
        return message

    async def main() -> None:
        async with TestClient(Spikard(routes=[echo])) as client, client.connect("/echo") as ws:
            await ws.send_json({"a": [1, 2]})
            assert await ws.receive_json() == {"a": [1, 2]}
            await ws.send_text("nope")
            assert (await ws.receive_json())["code"] == "invalid_json"
            await ws.send_bytes(b"\x01")
            with pytest.raises(Closed) as closed:
                await ws.receive()
            assert closed.value.code == 1003

    asyncio.run(main())


def test_app_decorator_and_duplicate_routes() -> None:
    app = Spikard()

    @app.websocket("/hello")
    async def hello(message: Greeting) -> dict[str, str]:
        return {"hello": message["name"]}

    assert app.routes == (hello,)
    with pytest.raises(DuplicateRouteError):

        @app.websocket("/hello")
        async def again(message: Any) -> None: ...

    with TestClient(app) as client, client.connect("/hello") as ws:
        ws.send_json({"name": "ann"})
        assert ws.receive_json() == {"hello": "ann"}


def test_route_stays_callable() -> None:
    @websocket("/echo")
    async def echo(message: Any) -> Any:
        return message

    assert asyncio.run(echo({"a": 1})) == {"a": 1}


def test_core_errors_are_python_exceptions_with_codes() -> None:
    @websocket("no-slash")
    async def bad(message: Any) -> None: ...

    with pytest.raises(InvalidPathError) as invalid:
        Spikard(routes=[bad]).start()
    assert invalid.value.code == "invalid_path"
    with pytest.raises(ConfigError):
        Spikard(max_message_size=0).start()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(BindError) as bind:
            Spikard().start("127.0.0.1", taken.getsockname()[1])
        assert isinstance(bind.value, OSError)


def test_message_size_limits() -> None:
    @websocket("/small", max_message_size=16)
    async def small(message: Any) -> Any:
        return message

    with TestClient(Spikard(routes=[small], max_message_size=1024)) as client, client.connect("/small") as ws:
        ws.send_json("x" * 10)
        assert ws.receive_json() == "x" * 10
        ws.send_json("x" * 20)
        assert ws.receive_close()[0] == 1009


def test_compression_is_negotiated_only_when_the_app_sets_it() -> None:
    @websocket("/echo")
    async def echo(message: Any) -> Any:
        return message

    def extensions(app: Spikard) -> str | None:
        """The Sec-WebSocket-Extensions the app answers to a client offering deflate, after a
        large repetitive message went there and back."""
        with (
            TestClient(app) as client,
            connect(client.url + "/echo", compression="deflate", proxy=None) as ws,
        ):
            big = {"fill": "x" * 20_000}
            ws.send(json.dumps(big))
            assert json.loads(ws.recv(5)) == big
            return ws.response.headers.get("Sec-WebSocket-Extensions")

    assert extensions(Spikard(routes=[echo])) is None  # off by default
    assert extensions(Spikard(routes=[echo], compression=False)) is None
    defaults = "permessage-deflate; server_no_context_takeover"
    assert extensions(Spikard(routes=[echo], compression=True)) == defaults
    kept = Spikard(routes=[echo], compression={"threshold": 0, "server_context_takeover": True})
    assert extensions(kept) == "permessage-deflate"
    assert extensions(Spikard(routes=[echo], compression={"level": 9})) == defaults


@pytest.mark.parametrize(
    "value",
    [
        "yes",
        1,
        {"threshold": -1},
        {"threshold": "big"},
        {"server_context_takeover": 1},
        {"level": 10},
        {"level": "fast"},
        {"colour": 1},
    ],
)
def test_an_invalid_compression_option_is_a_config_error(value: Any) -> None:
    with pytest.raises(ConfigError, match="compression") as refused:
        Spikard(compression=value).start()
    assert refused.value.code == "invalid_config"


def test_many_connections_interleave() -> None:
    @websocket("/echo")
    async def echo(message: Any, ws: WebSocket) -> Any:
        if message["i"] % 3 == 0:
            await asyncio.sleep(0)
        return {"id": ws.id, **message}

    async def talk(client: TestClient, n: int) -> None:
        async with client.connect("/echo") as ws:
            for i in range(n):
                await ws.send_json({"i": i})
            replies = [await ws.receive_json() for _ in range(n)]
            assert [r["i"] for r in replies] == list(range(n))
            assert len({r["id"] for r in replies}) == 1

    async def main() -> None:
        async with TestClient(Spikard(routes=[echo])) as client:
            await asyncio.gather(*(talk(client, 50) for _ in range(20)))

    asyncio.run(main())


def test_one_long_lived_loop_thread_for_every_server() -> None:
    seen: list[tuple[str, int]] = []

    @websocket("/where")
    async def where(message: Any) -> None:
        seen.append((threading.current_thread().name, id(asyncio.get_running_loop())))

    for _ in range(2):
        with TestClient(Spikard(routes=[where])) as client, client.connect("/where") as ws:
            for i in range(3):
                ws.send_json(i)
            ws.close()
    assert len(seen) == 6
    assert {name for name, _ in seen} == {"spikard-loop"}
    assert len({loop for _, loop in seen}) == 1
    assert [t.name for t in threading.enumerate()].count("spikard-loop") == 1


def test_uvloop_is_used_when_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    kinds: list[type] = []

    @websocket("/loop")
    async def loop_kind(message: Any) -> str:
        kinds.append(type(asyncio.get_running_loop()))
        return "ok"

    with TestClient(Spikard(routes=[loop_kind])) as client, client.connect("/loop") as ws:
        ws.send_json(None)
        assert ws.receive_json() == "ok"
    assert kinds == [uvloop.Loop]


def test_a_raw_text_route_derives_no_message_schema_and_refuses_one() -> None:
    @websocket("/raw", raw_text=True)
    async def shout(message: str) -> str:
        return message.upper()

    assert shout.raw_text
    assert shout.message_schema is None
    with pytest.raises(ConfigError) as refused:
        websocket("/raw", raw_text=True, message_schema={"type": "string"})(shout.handler)
    assert refused.value.route == "/raw"


def test_a_raw_text_route_hands_over_its_str_undecoded_and_refuses_other_annotations() -> None:
    # A raw-text message is the client's text: no type system re-encodes and decodes it.
    @websocket("/raw", raw_text=True)
    async def shout(message: str) -> str:
        return message.upper()

    assert shout.plan.converter is None
    with pytest.raises(ConfigError, match="raw-text route's message is a `str`") as refused:

        @websocket("/raw", raw_text=True)
        async def count(message: int) -> int:
            return message

    assert refused.value.route == "/raw"


def test_a_blocking_def_handler_holds_up_only_its_own_connection() -> None:
    # Issue 14, finding 7: plain `def` handlers run in the thread pool, not on the loop.
    @websocket("/slow")
    def slow(message: dict[str, Any]) -> dict[str, str]:
        time.sleep(message["seconds"])
        return {"slept": "yes"}

    @websocket("/fast")
    async def fast(message: dict[str, Any]) -> dict[str, Any]:
        return message

    with (
        TestClient(Spikard(routes=[slow, fast])) as client,
        client.connect("/slow") as sleeper,
        client.connect("/fast") as other,
    ):
        sleeper.send_json({"seconds": 3})
        started = time.monotonic()
        other.send_json({"n": 1})
        assert other.receive_json() == {"n": 1}
        assert time.monotonic() - started < 2, "the fast route waited for the sleeping handler"
        assert sleeper.receive_json() == {"slept": "yes"}


def test_each_call_has_its_own_context() -> None:
    # Issue 14, finding 8: a ContextVar set by one connection's handler is not seen by another's.
    seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")

    @websocket("/ctx")
    async def ctx(message: dict[str, Any]) -> dict[str, str]:
        before = seen.get()
        seen.set(message["who"])
        await asyncio.sleep(0.01)  # suspends: the rest runs in a Task with the same copy
        return {"before": before, "after": seen.get()}

    with (
        TestClient(Spikard(routes=[ctx])) as client,
        client.connect("/ctx") as a,
        client.connect("/ctx") as b,
    ):
        a.send_json({"who": "a"})
        b.send_json({"who": "b"})
        assert a.receive_json() == {"before": "unset", "after": "a"}
        assert b.receive_json() == {"before": "unset", "after": "b"}
        a.send_json({"who": "a2"})
        assert a.receive_json() == {"before": "unset", "after": "a2"}


def test_the_core_s_warnings_reach_the_spikard_logger(caplog: pytest.LogCaptureFixture) -> None:
    # Issue 14, finding 6: a reply dropped by its response schema is logged, with the route.
    @websocket("/typed", response_schema={"type": "object", "required": ["ok"]})
    async def typed(message: dict[str, Any]) -> dict[str, Any]:
        return message

    with caplog.at_level(logging.WARNING, logger="spikard"):
        with TestClient(Spikard(routes=[typed])) as client, client.connect("/typed") as ws:
            ws.send_json({"nope": 1})
            ws.send_json({"ok": True})
            assert ws.receive_json() == {"ok": True}  # the first reply was dropped
        records = [r for r in caplog.records if "response schema" in r.getMessage()]
        assert records, caplog.text
        assert "/typed" in records[0].getMessage()
        assert records[0].levelno == logging.WARNING


def test_serves_on_the_ipv6_loopback() -> None:
    """``host="::1"`` binds the IPv6 loopback (no brackets needed) and reports it unbracketed."""

    @websocket("/echo")
    async def echo(message: Any) -> Any:
        return message

    with TestClient(Spikard(routes=[echo]), host="::1") as client:
        assert client.server.host == "::1"
        assert client.url.startswith("ws://[::1]:")
        with client.connect("/echo") as ws:
            ws.send_json({"over": "ipv6"})
            assert ws.receive_json() == {"over": "ipv6"}


def test_subprotocols_and_cookies_reach_the_handler() -> None:
    @websocket("/graphql", subprotocols=["graphql-transport-ws", "graphql-ws"])
    async def info(message: Any, ws: WebSocket) -> dict[str, Any]:
        return {"subprotocol": ws.subprotocol, "cookies": ws.cookies}

    with TestClient(Spikard(routes=[info])) as client:
        offered = client.connect("/graphql", subprotocols=["graphql-ws"], headers={"Cookie": "a=1; a=2; b=x"})
        with offered as ws:
            assert ws.subprotocol == "graphql-ws"
            ws.send_json({})
            assert ws.receive_json() == {"subprotocol": "graphql-ws", "cookies": {"a": "1", "b": "x"}}
        with client.connect("/graphql") as ws:
            assert ws.subprotocol is None
            ws.send_json({})
            assert ws.receive_json() == {"subprotocol": None, "cookies": {}}


def test_a_subprotocol_must_be_an_http_token() -> None:
    @websocket("/p", subprotocols=["not a token"])
    async def p(message: Any) -> None:
        return None

    with pytest.raises(ConfigError, match="not an HTTP token"):
        Spikard(routes=[p]).start()


def test_lifespan_hooks_run_around_the_server_on_the_handlers_loop() -> None:
    events: list[str] = []
    loops: list[asyncio.AbstractEventLoop] = []

    @websocket("/loop")
    async def same_loop(message: Any) -> bool:
        return asyncio.get_running_loop() is loops[0]

    async def open_pool() -> None:
        loops.append(asyncio.get_running_loop())
        events.append("startup:async")

    app = Spikard(routes=[same_loop], on_startup=[open_pool])

    @app.on_startup
    def second() -> None:
        events.append("startup:sync")

    @app.on_shutdown
    async def close_pool() -> None:
        events.append("shutdown")

    with TestClient(app) as client:
        assert events == ["startup:async", "startup:sync"]
        with client.connect("/loop") as ws:
            ws.send_json({})
            assert ws.receive_json() is True
    assert events == ["startup:async", "startup:sync", "shutdown"]


def test_a_failing_startup_hook_stops_the_start_and_a_failing_shutdown_hook_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse() -> None:
        raise RuntimeError("database unreachable")

    with pytest.raises(RuntimeError, match="database unreachable"):
        Spikard(routes=[], on_startup=[refuse]).start()

    ran: list[str] = []
    app = Spikard(on_shutdown=[refuse, lambda: ran.append("next")])
    app.start().stop()
    assert ran == ["next"]
    assert any("on_shutdown hook" in r.getMessage() and r.exc_info for r in caplog.records)


def test_capture_records_what_is_published_to_a_topic() -> None:
    @websocket("/rooms/{room}")
    async def room(message: dict[str, Any], ws: WebSocket) -> str:
        await ws.publish(f"room:{ws.path_params['room']}", message)
        return "published"

    app = Spikard(routes=[room])
    with TestClient(app) as client:
        with client.capture("room:lobby") as published, client.connect("/rooms/lobby") as ws:
            ws.send_json({"text": "hi"})
            assert ws.receive_json() == "published"
            asyncio.run(app.publish("room:lobby", {"text": "from the server"}))
            asyncio.run(app.publish("room:other", {"text": "elsewhere"}))
        assert published.messages == [{"text": "hi"}, {"text": "from the server"}]
        asyncio.run(app.publish("room:lobby", {"text": "after"}))
        assert published.messages == [{"text": "hi"}, {"text": "from the server"}]
