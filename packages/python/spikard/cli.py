"""The ``spikard`` command: ``spikard run path/to/app.py:app --host 127.0.0.1 --port 8000``.

``TARGET`` is ``FILE.py[:NAME]`` or ``package.module[:NAME]``. ``NAME`` defaults to ``app``;
when the module has no ``app``, the routes it defines at module level are served together.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType

from spikard import __version__
from spikard.app import Spikard
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    app = load_app(args.target)
    app.run(host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
