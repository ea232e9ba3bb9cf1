"""Starting apps the way users do: ``spikard run`` in a subprocess, bound to a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

STARTUP_TIMEOUT = 60.0


@dataclass
class Served:
    """A ``spikard run`` process and what it printed."""

    process: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def output(self) -> str:
        with self.changed:
            return "".join(self.lines)

    def wait_for_output(self, text: str, timeout: float = 5.0) -> bool:
        """Wait until ``text`` was printed (stdout or stderr)."""
        with self.changed:
            return self.changed.wait_for(lambda: text in "".join(self.lines), timeout)

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = 15.0) -> int:
        """Send ``sig`` and wait for the process to exit; its exit status."""
        self.process.send_signal(sig)
        return self.process.wait(timeout)


def _pump(served: Served) -> None:
    assert served.process.stdout is not None
    for line in served.process.stdout:
        with served.changed:
            served.lines.append(line)
            served.changed.notify_all()


@contextmanager
def spikard_run(
    target: str | Path, *extra: str, module: bool = False, cwd: Path | None = None
) -> Iterator[Served]:
    """Run ``spikard run TARGET --port 0`` (``python -m spikard`` when ``module``) and yield it
    once it printed ``spikard listening on ws://HOST:PORT``; killed on exit if still running."""
    command = [sys.executable, "-m", "spikard"] if module else [str(Path(sys.executable).parent / "spikard")]
    if not module and not Path(command[0]).exists():
        command = [sys.executable, "-m", "spikard"]
    args = [*command, "run", str(target), "--host", "127.0.0.1", "--port", "0", *extra]
    marker = "spikard listening on "
    with serve(args, marker, cwd=cwd) as served:
        line = next(line for line in served.output().splitlines() if marker in line)
        served.url = line.split(marker, 1)[1].strip()
        yield served


@contextmanager
def serve(
    args: list[str], marker: str, *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[Served]:
    """Run ``args`` and yield it once it printed ``marker`` (``served.url`` is for the caller
    to fill in); killed on exit if still running."""
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        cwd=cwd,
    )
    served = Served(process, url="")
    threading.Thread(target=_pump, args=(served,), daemon=True).start()
    try:
        if not served.wait_for_output(marker, STARTUP_TIMEOUT):
            process.kill()
            raise AssertionError(f"{args} did not start:\n{served.output()}")
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
