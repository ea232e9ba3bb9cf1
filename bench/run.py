"""Benchmark driver behind `task bench` (full matrix) and `task bench:quick` (about 6 minutes).

Starts every server in SERVERS pinned to CPU 1 (`taskset -c 1`), one fresh process per
measurement, waits for its `READY <port> [<pid>]` line (or Spikard's `spikard listening on
ws://HOST:PORT`), runs the Rust load generator `target/release/spikard-bench` pinned to CPU 0 with
`--server-pid`, and interleaves the servers A/B/C/A/B/C for every scenario. Medians over rounds,
ratios in messages per server CPU-second. The full run writes `docs/benchmarks.md` and
`docs/benchmarks.png`; `--quick` (echo 20 B, raw-text echo 16 KiB, open-loop latency, broadcast and
idle memory, for ours and a few peers) prints one `ratio <ours>/<peer> = X` line per comparison,
`latency ...` and `idle ...` lines, and writes its report under `target/bench/` (it is not the
committed result).

Broadcast (`spikard-bench broadcast`): 1 sender and `--subscribers` (100) subscribers on
`/broadcast`, where the server publishes every message to everyone in the room but its sender
(ours: `publish_others`, the core fans out; Node `ws`: a JS loop over the room calling
`client.send`). Closed loop over the whole room: `--broadcast-in-flight` messages in flight, a
message leaving the window only once every subscriber has it. The figure is deliveries (one
message to one subscriber) per server CPU-second; latency runs from the send to the last
subscriber's receipt.

Add a server: append a `Server(...)` to SERVERS (its command gets `PORT` in the environment and
`{port}`/`{root}` substituted in its arguments; `check` is a command that must succeed for the
server to run, otherwise it is skipped with `skip_hint` printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
LOADGEN = ROOT / "target" / "release" / "spikard-bench"
MISSES = ROOT / "bench" / "misses.md"
"""Hand-written: for each goal the last full run missed, the profile evidence and the next step (the report
quotes it; `python bench/run.py --render` writes the report again after an edit)."""
BUN = BENCH / "node_modules" / "@oven" / "bun-linux-x64" / "bin" / "bun"
PY = sys.executable
CLIENT_CPU = "0"
SERVER_CPU = "1"
CLIENT_BOUND_PERCENT = 80.0
READY_TIMEOUT = 60.0


@dataclass
class Server:
    """How to start one benchmarked server and what it can serve."""

    key: str
    """Short id, used on the command line (`--servers`) and in ratio lines."""
    name: str
    """Display name in the report."""
    ours: bool
    """True for Spikard's own servers."""
    cmd: list[str]
    """Command line; `{port}` and `{root}` are substituted, `PORT` is also in the environment."""
    check: list[str]
    """A command that exits 0 when the server can run (packages installed, binary built)."""
    skip_hint: str
    """Printed when `check` fails: what to build or install."""
    version: list[str]
    """A command printing the versions to report (one line)."""
    notes: str = ""
    """Event loop, implementation choices: shown beside the version."""
    chat: bool = False
    """Serves the validated chat route at `/chat`."""
    binary: bool = True
    """Echoes binary frames on `/echo`."""
    broadcast: bool = False
    """Serves the `/broadcast` room (every message to everyone else in it)."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables."""
    native: str | None = None
    """Glob (from the repo root) of the native module it loads, to report a debug build."""
    chat_cmd: list[str] | None = None
    """Command for the chat scenarios when the chat route needs its own process (default: `cmd`)."""

    def command(self, route: str) -> list[str]:
        """The command serving `route` ("echo" or "chat")."""
        return self.chat_cmd if route == "chat" and self.chat_cmd else self.cmd


def _py_versions(*dists: str) -> list[str]:
    names = ", ".join(repr(d) for d in dists)
    code = (
        "import platform; from importlib.metadata import version as v; "
        f"print(', '.join(f'{{d}} {{v(d)}}' for d in ({names},)) + ', CPython ' + platform.python_version())"
    )
    return [PY, "-c", code]


def _py_check(*modules: str) -> list[str]:
    return [PY, "-c", "; ".join(f"import {m}" for m in modules)]


def _node_version(package_json: str, label: str) -> list[str]:
    return ["node", "-p", f"`{label} ${{require('{package_json}').version}}, node ${{process.version}}`"]


RUST_VERSION = [
    PY,
    "-c",
    "import subprocess, tomllib; v = tomllib.load(open('{root}/Cargo.toml', 'rb'))['workspace']['package']['version'];"
    " print(f'spikard {v}, ' + subprocess.run(['rustc', '--version'], capture_output=True, text=True).stdout.strip())",
]
RUBY_SPIKARD = ["ruby", "-I{root}/packages/ruby/lib"]
FAYE_VERSION = ["dpkg-query", "-W", "-f=${Package} ${Version}, ", "ruby-faye-websocket", "thin"]

