"""``spikard run`` and ``python -m spikard run``: real processes, real signals."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from serve import spikard_run
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import spikard

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "python"

HOOKED = """
from spikard import Spikard, websocket

@websocket("/echo")
async def echo(message: dict) -> dict:
    return message

@echo.on_disconnect
async def left(code: int) -> None:
    print(f"on_disconnect {code}", flush=True)

app = Spikard(routes=[echo])
"""


@pytest.mark.parametrize("module", [False, True], ids=["spikard", "python-m-spikard"])
def test_run_echo_example(module: bool) -> None:
    with spikard_run(f"{EXAMPLES / 'echo.py'}:app", module=module) as served:
        with connect(served.url + "/echo", proxy=None) as ws:
            ws.send(json.dumps({"hello": "world"}))
            assert json.loads(ws.recv(5)) == {"hello": "world"}
        assert served.stop() == 0


@pytest.mark.parametrize("module", [False, True], ids=["spikard", "python-m-spikard"])
def test_version(module: bool) -> None:
    command = [sys.executable, "-m", "spikard"] if module else [str(Path(sys.executable).parent / "spikard")]
    done = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"spikard {spikard.__version__}\n"
    assert spikard.__version__ == importlib.metadata.version("spikard")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signal_shuts_down_gracefully(tmp_path: Path, sig: signal.Signals) -> None:
    app = tmp_path / "hooked.py"
    app.write_text(HOOKED)
    with spikard_run(app) as served, connect(served.url + "/echo", proxy=None) as ws:
        ws.send("[1]")
        assert ws.recv(5) == "[1]"
        served.process.send_signal(sig)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001
        assert served.process.wait(15) == 0
        assert served.wait_for_output("on_disconnect 1001"), served.output()
        assert f"{sig.name} received, shutting down" in served.output()


def test_module_without_app_serves_its_routes(tmp_path: Path) -> None:
    app = tmp_path / "bare.py"
    app.write_text(HOOKED.replace("app = Spikard(routes=[echo])", ""))
    with spikard_run(app) as served, connect(served.url + "/echo", proxy=None) as ws:
        ws.send('{"a": 1}')
        assert json.loads(ws.recv(5)) == {"a": 1}


def test_bad_target_fails_with_a_message(tmp_path: Path) -> None:
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    for target, message in [
        (str(tmp_path / "missing.py"), "no such file"),
        (str(empty), "defines no `app`"),
        (f"{empty}:nope", "has no attribute 'nope'"),
        (f"{empty}:x", "is not a Spikard app"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "spikard", "run", target, "--port", "0"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode != 0
        assert message in done.stderr, done.stderr


RUN_LOGGED = """
import logging, sys
from spikard import Spikard, websocket

@websocket("/echo")
async def echo(message: dict) -> dict:
    return message

if "--configured" in sys.argv:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(name)s|%(levelname)s|%(message)s")
Spikard(routes=[echo]).run(port=0)
"""


@pytest.mark.parametrize("configured", [False, True], ids=["unconfigured", "configured"])
def test_run_logs_the_listening_line(tmp_path: Path, configured: bool) -> None:
    """``app.run`` announces the address on the ``spikard`` logger at INFO: through the app's
    own logging configuration when there is one, on stderr when logging is not configured."""
    app = tmp_path / "logged.py"
    app.write_text(RUN_LOGGED)
    process = subprocess.Popen(
        [sys.executable, str(app), *(["--configured"] if configured else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        stream = process.stdout if configured else process.stderr
        assert stream is not None
        line = stream.readline()
        prefix = "spikard|INFO|" if configured else "INFO spikard: "
        assert re.fullmatch(re.escape(prefix) + r"spikard listening on ws://127\.0\.0\.1:\d+\n", line), line
        process.send_signal(signal.SIGINT)  # the handlers are in place once the line is out
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, err
    assert "listening" not in out + err, "announced once"
