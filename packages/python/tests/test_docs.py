"""Every code block of docs/python.md (the seed's examples among them) runs as written.

Each block is preceded by ``<!-- test: NAME -->``; app blocks are saved to a file and started
with ``spikard run FILE --port 0`` like a user would (blocks without an import get
``from spikard import websocket`` in front, as the seed shows them), then talked to over a real
socket. The client blocks run against the typed chat block, the JavaScript one under Node's
WHATWG ``WebSocket`` (the browser API). The README's Python blocks are started the same way.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from serve import Served, spikard_run
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "python.md"
BLOCK = re.compile(r"<!-- test: (?P<name>[\w-]+) -->\n```(?P<lang>\w+)\n(?P<code>.*?)```", re.S)
ANY_BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(path: Path) -> dict[str, str]:
    return {m["name"]: m["code"] for m in BLOCK.finditer(path.read_text())}


DOC_BLOCKS = blocks(DOC)


def open_ws(served: Served, path: str) -> ClientConnection:
    return connect(served.url + path, proxy=None, open_timeout=5)


def app_file(tmp_path: Path, name: str) -> Path:
    code = DOC_BLOCKS[name]
    if "import" not in code.split("@websocket", 1)[0]:
        code = "from spikard import websocket\n\n" + code
    path = tmp_path / f"{name}.py"
    path.write_text(code)
    return path


def exchange(ws: ClientConnection, message: object) -> object:
    ws.send(json.dumps(message))
    return json.loads(ws.recv(5))


def test_every_python_block_is_tested() -> None:
    text = DOC.read_text()
    fenced = [m for m in ANY_BLOCK.finditer(text) if m[1] in ("python", "javascript")]
    marked = [m for m in BLOCK.finditer(text) if m["lang"] in ("python", "javascript")]
    assert len(fenced) == len(marked), "a Python or JavaScript block lacks its <!-- test: NAME --> marker"
    assert set(DOC_BLOCKS) == set(SCENARIOS) | {"client", "browser", "testing", "rooms-push", "rooms-schema"}


def echo_scenario(served: Served) -> None:
    with open_ws(served, "/echo") as ws:
        assert exchange(ws, {"a": [1, "x", None]}) == {"a": [1, "x", None]}


def chat_scenario(served: Served) -> None:
    with open_ws(served, "/chat") as ws:
        assert exchange(ws, {"text": "Hello", "user": "Alice"}) == {"echo": "Hello", "from": "Alice"}
        shown = re.search(r"the handler being called:\n\n```json\n(.*?)```", DOC.read_text(), re.S)
        assert shown is not None, "the envelope shown after the chat block"
        expected = json.loads(shown[1])
        assert exchange(ws, {"text": "hi"}) == expected


def hooks_scenario(served: Served) -> None:
    with open_ws(served, "/chat") as ws:
        assert served.wait_for_output("Client connected")
        assert exchange(ws, {"a": 1}) == {"echo": {"a": 1}}
    assert served.wait_for_output("Client disconnected")


def manual_scenario(served: Served) -> None:
    with open_ws(served, "/chat") as ws:
        assert exchange(ws, {"text": "Hello", "user": "Alice"}) == {"echo": "Hello"}
        error = exchange(ws, {"text": "Hello"})
        assert isinstance(error, dict)
        assert error["code"] == "validation_failed"
        assert [e["path"] for e in error["errors"]] == ["/user"]


def context_scenario(served: Served) -> None:
    with pytest.raises(InvalidStatus) as refused:
        open_ws(served, "/rooms/lobby")
    assert refused.value.response.status_code == 403
    with open_ws(served, "/rooms/lobby?user=ann") as ws:
        ws.send("{}")
        assert json.loads(ws.recv(5)) == {"typing": True}
        reply = json.loads(ws.recv(5))
        assert reply["room"] == "lobby"
        assert reply["user"] == "ann"
        assert reply["count"] == 1
        assert "websockets" in reply["agent"]
    assert served.wait_for_output("ann left with 1000")


def types_scenario(served: Served) -> None:
    with open_ws(served, "/orders") as ws:
        assert exchange(ws, {"item": "pen"}) == {"item": "PEN", "quantity": 1}
        assert exchange(ws, {"quantity": 2})["code"] == "validation_failed"  # type: ignore[index]
    with open_ws(served, "/moves") as ws:
        assert exchange(ws, {"x": 1, "y": 2}) == {"x": 2, "y": 1}
    with open_ws(served, "/points") as ws:
        ws.send('{"x": 7}')
        assert served.wait_for_output("Point(x=7, y=0)")


def binary_scenario(served: Served) -> None:
    with open_ws(served, "/files") as ws:
        ws.send(b"\x00\x01\x02")
        assert json.loads(ws.recv(5)) == {"received": 3}
        assert exchange(ws, {}) == {"ok": True}


def raw_text_scenario(served: Served) -> None:
    with open_ws(served, "/shout") as ws:
        ws.send("hello")
        assert ws.recv(5) == "HELLO"
        ws.send('{"a": 1}')
        assert ws.recv(5) == '{"A": 1}'


def dispatch_scenario(served: Served) -> None:
    with open_ws(served, "/chat") as ws:
        assert exchange(ws, {"type": "join", "user": "ann", "id": 1}) == {"joined": "ann", "id": 1}
        assert exchange(ws, {"type": "say", "text": "hi"}) == {"echo": "hi"}
        error = exchange(ws, {"type": "kick"})
        assert isinstance(error, dict), error
        assert error["code"] == "validation_failed", error
        assert [e["message"] for e in error["errors"]] == ['value is not one of "join", "say"']
    with urllib.request.urlopen(served.url.replace("ws://", "http://") + "/asyncapi.json", timeout=5) as got:
        document = json.load(got)
    assert document["info"] == {"title": "Chat", "version": "1.0.0"}
    assert list(document["operations"]) == ["chat.join", "chat.say"]


def rooms_scenario(served: Served) -> None:
    with open_ws(served, "/rooms/lobby?user=ann") as ann:
        with open_ws(served, "/rooms/lobby?user=bob") as bob:
            assert json.loads(ann.recv(5)) == {"joined": "bob"}
            bob.send(json.dumps({"text": "hi"}))
            assert json.loads(bob.recv(5)) == {"user": "bob", "text": "hi"}  # not its own join
            assert json.loads(ann.recv(5)) == {"user": "bob", "text": "hi"}
            with open_ws(served, "/announce") as announcer:
                assert exchange(announcer, {"text": "news"}) == {"delivered": 2}
            assert json.loads(ann.recv(5)) == {"announcement": "news"}
            assert json.loads(bob.recv(5)) == {"announcement": "news"}
        assert json.loads(ann.recv(5)) == {"left": "bob", "members": 1}


def compression_scenario(served: Served) -> None:
    with connect(served.url + "/feed", compression="deflate", proxy=None, open_timeout=5) as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert extensions.startswith("permessage-deflate"), extensions
        assert exchange(ws, {"n": 1}) == {"items": [{"n": 1}] * 100}
    with connect(served.url + "/feed", compression=None, proxy=None, open_timeout=5) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        assert exchange(ws, {"n": 2}) == {"items": [{"n": 2}] * 100}


SCENARIOS: dict[str, Callable[[Served], None]] = {
    "echo": echo_scenario,
    "app": echo_scenario,
    "chat": chat_scenario,
    "hooks": hooks_scenario,
    "manual": manual_scenario,
    "context": context_scenario,
    "types": types_scenario,
    "binary": binary_scenario,
    "raw-text": raw_text_scenario,
    "dispatch": dispatch_scenario,
    "rooms": rooms_scenario,
    "compression": compression_scenario,
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_app_block(tmp_path: Path, name: str) -> None:
    target = app_file(tmp_path, name)
    with spikard_run(target) as served:
        SCENARIOS[name](served)
        assert served.stop() == 0


def test_python_client_block(tmp_path: Path) -> None:
    with spikard_run(app_file(tmp_path, "chat")) as served:
        code = DOC_BLOCKS["client"].replace("ws://localhost:8000", served.url)
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == "{'echo': 'Hello', 'from': 'Alice'}\n"


def test_browser_block(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the browser block runs under Node's WHATWG WebSocket")
    with spikard_run(app_file(tmp_path, "chat")) as served:
        code = DOC_BLOCKS["browser"].replace("ws://localhost:8000", served.url)
        code += (
            "\nconst shown = ws.onmessage;\nws.onmessage = (event) => { shown(event); process.exit(0); };\n"
        )
        code += "setTimeout(() => process.exit(3), 5000);\n"
        done = subprocess.run(
            [node, "--experimental-websocket", "--no-warnings", "-e", code],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "Received: { echo: 'Hello', from: 'Alice' }"


def test_testing_block(tmp_path: Path) -> None:
    path = tmp_path / "testing_block.py"
    path.write_text(DOC_BLOCKS["testing"])
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_rooms_push_block(tmp_path: Path) -> None:
    path = tmp_path / "rooms_push_block.py"
    path.write_text(DOC_BLOCKS["rooms-push"])
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    shown = re.search(r"It prints `(.*?)` and `(.*?)`\.", DOC.read_text())
    assert shown is not None, "the output shown after the rooms-push block"
    assert done.stdout.splitlines() == [shown[1], shown[2]]


def test_rooms_schema_block(tmp_path: Path) -> None:
    path = tmp_path / "rooms_schema_block.py"
    path.write_text(DOC_BLOCKS["rooms-schema"])
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    shown = re.search(r"It prints `(.*?)` \(nobody.*?\), then\n`(.*?)`, then\n`(.*?)`\.", DOC.read_text())
    assert shown is not None, "the output shown after the rooms-schema block"
    assert done.stdout.splitlines() == [shown[1], shown[2], shown[3]]
    assert "spikard.errors.PublishError" in done.stderr, "the uncaught error is logged"


def readme_python_blocks() -> list[str]:
    readme = REPO / "README.md"
    if not readme.exists():
        return []
    return [code for lang, code in ANY_BLOCK.findall(readme.read_text()) if lang == "python"]


def test_readme_python_blocks_start_and_answer(tmp_path: Path) -> None:
    codes = readme_python_blocks()
    if not codes:
        pytest.skip("README.md has no Python block yet")
    for index, code in enumerate(codes):
        path = tmp_path / f"readme_{index}.py"
        path.write_text(code)
        with spikard_run(path) as served:
            if '"/chat"' in code:
                with open_ws(served, "/chat") as ws:
                    reply = exchange(ws, {"text": "Hello", "user": "Alice"})
                    assert isinstance(reply, dict)
                    assert reply.get("type") != "error", reply
            assert served.stop() == 0
