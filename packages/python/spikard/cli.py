"""The ``spikard`` command: ``spikard run path/to/app.py:app --host 127.0.0.1 --port 8000``, and
``spikard asyncapi path/to/app.py:app`` printing the app's AsyncAPI 3.0 document (JSON), or with
``--typeddict`` Python ``TypedDict`` definitions of its messages (for Python clients).

``TARGET`` is ``FILE.py[:NAME]`` or ``package.module[:NAME]``. ``NAME`` defaults to ``app``;
when the module has no ``app``, the routes it defines at module level are served together.

``--workers N`` starts N processes serving one port (``SO_REUSEPORT``: the kernel spreads the
connections); they share rooms through the app's ``pubsub`` backend or ``SPIKARD_PUBSUB``,
without which more than one worker is refused.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from spikard import __version__
from spikard._typeddict import typeddicts
from spikard.app import DEFAULT_INFO, Spikard
from spikard.routing import WebSocketRoute

__all__ = ["load_app", "main"]


def _load_module(spec: str) -> ModuleType:
    if spec.endswith(".py") or "/" in spec or Path(spec).is_file():
        path = Path(spec).resolve()
        if not path.is_file():
            raise SystemExit(f"spikard: no such file: {spec}")
        sys.path.insert(0, str(path.parent))
        name = path.stem if path.stem not in sys.modules else f"_spikard_app_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise SystemExit(f"spikard: cannot load {spec}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return module
    sys.path.insert(0, str(Path.cwd()))
    return importlib.import_module(spec)


def load_app(target: str) -> Spikard:
    """The app named by ``target`` (``FILE.py[:NAME]`` or ``module[:NAME]``)."""
    spec, _, name = target.partition(":")
    module = _load_module(spec)
    if name:
        if not hasattr(module, name):
            raise SystemExit(f"spikard: {spec} has no attribute {name!r}")
        app = getattr(module, name)
    elif hasattr(module, "app"):
        app = module.app
    else:
        routes = [value for value in vars(module).values() if isinstance(value, WebSocketRoute)]
        if not routes:
            raise SystemExit(f"spikard: {spec} defines no `app` and no @websocket routes")
        app = Spikard(routes=routes)
    if isinstance(app, WebSocketRoute):
        app = Spikard(routes=[app])
    if not isinstance(app, Spikard):
        raise SystemExit(f"spikard: {target} is not a Spikard app (got {type(app).__name__})")
    return app


def _shared_backend(app: Spikard) -> bool:
    """Whether the app's rooms are shared between processes (a pub/sub backend other than
    in-process is configured, on the app or in ``SPIKARD_PUBSUB``)."""
    chosen = app.pubsub if app.pubsub is not None else os.environ.get("SPIKARD_PUBSUB", "")
    return chosen.strip() not in ("", "local")


def _die_with_parent() -> None:
    """In a worker, before it runs: get SIGTERM when the parent ends, however it ends (Linux)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _run_workers(args: argparse.Namespace) -> int:
    """Start ``args.workers`` processes on one port; pass SIGINT and SIGTERM on to them, and
    stop them all when one ends. The exit status is the first failing worker's, or 0."""
    command = [sys.executable, "-m", "spikard", "run", args.target, "--host", args.host]
    command += ["--port", str(args.port), "--log-level", args.log_level, "--reuse-port"]
    workers = [subprocess.Popen(command, preexec_fn=_die_with_parent) for _ in range(args.workers)]

    def forward(signum: int, _frame: object) -> None:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    status = 0
    remaining = list(workers)
    while remaining:
        pid, wait_status = os.wait()
        ended = next((w for w in remaining if w.pid == pid), None)
        if ended is None:
            continue
        remaining.remove(ended)
        code = os.waitstatus_to_exitcode(wait_status)
        ended.returncode = code
        if code != 0 and status == 0:
            status = code if code > 0 else 128 - code
            log = logging.getLogger("spikard")
            log.error("worker %d ended with status %d; stopping the others", pid, code)
            forward(signal.SIGTERM, None)
    return status


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="spikard", description="Serve a Spikard app.")
    parser.add_argument("--version", action="version", version=f"spikard {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve an app until Ctrl-C or SIGTERM")
    run.add_argument("target", help="FILE.py[:NAME] or module[:NAME] (NAME defaults to app)")
    run.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one (default 8000)")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes serving the port (SO_REUSEPORT); more than 1 needs a shared pubsub backend",
    )
    run.add_argument("--reuse-port", action="store_true", help="bind with SO_REUSEPORT (set for each worker)")
    document = commands.add_parser("asyncapi", help="print the app's AsyncAPI 3.0 document (JSON)")
    document.add_argument("target", help="FILE.py[:NAME] or module[:NAME] (NAME defaults to app)")
    document.add_argument("--title", help="the document's info.title (default: the app's asyncapi option's)")
    document.add_argument(
        "--version", help="the document's info.version (default: the app's asyncapi option's)"
    )
    document.add_argument(
        "--typeddict", action="store_true", help="print Python TypedDict definitions of its messages instead"
    )
    args = parser.parse_args(argv)
    if args.command == "asyncapi":
        app = load_app(args.target)
        configured = (app.asyncapi_route or {}).get("info") or DEFAULT_INFO
        info = {**configured}
        info["title"] = args.title or info.get("title", DEFAULT_INFO["title"])
        info["version"] = args.version or info.get("version", DEFAULT_INFO["version"])
        spec = app.asyncapi(info)
        print(
            typeddicts(spec) if args.typeddict else json.dumps(spec, indent=2),
            end="" if args.typeddict else "\n",
        )
        return 0
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    app = load_app(args.target)
    if args.workers < 1:
        raise SystemExit("spikard: --workers must be at least 1")
    if args.workers > 1:
        if not _shared_backend(app):
            raise SystemExit(
                f"spikard: --workers {args.workers} needs a shared pub/sub backend, or each worker would "
                "have rooms of its own and a publish would reach only some members: set "
                'Spikard(pubsub="redis://127.0.0.1:6379/0") or SPIKARD_PUBSUB=redis://127.0.0.1:6379/0 '
                "(see docs/scaling.md)"
            )
        if args.port == 0:
            raise SystemExit("spikard: --workers needs a fixed --port (with 0, each worker gets its own)")
        return _run_workers(args)
    app.run(host=args.host, port=args.port, reuse_port=args.reuse_port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
