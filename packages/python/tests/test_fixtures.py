"""Runs every shared fixture in ``fixtures/websocket/`` through the Python package.

Each fixture (loaded at run time, one test per file, reported by name) is checked against
``fixtures/schema.json``, turned into a Spikard app whose routes implement the named handler
behaviours with the public API, served on 127.0.0.1:0, and driven step by step with real
``websockets`` clients. A fixture is only skipped when it lists ``python`` under ``skip``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from spikard import (
    HandlerError,
    PublishError,
    Rejection,
    Spikard,
    SpikardError,
    WebSocket,
    WebSocketRoute,
    websocket,
)
from spikard.testing import TestClient

LANGUAGE = "python"
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
TIMEOUT = 5.0
# Frames a client buffers before its reader pauses the transport: a client that stops calling
# recv (the `stop_reading` step) then really stops reading from its socket.
CLIENT_MAX_QUEUE = 16
FILES = sorted((FIXTURES / "websocket").glob("*.json"))
FORMAT = jsonschema.Draft202012Validator(json.loads((FIXTURES / "schema.json").read_text()))


class HookLog:
    """The fixture's hook log, appended to on the server's loop thread."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.changed = threading.Condition()

    def push(self, event: str) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> list[str]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.events) >= count, timeout)
            return list(self.events)


def behaviour(name: str, path: str, log: HookLog, **options: Any) -> WebSocketRoute[..., Any]:
    """The route for handler behaviour ``name`` (fixtures/README.md), in the public API."""
    route = websocket(path, **options)
    if name in ("echo", "binary_echo"):

        @route
        async def echo(message: Any) -> Any:
            return message

        if name == "binary_echo":

            @echo.on_binary
            async def echo_bytes(data: bytes) -> bytes:
                return data

        return echo
    if name == "chat_reply":

        @route
        async def chat(message: Any) -> dict[str, Any]:
            return {"echo": message.get("text"), "from": message.get("user")}

        return chat
    if name == "raise":

        @route
        async def fail(message: Any) -> None:
            raise HandlerError("boom")

        return fail
    if name == "crash":

        @route
        async def crash(message: Any) -> None:
            raise RuntimeError("secret internal detail")

        return crash
    if name in ("connect_crash", "reject_status"):

        @route
        async def guarded(message: Any) -> Any:
            return message

        @guarded.on_connect
        async def check(ws: WebSocket) -> None:
            if name == "connect_crash":
                raise RuntimeError("secret internal detail")
            raise Rejection("not allowed", status=int(ws.query_params["status"]))

        return guarded
    if name == "bytes_reply":

        @route
        async def bytes_reply(message: Any) -> bytes:
            return str(message["text"]).encode()

        return bytes_reply
    if name == "send_until_full":

        @route
        async def send_until_full(message: Any, ws: WebSocket) -> None:
            fill = "x" * message["bytes"]
            for seq in range(message["count"]):
                try:
                    await ws.send({"seq": seq, "fill": fill})
                except SpikardError as err:
                    log.push(f"send_failed:{err.code}")
                    break

        return send_until_full
    if name == "reply_when_asked":

        @route
        def reply_when_asked(message: Any) -> Any:  # a plain `def` handler
            return message if isinstance(message, dict) and message.get("reply") is True else None

        return reply_when_asked
    if name == "connect_slow":

        @route
        async def slow(message: Any) -> Any:
            return message

        @slow.on_connect
        async def wait(ws: WebSocket) -> None:
            log.push("connect")
            await asyncio.sleep(int(ws.query_params["ms"]) / 1000)

        return slow
    if name == "connection_info":

        @route
        async def info(message: Any, ws: WebSocket) -> dict[str, Any]:
            return {"subprotocol": ws.subprotocol, "cookies": ws.cookies}

        return info
    if name == "sleep":

        @route
        async def sleep(message: Any) -> Any:
            log.push("message")
            await asyncio.sleep(message["ms"] / 1000)
            return message

        @sleep.on_disconnect
        async def slept(code: int) -> None:
            log.push(f"disconnect:{code}")

        return sleep
    if name == "lifecycle":

        @route
        async def lifecycle(message: Any) -> Any:
            log.push("message")
            return message

        @lifecycle.on_connect
        async def connected() -> None:
            await asyncio.sleep(0)  # suspends: the hook finishes in a Task
            log.push("connect")

        @lifecycle.on_disconnect
        async def disconnected(code: int) -> None:
            log.push(f"disconnect:{code}")

        return lifecycle
    if name == "reject":

        @route
        async def rejected(message: Any) -> Any:
            return message

        @rejected.on_connect
        async def refuse() -> None:
            raise Rejection("not allowed")

        @rejected.on_disconnect
        def never(code: int) -> None:
            log.push(f"disconnect:{code}")

        return rejected
    if name == "close_on_connect":

        @route
        async def closed(message: Any) -> Any:
            return message

        @closed.on_connect
        async def deny(ws: WebSocket) -> None:
            await ws.close(1008, "not allowed")

        return closed
    if name == "params":

        @route
        async def params(message: Any, ws: WebSocket) -> dict[str, Any]:
            return {
                "path_params": ws.path_params,
                "query": dict(ws.query_params),
                "header": ws.headers.get("x-fixture"),
            }

        return params
    if name == "counter":

        @route
        def counter(message: Any, ws: WebSocket) -> dict[str, int]:
            ws.state.count = getattr(ws.state, "count", 0) + 1
            return {"count": ws.state.count}

        return counter
    if name == "push":

        @route
        async def push(message: Any, ws: WebSocket) -> dict[str, bool]:
            for i in range(message.get("times", 0)):
                await ws.send({"push": i})
                await asyncio.sleep(0)
            return {"done": True}

        return push
    if name == "close_on_message":

        @route
        async def close_on_message(message: Any, ws: WebSocket) -> None:
            await ws.close(message.get("code", 1000), message.get("reason", ""))

        return close_on_message
    if name == "rooms":
        return rooms_route(route, log)
    raise LookupError(f"unknown handler behaviour {name!r}: implement it or skip the fixture for python")