# fmt: off
SERVERS: list[Server] = [
    # ---- ours ------------------------------------------------------------------------------
    Server("rust", "Spikard Rust (native)", True,
           [str(LOADGEN), "serve", "--host", "127.0.0.1", "--port", "{port}"],
           ["test", "-x", str(LOADGEN)], "build it: cargo build --release -p spikard-bench",
           RUST_VERSION,
           "tokio current-thread runtime", chat=True, binary=False, broadcast=True),
    Server("python", "Spikard Python", True,
           [PY, "{root}/bench/ours/spikard_python.py"],
           _py_check("spikard._native"), "build it: maturin develop --release (root pyproject.toml)",
           _py_versions("spikard"), "uvloop when installed", chat=True, broadcast=True,
           native="packages/python/spikard/_native*.so"),
    Server("node", "Spikard Node", True,
           ["node", "{root}/bench/ours/spikard_node.mjs"],
           ["node", "--input-type=module", "-e", "await import('spikard')"],
           "build it: task release (release addon)",
           _node_version("{root}/packages/node/package.json", "spikard"),
           "", chat=True, broadcast=True, native="packages/node/native/spikard*.node"),
    Server("ruby", "Spikard Ruby", True,
           [*RUBY_SPIKARD, "{root}/bench/ours/spikard_ruby.rb"],
           [*RUBY_SPIKARD, "-e", "require 'spikard'"], "build it: task ruby:build (release extension)",
           [*RUBY_SPIKARD, "-e", "require 'spikard'; puts \"spikard #{Spikard::VERSION}, ruby #{RUBY_VERSION}\""],
           "", chat=True, broadcast=True, native="packages/ruby/lib/spikard/spikard_native.so"),
    # ---- peers -----------------------------------------------------------------------------
    Server("websockets", "Python websockets", False,
           [PY, "{root}/bench/peers/websockets_peer.py"],
           _py_check("websockets", "uvloop"), "pip install -r bench/requirements.txt",
           _py_versions("websockets", "uvloop"), "asyncio server on uvloop, compression=None; broadcast()",
           broadcast=True),
    Server("aiohttp", "aiohttp", False,
           [PY, "{root}/bench/peers/aiohttp_peer.py"],
           _py_check("aiohttp", "uvloop"), "pip install -r bench/requirements.txt",
           _py_versions("aiohttp", "uvloop"), "uvloop, compress=False"),
    Server("picows", "picows", False,
           [PY, "{root}/bench/peers/picows_peer.py"],
           _py_check("picows", "uvloop"), "pip install -r bench/requirements.txt",
           _py_versions("picows", "uvloop"), "uvloop, frame-level echo, no deflate support"),
    Server("uvicorn", "uvicorn (raw ASGI)", False,
           [PY, "{root}/bench/peers/uvicorn_peer.py"],
           _py_check("uvicorn", "uvloop", "websockets"), "pip install -r bench/requirements.txt",
           _py_versions("uvicorn", "websockets", "uvloop"), "ws=websockets-sansio, uvloop, deflate off, 1 worker"),
    Server("granian", "Granian (ASGI)", False,
           [PY, "{root}/bench/peers/granian_peer.py"],
           _py_check("granian", "uvloop"), "pip install -r bench/requirements.txt",
           _py_versions("granian", "uvloop"), "1 worker (measured: the worker process), 1 runtime thread, uvloop"),
    Server("ws", "Node ws", False,
           ["node", "{root}/bench/peers/ws_peer.mjs"],
           ["test", "-f", str(BENCH / "node_modules" / "ws" / "package.json")], "cd bench && npm install",
           _node_version("{root}/bench/node_modules/ws/package.json", "ws"),
           "perMessageDeflate: false; broadcast: JS loop over the room, client.send", broadcast=True),
    Server("bun", "Bun", False,
           [str(BUN), "{root}/bench/peers/bun_peer.ts"],
           ["test", "-x", str(BUN)], "cd bench && npm install (@oven/bun-linux-x64)",
           [str(BUN), "-e", "console.log(`bun ${Bun.version}`)"], "Bun.serve websocket, perMessageDeflate: false"),
    Server("faye", "Ruby faye-websocket on thin", False,
           ["ruby", "{root}/bench/peers/faye_peer.rb"],
           ["ruby", "-e", "require 'faye/websocket'; require 'thin'"], "apt-get install thin ruby-faye-websocket",
           FAYE_VERSION, "EventMachine, no extensions, ruby from Debian"),
]
# fmt: on
BY_KEY = {s.key: s for s in SERVERS}


@dataclass
class Scenario:
    """One measured workload: a route, a payload and optionally a fixed total rate."""

    key: str
    title: str
    route: str  # "echo", "chat" or "broadcast"
    payload: str
    rate: float | None = None
    quick_peers: tuple[str, ...] | None = None
    """In `--quick`, only these peers run it (ours always); None: every peer of the run."""
    peers: tuple[str, ...] | None = None
    """Only these peers run it (ours always); None: every peer."""
    ours_path: str | None = None
    """The URL path on Spikard's servers (default: the route)."""
    peer_path: str | None = None
    """The URL path on the peers (default: the route)."""
    deflate: bool = False
    """The client offers permessage-deflate and sends compressed frames; every server is started
    with it on (ours: `SPIKARD_BENCH_COMPRESSION=1`, peers: `DEFLATE=1`)."""

    def path(self, ours: bool) -> str:
        """The URL path (without the slash) of this scenario on Spikard's servers (`ours`) or the peers'."""
        return (self.ours_path if ours else self.peer_path) or self.route

    def env(self) -> dict[str, str]:
        """Extra environment of every server started for this scenario."""
        return {"SPIKARD_BENCH_COMPRESSION": "1", "DEFLATE": "1"} if self.deflate else {}

    def fits(self, server: Server) -> bool:
        """Whether `server` can serve this scenario."""
        if self.peers is not None and not server.ours and server.key not in self.peers:
            return False
        if self.route == "chat":
            return server.chat
        if self.route == "broadcast":
            return server.broadcast
        return server.binary or not self.payload.startswith("bin")


SCENARIOS = [
    Scenario("echo-text20", "Echo, 20 B text", "echo", "text20"),
    Scenario("echo-text1k", "Echo, 1 KiB text", "echo", "text1k"),
    Scenario("echo-text16k", "Echo, 16 KiB text", "echo", "text16k"),
    Scenario("echo-bin16k", "Echo, 16 KiB binary", "echo", "bin16k"),
    Scenario(
        "raw-text16k",
        "Raw-text echo, 16 KiB text (ours: a raw-text route, no JSON)",
        "echo",
        "text16k",
        ours_path="raw",
        peers=("picows", "websockets", "ws", "bun"),
        quick_peers=("ws", "bun"),
    ),
    Scenario(
        "json-doc16k",
        "JSON echo, 16 KiB document (ours: `/echo`; Bun and ws: JSON.parse + JSON.stringify)",
        "echo",
        "doc16k",
        peer_path="json",
        peers=("ws", "bun"),
    ),
    Scenario(
        "deflate-doc16k",
        "Compressed echo, 16 KiB JSON document, permessage-deflate on (ours: raw-text route)",
        "echo",
        "doc16k",
        ours_path="raw",
        deflate=True,
        peers=("websockets", "ws", "bun"),
    ),
    Scenario("chat-valid", "Validated chat, valid ~100 B message", "chat", "chat-valid"),
    Scenario("chat-invalid", "Validated chat, invalid ~100 B message (error envelope back)", "chat", "chat-invalid"),
    Scenario(
        "latency-text20",
        "Echo, 20 B text, open loop at a fixed rate (latency)",
        "echo",
        "text20",
        rate=10_000.0,
        quick_peers=("websockets", "ws"),
    ),
    Scenario("broadcast", "Broadcast, ~100 B chat message", "broadcast", "chat-valid", quick_peers=("ws",)),
]
BY_SCENARIO = {s.key: s for s in SCENARIOS}

