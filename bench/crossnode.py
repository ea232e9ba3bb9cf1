"""Cross-node fan-out (docs/scaling.md): deliveries per second and latency of one room served by
one native Spikard server (in-process rooms) against the same room split over two servers
sharing it through Redis: the sender on one node, every subscriber on the other.

    python3 bench/crossnode.py [--subscribers 100] [--duration 3] [--in-flight 8]

Starts its own `redis-server` on a free loopback port and two `spikard-bench serve` processes
(release build: `cargo build --release -p spikard-bench`), and prints one JSON line per case and
the ratios. Short by default (a few seconds per case): the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "target" / "release" / "spikard-bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis() -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    args = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if "Ready to accept connections" in line:
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, f"redis://127.0.0.1:{port}/0"
    raise SystemExit("redis-server did not start")


def serve(pubsub: str) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "SPIKARD_PUBSUB": pubsub}
    process = subprocess.Popen([str(BENCH), "serve"], stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("READY "):
        raise SystemExit(f"spikard-bench serve did not start: {line!r}")
    return process, int(line.split()[1])


def broadcast(args: argparse.Namespace, url: str, subscribers_url: str | None, pid: int) -> dict[str, object]:
    command = [str(BENCH), "broadcast", "--url", url, "--subscribers", str(args.subscribers)]
    command += ["--in-flight", str(args.in_flight), "--duration", str(args.duration), "--warmup", "1"]
    command += ["--server-pid", str(pid)]
    if subscribers_url:
        command += ["--subscribers-url", subscribers_url]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--duration", type=float, default=3.0)
    args = parser.parse_args()
    if not BENCH.exists():
        raise SystemExit(f"{BENCH} is missing: cargo build --release -p spikard-bench")
    redis, url = start_redis()
    servers: list[subprocess.Popen[str]] = []
    try:
        local, local_port = serve("local")
        servers.append(local)
        single = broadcast(args, f"ws://127.0.0.1:{local_port}/broadcast", None, local.pid)
        a, a_port = serve(url)
        b, b_port = serve(url)
        servers += [a, b]
        cross = broadcast(args, f"ws://127.0.0.1:{a_port}/broadcast", f"ws://127.0.0.1:{b_port}/broadcast", b.pid)
    finally:
        for server in servers:
            server.terminate()
            server.wait()
        redis.kill()
        redis.wait()
    for name, result in (("in-process", single), ("cross-node", cross)):
        print(json.dumps({"case": name, **result}))
    ratio = float(cross["msgs_per_sec"]) / float(single["msgs_per_sec"])  # type: ignore[arg-type]
    print(f"cross-node/in-process deliveries per second = {ratio:.2f}")
    single_latency, cross_latency = single["latency_us"], cross["latency_us"]
    assert isinstance(single_latency, dict) and isinstance(cross_latency, dict)
    for key in ("p50", "p99"):
        added = float(cross_latency[key]) - float(single_latency[key])
        print(f"added latency {key} = {added:.0f} us (in-process {single_latency[key]} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