def rooms_route(
    route: Callable[[Callable[..., Any]], WebSocketRoute[..., Any]], log: HookLog
) -> WebSocketRoute[..., Any]:
    """The ``rooms`` behaviour: one room per path parameter ``room``, user from query ``user``."""

    def names(ws: WebSocket) -> tuple[str, str]:
        return ws.query_params.get("user", "anonymous"), ws.path_params["room"]

    @route
    async def rooms(message: Any, ws: WebSocket) -> Any:
        user, room = names(ws)
        action = message.get("action") if isinstance(message, dict) else None
        if action == "leave":
            await ws.unsubscribe(room)
            return {"left": room}
        if action == "count":
            return {"members": ws.topic_count(room)}
        if action == "publish":
            delivered = await ws.publish(message["topic"], {"user": user, "text": message["text"]})
            return {"delivered": delivered}
        if action == "flood":
            fill = "x" * message["bytes"]
            for seq in range(message["count"]):
                with contextlib.suppress(PublishError):
                    await ws.publish(message["topic"], {"seq": seq, "fill": fill})
            return {"flooded": message["count"]}
        await ws.publish(room, {"user": user, "text": message["text"]})
        return None

    @rooms.on_connect
    async def join(ws: WebSocket) -> None:
        user, room = names(ws)
        await ws.subscribe(room)
        await ws.publish(room, {"event": "join", "user": user})

    @rooms.on_disconnect
    async def leave(ws: WebSocket, code: int) -> None:
        user, room = names(ws)  # the connection has already left the room
        await ws.publish(room, {"event": "leave", "user": user})
        log.push(f"disconnect:{code}")

    return rooms


def build_app(fixture: dict[str, Any], log: HookLog) -> Spikard:
    settings = fixture.get("app", {})

    def seconds(option: str) -> float | None:
        ms = settings.get(option)
        return None if ms is None else ms / 1000

    app = Spikard(
        max_message_size=settings.get("max_message_size"),
        outgoing_queue=settings.get("outgoing_queue"),
        max_connections=settings.get("max_connections"),
        allowed_origins=settings.get("allowed_origins"),
        outgoing_queue_bytes=settings.get("outgoing_queue_bytes"),
        fanout_flush_interval=seconds("fanout_flush_ms"),
        ping_interval=seconds("ping_interval_ms"),
        ping_timeout=seconds("ping_timeout_ms"),
        idle_timeout=seconds("idle_timeout_ms"),
        handshake_timeout=seconds("handshake_timeout_ms"),
        drain_timeout=seconds("drain_timeout_ms"),
        compression=settings.get("compression"),
    )
    for topic in settings.get("topics", []):
        app.topic(topic["pattern"], schema=topic["schema"])
    for spec in fixture["routes"]:
        options: dict[str, Any] = {
            key: spec[key] for key in ("message_schema", "response_schema") if key in spec
        }
        for key in ("max_message_size", "raw_text", "subprotocols"):
            if key in spec.get("options", {}):
                options[key] = spec["options"][key]
        route = behaviour(spec["handler"], spec["path"], log, **options)
        if "dispatch" in spec:
            add_branches(route, spec["dispatch"], log)
        app.add_route(route)
    return app


