"""Echo peer: Granian serving the raw ASGI app of `asgi_echo.py`, one worker, uvloop.

Granian always serves from a spawned worker process, so this launcher starts the `granian` CLI,
waits for its "Spawning worker-1 with PID: N" and "Started worker-1" log lines and prints
`READY <port> <worker pid>`: the driver then measures the worker, the process that does the work.
Granian has no permessage-deflate. SIGTERM to this launcher's process group stops everything.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

from peer_common import HOST, announce, port_from_env

HERE = Path(__file__).resolve().parent


def main() -> int:
    """Run granian, forward its log to stderr, announce readiness, wait for it to exit."""
    port = port_from_env()
    if port == 0:
        print("granian does not report a port it picked: set PORT", file=sys.stderr)
        return 2
    cmd = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--workers",
        "1",
        "--runtime-threads",
        "1",
        "--loop",
        "uvloop",
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-access-log",
        "--working-dir",
        str(HERE),
        "asgi_echo:app",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    worker = None
    for line in proc.stdout:
        sys.stderr.write(line)
        found = re.search(r"Spawning worker-1 with PID: (\d+)", line)
        if found:
            worker = int(found.group(1))
        if "Started worker-1" in line and worker is not None:
            import granian

            announce(port, worker, note=f"granian {granian.__version__} on uvloop, worker pid {worker}")
            break
    for line in proc.stdout:
        sys.stderr.write(line)
    return proc.wait()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