# (ours key, ours scenario, peer key, peer scenario, goal ratio): the goals.
GOALS: list[tuple[str, str, str, str, float | None]] = [
    ("rust", "echo-text20", "bun", "echo-text20", 1.0),
    ("python", "echo-text20", "picows", "echo-text20", 1.0),
    ("python", "echo-text20", "websockets", "echo-text20", 2.0),
    ("python", "chat-valid", "python", "echo-text20", 0.9),
    ("node", "echo-text20", "ws", "echo-text20", 1.2),
    ("ruby", "echo-text20", "faye", "echo-text20", 3.0),
    ("rust", "raw-text16k", "bun", "raw-text16k", 1.0),
    ("rust", "json-doc16k", "bun", "json-doc16k", 1.0),
    ("python", "raw-text16k", "picows", "raw-text16k", 0.8),
    ("python", "raw-text16k", "websockets", "raw-text16k", None),
    ("node", "raw-text16k", "ws", "raw-text16k", None),
    ("node", "json-doc16k", "ws", "json-doc16k", None),
    ("ruby", "raw-text16k", "websockets", "raw-text16k", None),
    ("rust", "deflate-doc16k", "ws", "deflate-doc16k", None),
    ("python", "deflate-doc16k", "websockets", "deflate-doc16k", None),
    ("node", "deflate-doc16k", "ws", "deflate-doc16k", None),
    ("rust", "broadcast", "ws", "broadcast", None),
    ("python", "broadcast", "ws", "broadcast", 3.0),
    ("node", "broadcast", "ws", "broadcast", 3.0),
    ("ruby", "broadcast", "ws", "broadcast", 3.0),
    ("python", "broadcast", "websockets", "broadcast", None),
]
# (ours key, peers of its language): open-loop latency goal, p50 and p99 at most LATENCY_GOAL times
# the best (lowest) peer's.
LATENCY_PEERS: list[tuple[str, tuple[str, ...]]] = [
    ("rust", ("bun", "ws", "picows", "websockets")),
    ("python", ("picows", "websockets", "aiohttp", "uvicorn", "granian")),
    ("node", ("ws",)),
    ("ruby", ("faye",)),
]
LATENCY_SCENARIO = "latency-text20"
LATENCY_GOAL = 1.2
QUICK_SCENARIOS = ("echo-text20", "raw-text16k", "latency-text20", "broadcast")
QUICK_IDLE_CONNECTIONS = 1000
IDLE_GOAL_BYTES = 4096


def sub(args: list[str], port: int = 0) -> list[str]:
    """Substitute `{port}` and `{root}` in a command."""
    return [a.replace("{port}", str(port)).replace("{root}", str(ROOT)) for a in args]


def free_port() -> int:
    """A port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_ready(line: str) -> tuple[int, int | None] | None:
    """`(port, pid)` from a readiness line, or None for any other line."""
    parts = line.split()
    if len(parts) in (2, 3) and parts[0] == "READY" and all(p.isdigit() for p in parts[1:]):
        return int(parts[1]), int(parts[2]) if len(parts) == 3 else None
    if line.startswith("spikard listening on ws://"):
        return int(line.rstrip("/\n").rsplit(":", 1)[1].split("/")[0]), None
    return None


class Running:
    """A started server process: its session leader, the pid to measure and its port."""

    def __init__(self, server: Server, route: str, log_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.server = server
        port = free_port()
        self.cmd = ["taskset", "-c", SERVER_CPU, *sub(server.command(route), port)]
        env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1", **server.env}
        env.update(extra_env or {})
        self.log_path = log_dir / f"{server.key}.log"
        self.log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            self.cmd,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        self.pump = threading.Thread(target=self._pump, args=(lines,), daemon=True)
        self.pump.start()
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise RuntimeError(f"no READY line within {READY_TIMEOUT:.0f} s (log: {self.log_path})") from None
            if line is None:
                self.stop()
                raise RuntimeError(f"exited with {self.proc.wait()} before READY (log: {self.log_path})")
            ready = parse_ready(line)
            if ready:
                self.port, pid = ready
                self.pid = pid or self.proc.pid
                return

    def _pump(self, lines: queue.Queue[str | None]) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            lines.put(line)
            self.log.write(line)
        lines.put(None)

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL it if it has not exited after 15 s."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.pump.join(5)
        self.log.close()


def run_loadgen(args: list[str], timeout: float) -> dict:
    """Run the load generator pinned to the client CPU and return its JSON object."""
    cmd = ["taskset", "-c", CLIENT_CPU, str(LOADGEN), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"load generator exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@dataclass
class Config:
    """What one driver run measures."""

    quick: bool
    rounds: int
    warmup: float
    duration: float
    connections: int
    in_flight: int
    subscribers: int
    broadcast_in_flight: int
    broadcast_warmup: float
    broadcast_duration: float
    idle_connections: int
    scenarios: list[Scenario]
    servers: list[Server]
    idle: bool
    validation: bool
    out_dir: Path
    log_dir: Path
    render: bool = False
    """Write the report from the last run's raw results instead of measuring."""


def window(cfg: Config, scenario: Scenario) -> tuple[float, float]:
    """Warm-up and measured seconds of `scenario`."""
    if scenario.route == "broadcast":
        return cfg.broadcast_warmup, cfg.broadcast_duration
    return cfg.warmup, cfg.duration


def load_args(cfg: Config, scenario: Scenario, server: Server, port: int, pid: int | str) -> list[str]:
    """The load generator's arguments for one measurement of `server`."""
    warmup, duration = window(cfg, scenario)
    common = [
        *("--payload", scenario.payload, "--duration", f"{duration:g}", "--warmup", f"{warmup:g}"),
        *("--server-pid", str(pid)),
    ]
    if scenario.route == "broadcast":
        return [
            "broadcast",
            "--url",
            f"ws://127.0.0.1:{port}/broadcast",
            "--subscribers",
            str(cfg.subscribers),
            "--in-flight",
            str(cfg.broadcast_in_flight),
            *common,
        ]
    args = [
        "load",
        "--url",
        f"ws://127.0.0.1:{port}/{scenario.path(server.ours)}",
        "--connections",
        str(cfg.connections),
        "--in-flight",
        str(cfg.in_flight),
        *common,
    ]
    if scenario.rate:
        args += ["--rate", f"{scenario.rate:g}"]
    if scenario.deflate:
        args.append("--deflate")
    return args