def add_branches(route: WebSocketRoute[..., Any], dispatch: dict[str, Any], log: HookLog) -> None:
    """The route's ``dispatch`` key: a branch per message type, each one's handler the message
    handler of its named behaviour (hooks stay with the route's own behaviour)."""
    route.discriminator = dispatch.get("discriminator", "type")
    for name, spec in dispatch["branches"].items():
        handler = behaviour(spec["handler"], route.path, log)
        route.on(
            name,
            message_schema=spec.get("message_schema"),
            reply_schema=spec.get("reply_schema"),
            description=spec.get("description"),
        )(handler.handler)


def same_json(a: Any, b: Any) -> bool:
    """JSON equality that tells ``true`` from ``1`` and ``1`` from ``1.0``, as serde_json does."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def check_envelope(text: str | bytes, want: dict[str, Any]) -> None:
    assert isinstance(text, str), f"expected a text frame, got {text!r}"
    got = json.loads(text)
    assert isinstance(got, dict), f"not an error envelope: {got!r}"
    assert got.get("type") == "error", f"not an error envelope: {got!r}"
    assert isinstance(got.get("message"), str), f"envelope without message: {got!r}"
    assert isinstance(got.get("errors"), list), f"envelope without errors: {got!r}"
    assert got["code"] == want["code"], f"code {got['code']!r} != {want['code']!r}: {got!r}"
    if "message" in want:
        assert got["message"] == want["message"], got
    if "paths" in want:
        assert {e["path"] for e in got["errors"]} == set(want["paths"]), got
    if "error_messages" in want:
        assert [e["message"] for e in got["errors"]] == want["error_messages"], got
    assert got.get("truncated", False) == want.get("truncated", False), got
    if "error_count" in want:
        assert len(got["errors"]) == want["error_count"], got
    if "excludes" in want:
        assert want["excludes"] not in text, f"the envelope contains {want['excludes']!r}: {text}"


def frames(items: list[dict[str, Any]]) -> bytes:
    """The bytes of a ``send_frames`` step: each frame as a client sends it (FIN, masked with the
    key 0, which leaves the payload as it is), or raw bytes."""
    out = bytearray()
    for item in items:
        if "raw_hex" in item:
            out += bytes.fromhex(item["raw_hex"])
            continue
        opcode, payload = (1, item["text"].encode()) if "text" in item else (8, item["close"].to_bytes(2))
        out.append(0x80 | opcode)
        if len(payload) < 126:
            out.append(0x80 | len(payload))
        elif len(payload) < 1 << 16:
            out += bytes([0x80 | 126]) + len(payload).to_bytes(2)
        else:
            out += bytes([0x80 | 127]) + len(payload).to_bytes(8)
        out += bytes(4) + payload
    return bytes(out)


class Runner:
    """Drives one fixture's steps with named clients."""

    def __init__(self, client: TestClient, log: HookLog) -> None:
        self.client = client
        self.log = log
        self.sockets: dict[str, ClientConnection] = {}
        # Clients that never answer pings (`answer_pings: false`): a raw TCP socket after the
        # handshake, never read (the websockets client answers pings whenever it runs).
        self.silent: list[asyncio.StreamWriter] = []
        self.pings: dict[str, list[asyncio.Future[float]]] = {}

    async def open(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        protocols: list[str] | None = None,
        compression: bool = False,
    ) -> ClientConnection:
        """A ``websockets`` client; it offers permessage-deflate only with ``compression`` (the
        library offers it by default)."""
        return await connect(
            self.client.url + path,
            additional_headers=headers or {},
            subprotocols=[Subprotocol(p) for p in protocols] if protocols else None,
            compression="deflate" if compression else None,
            proxy=None,
            ping_interval=None,
            max_size=None,
            max_queue=CLIENT_MAX_QUEUE,
            open_timeout=TIMEOUT,
        )

    async def open_silent(self, path: str) -> asyncio.StreamWriter:
        host, port = self.client.url.removeprefix("ws://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        async with asyncio.timeout(TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return writer

    async def receive(self, name: str) -> str | bytes:
        async with asyncio.timeout(TIMEOUT):
            return await self.sockets[name].recv()

    async def receive_json(self, name: str) -> Any:
        data = await self.receive(name)
        assert isinstance(data, str), f"expected a text frame, got {data!r}"
        return json.loads(data)

    async def step(self, step: dict[str, Any]) -> None:
        name = step.get("client", "default")
        ((action, arg),) = [(k, v) for k, v in step.items() if k != "client"]
        if action == "connect" and arg.get("answer_pings") is False:
            self.silent.append(await self.open_silent(arg["path"]))
        elif action == "connect":
            compression = arg.get("compression", False)
            socket = await self.open(arg["path"], arg.get("headers"), arg.get("protocols"), compression)
            self.sockets[name] = socket
            if "subprotocol" in arg:
                assert socket.subprotocol == arg["subprotocol"]
            if compression:
                accepted = socket.response.headers.get("Sec-WebSocket-Extensions", "")
                assert accepted.startswith("permessage-deflate"), f"extensions {accepted!r}"
        elif action == "connect_rejected":
            with pytest.raises(InvalidStatus) as refused:
                await self.open(arg["path"], arg.get("headers"))
            assert refused.value.response.status_code == arg["status"]
        elif action == "expect_events":
            got = await asyncio.to_thread(self.log.wait_for, len(arg), TIMEOUT)
            assert got == arg
        elif action == "send_json":
            text = json.dumps(arg, ensure_ascii=False, separators=(",", ":"))
            await self.sockets[name].send(text)
        elif action == "send_text":
            await self.sockets[name].send(arg)
        elif action == "send_text_bytes_hex":
            await self.sockets[name].send(bytes.fromhex(arg), text=True)
        elif action == "send_binary_hex":
            await self.sockets[name].send(bytes.fromhex(arg))
        elif action == "send_frames":
            self.sockets[name].transport.write(frames(arg))
        elif action == "send_ping":
            waiter = await self.sockets[name].ping(arg.encode())
            self.pings.setdefault(name, []).append(waiter)
        elif action == "expect_pong":
            waiter = self.pings[name].pop(0)
            await asyncio.wait_for(waiter, TIMEOUT)
        elif action == "expect_json":
            got = await self.receive_json(name)
            assert same_json(got, arg), f"expected {arg!r}, got {got!r}"
        elif action == "expect_error":
            check_envelope(await self.receive(name), arg)
        elif action == "expect_nothing_ms":
            # recv answers the server's pings meanwhile (the client's reader does).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(arg / 1000):
                    got = await self.sockets[name].recv()
                    pytest.fail(f"expected nothing for {arg} ms, got {got!r}")
        elif action == "expect_text":
            got = await self.receive(name)
            assert got == arg, f"expected text {arg!r}, got {got!r}"
        elif action == "expect_binary_hex":
            got = await self.receive(name)
            assert got == bytes.fromhex(arg), f"expected binary {arg}, got {got!r}"
        elif action == "stop_reading":
            # Nothing to do but not call recv until the next expect_* step: once
            # CLIENT_MAX_QUEUE frames are buffered, the client pauses reading its socket.
            assert name in self.sockets, f"client {name!r} is not connected"
        elif action == "expect_close":
            await self.expect_close(name, arg)
        elif action == "close":
            await self.sockets[name].close(arg["code"], arg.get("reason", ""))
        elif action == "shutdown":
            self.client.server.shutdown()
        else:
            pytest.fail(f"unknown step {action!r}")

    async def expect_close(self, name: str, want: dict[str, Any]) -> None:
        """The next frame is the server's close frame (data frames skipped with ``skip_data``)."""
        socket = self.sockets[name]
        try:
            async with asyncio.timeout(TIMEOUT):
                got = await socket.recv()
                while want.get("skip_data"):
                    got = await socket.recv()
        except ConnectionClosed as closed:
            frame = closed.rcvd
            assert frame is not None, "the connection ended without a close frame"
            assert frame.code == want["code"], f"close code {frame.code} != {want['code']}"
            if "reason" in want:
                assert frame.reason == want["reason"]
        else:
            pytest.fail(f"expected close {want}, got {got!r}")

    async def close_all(self) -> None:
        for socket in self.sockets.values():
            await socket.close()
        for writer in self.silent:
            writer.close()


async def run_fixture(fixture: dict[str, Any]) -> None:
    log = HookLog()
    async with TestClient(build_app(fixture, log)) as client:
        runner = Runner(client, log)
        try:
            for index, step in enumerate(fixture["steps"]):
                try:
                    await runner.step(step)
                except AssertionError as exc:
                    raise AssertionError(f"step {index} {json.dumps(step)}: {exc}") from exc
        finally:
            await runner.close_all()


def test_fixtures_found() -> None:
    assert len(FILES) >= 30, f"expected at least 30 fixtures in {FIXTURES}, found {len(FILES)}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fixture(path: Path) -> None:
    fixture = json.loads(path.read_text())
    errors = sorted(FORMAT.iter_errors(fixture), key=str)
    assert not errors, f"does not match fixtures/schema.json: {[e.message for e in errors]}"
    assert fixture["name"] == path.stem, "`name` must equal the file name"
    reason = fixture.get("skip", {}).get(LANGUAGE)
    if reason:
        pytest.skip(reason)
    asyncio.run(run_fixture(fixture))
