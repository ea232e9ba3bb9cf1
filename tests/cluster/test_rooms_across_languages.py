"""One room across a Python, a Node.js and a Ruby server, shared through one ``redis-server``.

Each language's chat example (``examples/*/chat.*``) runs as its own process with
``SPIKARD_PUBSUB`` naming a Redis this test starts on a free loopback port. Alice (on the Python
server), Bob (Node) and Carol (Ruby) join one room and chat; then Redis is killed: each server
still delivers to its own members, and what is published meanwhile is lost (at most once) and
logged; after Redis restarts on the same port, the servers resubscribe and the conversation
goes on across all three. Run by ``task cluster:test`` (part of ``task test``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "packages/python/tests"))
from redis_server import Redis, redis  # noqa: E402  (the Python package's test helper)

__all__ = ["redis"]  # the fixture
ROOM = "cluster"
TOPIC = f"room:{ROOM}"  # the chat examples publish a room's messages to this topic
SERVERS = {
    "python": [sys.executable, str(REPO / "examples/python/chat.py")],
    "node": ["node", str(REPO / "examples/node/chat.js")],
    "ruby": ["ruby", "-I", str(REPO / "packages/ruby/lib"), str(REPO / "examples/ruby/chat.rb")],
}


class Server:
    """A chat example on a free port, its log kept."""

    def __init__(self, name: str, redis: Redis) -> None:
        self.name = name
        env = {**os.environ, "PORT": "0", "SPIKARD_PUBSUB": redis.url}
        self.process = subprocess.Popen(
            SERVERS[name], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.log: list[str] = []
        assert self.process.stderr is not None
        threading.Thread(target=self._keep_log, daemon=True).start()

    def _keep_log(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)

    def port(self) -> int:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # the examples print their address once bound
            if match := re.search(r"127\.0\.0\.1:(\d+)", line):
                threading.Thread(target=self.process.stdout.read, daemon=True).start()
                return int(match.group(1))
        self.process.wait()
        raise AssertionError(f"{self.name} chat did not start:\n{''.join(self.log)}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def servers(redis: Redis) -> Iterator[dict[str, tuple[Server, int]]]:
    started = {name: Server(name, redis) for name in SERVERS}  # start together, wait for each
    try:
        yield {name: (server, server.port()) for name, server in started.items()}
    finally:
        for server in started.values():
            server.stop()


def receive(client: ClientConnection, timeout: float = 5) -> Any:
    return json.loads(client.recv(timeout=timeout))


def said(user: str, text: str) -> dict[str, str]:
    return {"type": "message", "user": user, "room": ROOM, "text": text}


def test_a_python_a_node_and_a_ruby_server_share_one_room_and_survive_a_redis_restart(
    redis: Redis, servers: dict[str, tuple[Server, int]]
) -> None:
    with ExitStack() as stack:
        conversation(redis, servers, stack)
    for server, _port in servers.values():
        server.stop()
        log = "".join(server.log)
        assert "lost the redis pub/sub connection" in log, f"{server.name} did not log the outage:\n{log}"


def conversation(redis: Redis, servers: dict[str, tuple[Server, int]], stack: ExitStack) -> None:
    """Alice (Python), Bob (Node.js) and Carol (Ruby) chat; Redis goes away and comes back."""
    people = {"alice": "python", "bob": "node", "carol": "ruby"}
    clients: dict[str, ClientConnection] = {}
    for n, (user, language) in enumerate(people.items(), start=1):
        port = servers[language][1]
        url = f"ws://127.0.0.1:{port}/rooms/{ROOM}?user={user}"
        clients[user] = stack.enter_context(connect(url, proxy=None))
        redis.wait_for_servers(TOPIC, n)
    # Each member hears its own join and every later one, whichever server it is on.
    for n, user in enumerate(people):
        for joiner in list(people)[n:]:
            event = receive(clients[user])
            assert (event["type"], event["user"]) == ("join", joiner), f"{user} got {event}"

    def everyone_hears(user: str, text: str) -> None:
        clients[user].send(json.dumps({"text": text}))
        for listener, client in clients.items():
            assert receive(client) == said(user, text), f"{listener} missed {user}'s {text!r}"

    everyone_hears("alice", "hello from the Python server")
    everyone_hears("bob", "hi from the Node server")
    everyone_hears("carol", "and from the Ruby server")

    redis.stop()
    # Each server still serves its own members; the other servers lose these (at most once).
    for user in people:
        clients[user].send(json.dumps({"text": f"{user} while redis is down"}))
        assert receive(clients[user]) == said(user, f"{user} while redis is down")

    redis.restart()
    redis.wait_for_servers(TOPIC, 3)
    # A publisher's first message after the restart may still meet its broken connection; from
    # the first that gets across, everything does, and nothing from the outage turns up.
    for user in people:
        for attempt in range(20):
            text = f"{user} is back ({attempt})"
            clients[user].send(json.dumps({"text": text}))
            assert receive(clients[user]) == said(user, text)
            others = [c for u, c in clients.items() if u != user]
            try:
                first = receive(others[0], timeout=1)
            except TimeoutError:
                continue
            assert first == said(user, text)
            assert receive(others[1]) == said(user, text)
            break
        else:
            raise AssertionError(f"{user}'s server never reached the others again")
    everyone_hears("alice", "all three again")
    everyone_hears("bob", "all three again")
    everyone_hears("carol", "all three again")