def idle_args(cfg: Config, port: int, pid: int | str) -> list[str]:
    """The load generator's arguments for the idle-memory measurement."""
    return [
        "idle",
        "--url",
        f"ws://127.0.0.1:{port}/echo",
        "--connections",
        str(cfg.idle_connections),
        "--server-pid",
        str(pid),
    ]


def measure(
    cfg: Config, server: Server, route: str, build_args, timeout: float, env: dict[str, str] | None = None
) -> dict:
    """Start `server` for `route` (with `env`), run one load-generator command against it, stop it."""
    running = Running(server, route, cfg.log_dir, env)
    try:
        return run_loadgen(build_args(running.port, running.pid), timeout)
    finally:
        running.stop()


def run_matrix(cfg: Config) -> dict:
    """Every scenario, interleaving the servers round by round; returns all raw results."""
    results: dict = {"runs": {}, "idle": {}, "failures": {}}
    for scenario in cfg.scenarios:
        servers = [s for s in cfg.servers if scenario.fits(s)]
        if cfg.quick and scenario.quick_peers is not None:
            servers = [s for s in servers if s.ours or s.key in scenario.quick_peers]
        for rnd in range(1, cfg.rounds + 1):
            for server in servers:
                label = f"[{scenario.key} round {rnd}/{cfg.rounds}] {server.key}"
                try:
                    out = measure(
                        cfg,
                        server,
                        scenario.route,
                        lambda port, pid, sc=scenario, sv=server: load_args(cfg, sc, sv, port, pid),
                        sum(window(cfg, scenario)) + 120,
                        scenario.env(),
                    )
                except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
                    results["failures"].setdefault(scenario.key, {})[server.key] = str(exc)
                    print(f"{label}: FAILED {exc}", flush=True)
                    continue
                results["runs"].setdefault(scenario.key, {}).setdefault(server.key, []).append(out)
                unit = "deliveries" if scenario.route == "broadcast" else "msg"
                print(
                    f"{label}: {out['msgs_per_sec']:,.0f} {unit}/s, "
                    f"{out['msgs_per_server_cpu_sec'] or 0:,.0f} per server CPU-s, "
                    f"client {out['client_cpu_percent']:.0f}%, p99 {out['latency_us']['p99']} us, "
                    f"errors {out['errors']}",
                    flush=True,
                )
    if cfg.idle:
        # Quick: one round of ours and `ws` (idle memory barely moves between rounds).
        idle_servers = [s for s in cfg.servers if s.ours or s.key == "ws"] if cfg.quick else cfg.servers
        idle_rounds = 1 if cfg.quick else cfg.rounds
        for rnd in range(1, idle_rounds + 1):
            for server in idle_servers:
                label = f"[idle round {rnd}/{idle_rounds}] {server.key}"
                try:
                    out = measure(cfg, server, "echo", lambda port, pid: idle_args(cfg, port, pid), 300)
                except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
                    results["failures"].setdefault("idle", {})[server.key] = str(exc)
                    print(f"{label}: FAILED {exc}", flush=True)
                    continue
                results["idle"].setdefault(server.key, []).append(out)
                print(
                    f"{label}: {out['connections']} connections, {out['bytes_per_connection']:,.0f} B per connection",
                    flush=True,
                )
    return results


def median_of(runs: list[dict], path: str) -> float | None:
    """Median of a (dotted) field over runs, ignoring nulls."""
    values = []
    for run in runs:
        value = run
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            values.append(float(value))
    return statistics.median(values) if values else None


def summarise(runs: list[dict]) -> dict:
    """Medians of every reported figure over the rounds of one server in one scenario."""
    fields = [
        "msgs_per_sec",
        "msgs_per_server_cpu_sec",
        "server_cpu_seconds",
        "seconds",
        "client_cpu_percent",
        "errors",
        "latency_us.p50",
        "latency_us.p90",
        "latency_us.p99",
        "latency_us.p999",
        "latency_us.max",
    ]
    summary = {f: median_of(runs, f) for f in fields}
    cpu, secs = summary["server_cpu_seconds"], summary["seconds"]
    summary["server_cpu_percent"] = cpu / secs * 100 if cpu is not None and secs else None
    summary["rounds"] = len(runs)
    summary["client_bound"] = (summary["client_cpu_percent"] or 0) > CLIENT_BOUND_PERCENT
    return summary


def headline(results: dict, scenario: str, server: str) -> float | None:
    """Median messages per server CPU-second, or None when it was not measured."""
    runs = results["runs"].get(scenario, {}).get(server)
    return median_of(runs, "msgs_per_server_cpu_sec") if runs else None


def comparisons(cfg: Config, results: dict) -> list[dict]:
    """The issue's goals where both sides ran; in quick mode every ours/peer pair of the quick set."""
    rows = []
    pairs = list(GOALS)
    if cfg.quick:
        ours = [s.key for s in cfg.servers if s.ours]
        peers = [s.key for s in cfg.servers if not s.ours]
        goal_of = {(o, os_, p): g for (o, os_, p, ps, g) in GOALS if os_ == ps}
        pairs = [(o, sc, p, sc, goal_of.get((o, sc, p))) for sc in QUICK_SCENARIOS for o in ours for p in peers]
    for ours, ours_sc, peer, peer_sc, goal in pairs:
        a, b = headline(results, ours_sc, ours), headline(results, peer_sc, peer)
        if a is None or b is None or b == 0:
            continue
        if ours_sc != peer_sc:
            label = f"spikard-{ours} {ours_sc}/{peer} {peer_sc}"
        elif ours_sc == "echo-text20":
            label = f"spikard-{ours}/{peer}"
        else:
            label = f"spikard-{ours}/{peer} [{ours_sc}]"
        rows.append(
            {
                "label": label,
                "ours": ours,
                "ours_scenario": ours_sc,
                "peer": peer,
                "peer_scenario": peer_sc,
                "ratio": a / b,
                "goal": goal,
            }
        )
    return rows


def latency_comparisons(results: dict) -> list[dict]:
    """Open-loop latency of each of our servers against the best peer of its language (lowest p50,
    and separately lowest p99), where both ran."""
    runs = results["runs"].get(LATENCY_SCENARIO, {})
    rows = []
    for ours, peers in LATENCY_PEERS:
        if ours not in runs:
            continue
        mine = summarise(runs[ours])
        theirs = {p: summarise(runs[p]) for p in peers if p in runs}
        if not theirs:
            continue
        row: dict = {"ours": ours}
        for pct in ("p50", "p99"):
            best = min(theirs, key=lambda p: theirs[p][f"latency_us.{pct}"] or float("inf"))
            peer_value = theirs[best][f"latency_us.{pct}"]
            value = mine[f"latency_us.{pct}"]
            row[pct] = {
                "peer": best,
                "ours_us": value,
                "peer_us": peer_value,
                "ratio": value / peer_value if value and peer_value else None,
            }
        rows.append(row)
    return rows


def latency_verdict(ratio: float | None) -> str:
    """ "met" or by how much a latency ratio misses LATENCY_GOAL."""
    if ratio is None:
        return ""
    return "met" if ratio <= LATENCY_GOAL else f"missed by {(ratio / LATENCY_GOAL - 1) * 100:.0f}%"


def build_profile(pattern: str) -> str:
    """ "release" or "DEBUG" for a native module (the release profile carries no `.debug_*` sections)."""
    found = sorted(ROOT.glob(pattern))
    if not found:
        return "native module not found"
    sections = subprocess.run(["readelf", "-S", "--wide", str(found[0])], capture_output=True, text=True).stdout
    return "DEBUG build: not representative" if ".debug_info" in sections else "release build"


def versions(servers: list[Server]) -> dict[str, str]:
    """One version line per server (plus the build profile of our native modules)."""
    out = {}
    for server in servers:
        done = subprocess.run(sub(server.version), capture_output=True, text=True, cwd=ROOT)
        line = done.stdout.strip().rstrip(",") or f"unknown ({done.stderr.strip()[-120:]})"
        if server.native:
            profile = build_profile(server.native)
            line += f", {profile}"
            if profile.startswith("DEBUG"):
                print(f"warning: {server.name} loads a debug build of its native module", file=sys.stderr)
        out[server.key] = line
    return out


def machine() -> dict[str, str]:
    """nproc, CPU model, kernel, memory, OS and the commit measured."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=ROOT)
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": platform.platform(),
        "commit": (commit.stdout.strip() or "?") + (" (with uncommitted changes)" if dirty.stdout.strip() else ""),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def run_validation() -> list[dict]:
    """The validation micro-benchmarks of the Python and Node validators, pinned to the server CPU."""
    rows = []
    commands = (
        [str(ROOT / "target" / "release" / "spikard-bench"), "validate"],
        [PY, str(BENCH / "validation_peers.py")],
        ["node", str(BENCH / "validation_ajv.mjs")],
    )
    for cmd in commands:
        print(f"[validation] {' '.join(Path(c).name if '/' in c else c for c in cmd)}", flush=True)
        done = subprocess.run(["taskset", "-c", SERVER_CPU, *cmd], capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            rows.append({"library": " ".join(cmd), "error": done.stderr.strip()[-200:]})
            continue
        report = json.loads(done.stdout.strip().splitlines()[-1])
        if "rust" in report:
            runtime = f"Rust ({report['rust']})"
        elif "python" in report:
            runtime = f"CPython {report['python']}"
        else:
            runtime = f"Node {report['node']}"
        for row in report["results"]:
            rows.append({**row, "runtime": runtime})
    return rows


# ---- report ---------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 0) -> str:
    """A number with thousands separators, or an em dash."""
    return "—" if value is None else f"{value:,.{digits}f}"


def write_chart(cfg: Config, results: dict, path: Path) -> None:
    """Bar charts: messages per server CPU-second for echo 20 B, deliveries per server CPU-second for
    broadcast, and idle bytes per connection."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    runs = results["runs"].get("echo-text20", {})
    if runs:
        keys = sorted(runs, key=lambda k: headline(results, "echo-text20", k) or 0)
        panels.append(
            (
                "Echo 20 B: messages per server CPU-second (median)",
                keys,
                [headline(results, "echo-text20", k) or 0 for k in keys],
            )
        )
    runs = results["runs"].get("broadcast", {})
    if runs:
        keys = sorted(runs, key=lambda k: headline(results, "broadcast", k) or 0)
        panels.append(
            (
                f"Broadcast to {cfg.subscribers} subscribers: deliveries per server CPU-second (median)",
                keys,
                [headline(results, "broadcast", k) or 0 for k in keys],
            )
        )
    if results["idle"]:
        keys = sorted(results["idle"], key=lambda k: median_of(results["idle"][k], "bytes_per_connection") or 0)
        panels.append(
            (
                f"Idle memory: bytes per connection at {cfg.idle_connections:,} connections (median)",
                keys,
                [median_of(results["idle"][k], "bytes_per_connection") or 0 for k in keys],
            )
        )
    if not panels:
        return
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3.2 * len(panels) + 0.6), squeeze=False)
    for ax, (title, keys, values) in zip(axes[:, 0], panels, strict=True):
        colors = ["#d9480f" if BY_KEY[k].ours else "#868e96" for k in keys]
        bars = ax.barh([BY_KEY[k].name for k in keys], values, color=colors)
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.margins(x=0.18)
        ax.tick_params(labelsize=8)
    fig.suptitle("Spikard benchmarks (orange: Spikard; grey: peers)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    cfg: Config,
    results: dict,
    path: Path,
    chart: Path,
    mach: dict,
    vers: dict,
    skipped: dict[str, str],
    compare: list[dict],
    latency: list[dict],
    validation: list[dict],
    elapsed: float,
) -> None:
    """The Markdown report: method, machine, versions, one table per scenario, goals, commands."""
    mode = "`task bench:quick` (`python bench/run.py --quick`)" if cfg.quick else "`task bench`"
    lines = [
        "# Benchmarks",
        "",
        "generated by `task bench`, do not edit by hand",
        "",
        f"_This run: {mode}._",
        "",
        f"![benchmark chart]({chart.name})",
        "",
        "## Method",
        "",
        f"- Load generator: `spikard-bench` (crates/spikard-bench, release build), pinned to CPU {CLIENT_CPU}; every "
        f"server pinned to CPU {SERVER_CPU} (`taskset`), one worker, no compression (but in the compressed "
        "echo: there every server negotiates permessage-deflate, ours started with `SPIKARD_BENCH_COMPRESSION=1`, "
        "the peers with `DEFLATE=1`, and the client sends compressed frames without context takeover).",
        f"- {cfg.connections} connections, {cfg.in_flight} message(s) in flight per connection (closed loop) unless "
        f"the scenario gives a fixed total rate (open loop, latency without coordinated omission).",
        f"- {cfg.warmup:g} s warm-up discarded, {cfg.duration:g} s measured, {cfg.rounds} rounds with the servers "
        "interleaved A/B/C/A/B/C, a fresh server process for every measurement; figures are medians over rounds.",
        "- **Headline: messages per server CPU-second** (utime+stime of all the server's threads from /proc over "
        "the measured window). Raw msg/s and client CPU beside it: above "
        f"{CLIENT_BOUND_PERCENT:.0f}% client CPU the raw figure is client-bound (marked †) and only the normalised "
        "one counts.",
        "- Latency in microseconds, from send to reply, measured by the load generator.",
        f"- Run took {elapsed / 60:.1f} minutes.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in mach.items()],
        "",
        "## Servers and versions",
        "",
        "| server | versions | notes |",
        "|---|---|---|",
        *[f"| {s.name} | {vers.get(s.key, '')} | {s.notes} |" for s in cfg.servers],
    ]
    if any(sc.route == "broadcast" for sc in cfg.scenarios):
        at = lines.index("## Machine") - 1
        lines[at:at] = [
            f"- Broadcast: 1 sender and {cfg.subscribers} subscribers on `/broadcast`; the server publishes every "
            "message to everyone in the room but its sender (Spikard: `publish_others`, one call into the language "
            "per message, the Rust core fans out; Node `ws`: a JS loop over the room calling `client.send`; Python "
            f"`websockets`: its `broadcast()`). Closed loop over the whole room: {cfg.broadcast_in_flight} message(s) "
            "in flight, a message leaving the window only once every subscriber has received it. **Headline: "
            "deliveries (one message to one subscriber) per server CPU-second**; latency from the send to the last "
            f"subscriber's receipt; {cfg.broadcast_warmup:g} s warm-up, {cfg.broadcast_duration:g} s measured.",
        ]
    if skipped:
        lines += ["", "Skipped (not available when this ran):", ""]
        lines += [f"- {BY_KEY[k].name}: {reason}" for k, reason in skipped.items()]
    if compare:
        lines += [
            "",
            "## Ratios (messages, for broadcast deliveries, per server CPU-second, same run)",
            "",
            "| comparison | ratio | goal | verdict |",
            "|---|---:|---:|---|",
        ]
        for row in compare:
            goal = row["goal"]
            if goal is None:
                verdict, goal_s = "", ""
            elif row["ratio"] >= goal:
                verdict, goal_s = "met", f">= {goal:g}x"
            else:
                verdict, goal_s = f"missed by {(1 - row['ratio'] / goal) * 100:.1f}%", f">= {goal:g}x"
            lines.append(f"| {row['label']} | {row['ratio']:.2f}x | {goal_s} | {verdict} |")
    if latency:
        lines += [
            "",
            f"## Latency ratios (open loop, `{LATENCY_SCENARIO}`, ours / the best peer of its language)",
            "",
            f"Goal: p50 and p99 at most {LATENCY_GOAL:g}x the lowest peer's.",
            "",
            "| server | p50 µs | best peer p50 | ratio | verdict | p99 µs | best peer p99 | ratio | verdict |",
            "|---|---:|---|---:|---|---:|---|---:|---|",
        ]
        for row in latency:
            cells = []
            for pct in ("p50", "p99"):
                r = row[pct]
                ratio = f"{r['ratio']:.2f}x" if r["ratio"] else ""
                peer = f"{BY_KEY[r['peer']].name} {fmt(r['peer_us'])}"
                cells.append(f"{fmt(r['ours_us'])} | {peer} | {ratio} | {latency_verdict(r['ratio'])}")
            lines.append(f"| {BY_KEY[row['ours']].name} | " + " | ".join(cells) + " |")
    for scenario in cfg.scenarios:
        runs = results["runs"].get(scenario.key, {})
        fails = results["failures"].get(scenario.key, {})
        if not runs and not fails:
            continue
        rate = f" at {scenario.rate:,.0f} msg/s total" if scenario.rate else ""
        paths = (
            f"`/{scenario.path(True)}` on ours, `/{scenario.path(False)}` on the peers"
            if scenario.ours_path or scenario.peer_path
            else f"`/{scenario.route}`"
        )
        about = f"Route {paths}, payload `{scenario.payload}`."
        if scenario.peers is not None:
            about += " Peers: " + ", ".join(BY_KEY[k].name for k in scenario.peers) + "."
        unit = "msgs"
        if scenario.route == "broadcast":
            rate = f": 1 sender, {cfg.subscribers} subscribers, {cfg.broadcast_in_flight} in flight"
            about += (
                " A delivery is one message received by one subscriber; latency is from the send to the last "
                "subscriber's receipt."
            )
            unit = "deliveries"
        lines += [
            "",
            f"## {scenario.title}{rate}",
            "",
            about,
            "",
            f"| server | {unit} per server CPU-s | {unit}/s | server CPU | client CPU | p50 µs | p90 µs | p99 µs "
            "| p99.9 µs | max µs | errors | rounds |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        ordered = sorted(runs, key=lambda k: -(headline(results, scenario.key, k) or 0))
        for key in ordered:
            s = summarise(runs[key])
            mark = " †" if s["client_bound"] else ""
            lines.append(
                f"| {BY_KEY[key].name} | **{fmt(s['msgs_per_server_cpu_sec'])}** "
                f"| {fmt(s['msgs_per_sec'])}{mark} | {fmt(s['server_cpu_percent'])}% | {fmt(s['client_cpu_percent'])}% "
                f"| {fmt(s['latency_us.p50'])} | {fmt(s['latency_us.p90'])} | {fmt(s['latency_us.p99'])} "
                f"| {fmt(s['latency_us.p999'])} | {fmt(s['latency_us.max'])} | {fmt(s['errors'])} | {s['rounds']} |"
            )
        for key, reason in fails.items():
            lines.append(f"| {BY_KEY[key].name} | failed: {reason[:150].replace('|', '/')} |" + " |" * 10)
    if results["idle"] or results["failures"].get("idle"):
        lines += [
            "",
            f"## Idle memory at {cfg.idle_connections:,} upgraded connections",
            "",
            f"Resident memory growth of the server process per idle connection (goal for ours: "
            f"<= {IDLE_GOAL_BYTES:,} B).",
            "",
            "| server | bytes per connection | RSS before (KiB) | RSS after (KiB) | connections | goal |",
            "|---|---:|---:|---:|---:|---|",
        ]
        ordered = sorted(results["idle"], key=lambda k: median_of(results["idle"][k], "bytes_per_connection") or 0)
        for key in ordered:
            runs = results["idle"][key]
            per = median_of(runs, "bytes_per_connection")
            goal = ""
            if BY_KEY[key].ours:
                goal = "met" if per <= IDLE_GOAL_BYTES else f"missed by {per / IDLE_GOAL_BYTES:.1f}x"
            lines.append(
                f"| {BY_KEY[key].name} | **{fmt(per)}** | {fmt(median_of(runs, 'rss_before_kb'))} "
                f"| {fmt(median_of(runs, 'rss_after_kb'))} | {fmt(median_of(runs, 'connections'))} | {goal} |"
            )
        for key, reason in results["failures"].get("idle", {}).items():
            lines.append(f"| {BY_KEY[key].name} | failed: {reason[:150].replace('|', '/')} |" + " |" * 4)
    if validation:
        lines += [
            "",
            "## Validation: parse + validate of the chat message, one core",
            "",
            "The chat schema (`bench/chat_schema.json`) in the validators of the languages we serve; each "
            "figure parses the raw ~100 B message and validates it (best of 3 runs of 1 s, pinned to CPU "
            f"{SERVER_CPU}); the core's rows are `spikard-bench validate` (its criterion benchmark: "
            "`cargo bench -p spikard-bench`); its last two rows grow the same message by checked "
            "formats and by big integers (`crates/spikard-bench/src/cases.rs`, ~200 B).",
            "",
            "| library | runtime | valid msgs/s | invalid msgs/s |",
            "|---|---|---:|---:|",
        ]
        for row in validation:
            if "error" in row:
                lines.append(f"| {row['library']} | failed: {row['error'][:150]} | | |")
            else:
                lines.append(
                    f"| {row['library']} {row['version']} | {row['runtime']} | {fmt(row['valid_per_sec'])} "
                    f"| {fmt(row['invalid_per_sec'])} |"
                )
    lines += [
        "",
        "## Exact commands",
        "",
        f"This report was written by `{' '.join(['python', 'bench/run.py', *sys.argv[1:]])}` "
        "(`task bench` runs it without arguments).",
        "",
        "Every server is started as below with `PORT` set to a free port "
        "(shown as `$PORT`); it prints `READY <port> [<pid>]` once listening and the pid (default: its own) "
        "is the one measured.",
        "",
        "```",
    ]
    for server in cfg.servers:
        for cmd in filter(None, (server.cmd, server.chat_cmd)):
            shown = " ".join(sub(cmd, 0)).replace(str(ROOT) + "/", "").replace(PY, "python")
            lines.append(f"PORT=$PORT taskset -c {SERVER_CPU} {shown}".replace("--port 0", "--port $PORT"))
    lines += ["```", "", "Load, per scenario (`$PID` is the measured server pid):", "", "```"]
    for scenario in cfg.scenarios:
        shown: dict[str, Server] = {}
        for server in cfg.servers:
            if scenario.fits(server):
                shown.setdefault(scenario.path(server.ours), server)
        for server in shown.values():
            args = load_args(cfg, scenario, server, 0, "$PID")
            who = "" if len(shown) == 1 else ("  # Spikard" if server.ours else "  # peers")
            env = " ".join(f"{k}={v}" for k, v in scenario.env().items())
            lines.append(
                f"taskset -c {CLIENT_CPU} target/release/spikard-bench {' '.join(args)}{who}".replace(":0/", ":$PORT/")
                + (f"  (servers started with {env})" if env else "")
            )
    if cfg.idle:
        lines.append(
            f"taskset -c {CLIENT_CPU} target/release/spikard-bench {' '.join(idle_args(cfg, 0, '$PID'))}".replace(
                ":0/", ":$PORT/"
            )
        )
    if validation:
        lines += [
            f"taskset -c {SERVER_CPU} python bench/validation_peers.py",
            f"taskset -c {SERVER_CPU} node bench/validation_ajv.mjs",
        ]
    lines += ["```", ""]
    if MISSES.exists() and not cfg.quick:
        lines += ["## Missed goals: profile evidence and next step", "", MISSES.read_text().strip(), ""]
    path.write_text("\n".join(lines))


# ---- main -----------------------------------------------------------------------------------


def available(servers: list[Server]) -> tuple[list[Server], dict[str, str]]:
    """The servers whose check passes, and a skip reason for the others."""
    ok, skipped = [], {}
    for server in servers:
        done = subprocess.run(sub(server.check), capture_output=True, text=True, cwd=ROOT)
        if done.returncode == 0:
            ok.append(server)
        else:
            skipped[server.key] = server.skip_hint
            print(
                f"skip {server.key}: {server.skip_hint} ({(done.stderr.strip().splitlines() or [''])[-1][:120]})",
                flush=True,
            )
    return ok, skipped


def parse_config(argv: list[str]) -> Config:
    """Command-line options to a Config."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="echo 20 B and 16 KiB, latency, broadcast and idle memory of ours and a few peers, about 6 minutes",
    )
    parser.add_argument("--rounds", type=int, help="rounds (default 3)")
    parser.add_argument("--duration", type=float, help="measured seconds (default 12, quick 4)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds (default 2, quick 1)")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=1)
    parser.add_argument("--subscribers", type=int, default=100, help="broadcast subscribers (default 100)")
    parser.add_argument(
        "--broadcast-in-flight",
        type=int,
        default=8,
        help="broadcast messages in flight, each until every subscriber has it (default 8)",
    )
    parser.add_argument("--idle-connections", type=int, default=5000)
    parser.add_argument(
        "--servers",
        help="comma-separated server keys (default: all; quick: websockets, ws, bun and every Spikard server)",
    )
    parser.add_argument("--scenarios", help="comma-separated scenario keys: " + ",".join(BY_SCENARIO))
    parser.add_argument("--no-idle", action="store_true", help="skip the idle-memory measurement")
    parser.add_argument("--no-validation", action="store_true", help="skip the validation micro-benchmarks")
    parser.add_argument("--out", type=Path, help="report directory (default docs/, quick: target/bench/)")
    parser.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: write the report again from the last run's raw results (target/bench/results.json, "
        "quick.json with --quick), e.g. after editing bench/misses.md",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    if args.servers:
        unknown = [k for k in args.servers.split(",") if k not in BY_KEY]
        if unknown:
            parser.error(f"unknown servers {unknown}; known: {','.join(BY_KEY)}")
        servers = [BY_KEY[k] for k in args.servers.split(",")]
    elif quick:
        servers = [s for s in SERVERS if s.ours or s.key in ("websockets", "ws", "bun")]
    else:
        servers = list(SERVERS)
    if args.scenarios:
        unknown = [k for k in args.scenarios.split(",") if k not in BY_SCENARIO]
        if unknown:
            parser.error(f"unknown scenarios {unknown}; known: {','.join(BY_SCENARIO)}")
        scenarios = [BY_SCENARIO[k] for k in args.scenarios.split(",")]
    else:
        # 16 KiB text stands for the large-message case (binary behaves the same in the core);
        # `--scenarios echo-bin16k` measures binary on demand.
        scenarios = (
            [BY_SCENARIO[k] for k in QUICK_SCENARIOS] if quick else [sc for sc in SCENARIOS if sc.key != "echo-bin16k"]
        )
    log_dir = ROOT / "target" / "bench" / "logs"
    warmup = args.warmup if args.warmup is not None else (1.0 if quick else 2.0)
    duration = args.duration or (4.0 if quick else 12.0)
    return Config(
        quick=quick,
        rounds=args.rounds or 3,
        warmup=warmup,
        duration=duration,
        connections=args.connections,
        in_flight=args.in_flight,
        subscribers=args.subscribers,
        broadcast_in_flight=args.broadcast_in_flight,
        # Quick: a shorter broadcast window keeps the whole run under 3 minutes.
        broadcast_warmup=args.warmup if args.warmup is not None else (0.5 if quick else 2.0),
        broadcast_duration=args.duration or (2.5 if quick else 12.0),
        idle_connections=args.idle_connections if not quick else min(args.idle_connections, QUICK_IDLE_CONNECTIONS),
        scenarios=scenarios,
        servers=servers,
        idle=not args.no_idle,
        validation=not (quick or args.no_validation),
        out_dir=args.out or (ROOT / "target" / "bench" if quick else ROOT / "docs"),
        log_dir=log_dir,
        render=args.render,
    )


def main(argv: list[str]) -> int:
    """Run the benchmarks, print the ratios, write the report."""
    cfg = parse_config(argv)
    for tool in ("taskset",):
        if shutil.which(tool) is None:
            print(f"{tool} is missing (util-linux)", file=sys.stderr)
            return 2
    if not LOADGEN.exists():
        print(f"{LOADGEN.relative_to(ROOT)} is missing: cargo build --release -p spikard-bench", file=sys.stderr)
        return 2
    if (os.cpu_count() or 1) < 2:
        print("the benchmarks pin the client and the server to CPUs 0 and 1: 2 CPUs needed", file=sys.stderr)
        return 2
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    raw = cfg.log_dir.parent / ("quick.json" if cfg.quick else "results.json")
    if cfg.render:
        saved = json.loads(raw.read_text())
        results, validation, skipped = saved["results"], saved["validation"], saved["skipped"]
        elapsed, mach, vers = saved["elapsed"], saved["machine"], saved["versions"]
        cfg.servers = [s for s in cfg.servers if s.key in vers]
    else:
        cfg.servers, skipped = available(cfg.servers)
        vers = versions(cfg.servers)
        mach = machine()
        started = time.monotonic()
        results = run_matrix(cfg)
        validation = run_validation() if cfg.validation else []
        elapsed = time.monotonic() - started
    compare = comparisons(cfg, results)
    for row in compare:
        goal = f"  (goal >= {row['goal']:g})" if row["goal"] else ""
        print(f"ratio {row['label']} = {row['ratio']:.2f}{goal}", flush=True)
    latency = latency_comparisons(results)
    for row in latency:
        parts = [f"{pct} {row[pct]['ratio']:.2f}x {row[pct]['peer']}" for pct in ("p50", "p99") if row[pct]["ratio"]]
        print(f"latency spikard-{row['ours']}/best peer: {', '.join(parts)}  (goal <= {LATENCY_GOAL:g})", flush=True)
    for key, runs in results["idle"].items():
        if BY_KEY[key].ours:
            per = median_of(runs, "bytes_per_connection") or 0
            print(f"idle spikard-{key} = {per:,.0f} B per connection  (goal <= {IDLE_GOAL_BYTES})", flush=True)
    saved = {"results": results, "validation": validation, "skipped": skipped}
    raw.write_text(json.dumps({**saved, "elapsed": elapsed, "machine": mach, "versions": vers}, indent=1))
    report = cfg.out_dir / ("benchmarks-quick.md" if cfg.quick else "benchmarks.md")
    chart = cfg.out_dir / ("benchmarks-quick.png" if cfg.quick else "benchmarks.png")
    write_chart(cfg, results, chart)
    write_report(cfg, results, report, chart, mach, vers, skipped, compare, latency, validation, elapsed)
    print(f"wrote {report} and {chart} (raw results: {raw}; server logs: {cfg.log_dir})", flush=True)
    failed = sum(len(v) for v in results["failures"].values())
    if failed:
        print(f"{failed} measurement(s) failed: see the report", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
