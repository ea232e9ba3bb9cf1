"""Type stubs of ``spikard._native``, the private Rust extension (checked by mypy.stubtest)."""

from os import PathLike
from typing import Any, Final, final

__all__ = [
    "BINARY",
    "CONNECT",
    "DISCONNECT",
    "MESSAGE",
    "App",
    "Bridge",
    "Connection",
    "Job",
    "Server",
    "check_schema",
    "use_batch_policy",
]

CONNECT: Final[int]
MESSAGE: Final[int]
BINARY: Final[int]
DISCONNECT: Final[int]

def check_schema(route: str, which: str, schema: Any) -> None:
    """Compile ``schema``; raise ``SchemaCompileError`` naming ``route`` when it is invalid."""

def use_batch_policy() -> None:
    """Run the calling thread under SCHED_BATCH (Linux), unless SPIKARD_SCHED_BATCH=0."""

@final
class Bridge:
    """A server's job queue, drained by the Python event loop."""

    def __new__(cls) -> Bridge: ...
    def fileno(self) -> int:
        """The descriptor that becomes readable when jobs are waiting."""
    def take(self) -> list[Job]:
        """Every waiting job, oldest first."""
    def close(self) -> None:
        """Refuse new jobs and drop the waiting ones."""

@final
class Job:
    """One connect, message or disconnect of one connection."""

    @property
    def kind(self) -> int: ...
    @property
    def route(self) -> int: ...
    @property
    def message(self) -> Any: ...
    @property
    def code(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def ws(self) -> Any: ...
    @ws.setter
    def ws(self, value: Any) -> None: ...
    def connection(self) -> Connection: ...
    def reply(self, value: Any) -> None: ...
    def fail(self, message: str) -> None: ...
    def done(self) -> None: ...
    def reject(self, status: int, reason: str) -> None: ...

@final
class Connection:
    """The core's connection handle."""

    @property
    def id(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def route(self) -> str: ...
    @property
    def is_closing(self) -> bool: ...
    def path_params(self) -> list[tuple[str, str]]: ...
    def query_params(self) -> list[tuple[str, str]]: ...
    def headers(self) -> list[tuple[str, str]]: ...
    def remote_addr(self) -> tuple[str, int]: ...
    def send_json(self, value: Any) -> None: ...
    def send_text(self, text: str) -> None: ...
    def send_bytes(self, data: bytes) -> None: ...
    def close(self, code: int = 1000, reason: str = "") -> None: ...

@final
class App:
    """Routes and settings, before binding."""

    def __new__(cls, bridge: Bridge) -> App: ...
    def add_route(
        self,
        path: str,
        index: int,
        *,
        message_schema: Any = None,
        response_schema: Any = None,
        max_message_size: int | None = None,
        on_connect: bool = False,
        on_disconnect: bool = False,
        on_binary: bool = False,
    ) -> None: ...
    def set_max_message_size(self, bytes: int) -> None: ...
    def set_static_dir(self, directory: str | PathLike[str]) -> None: ...
    def set_drain_timeout(self, seconds: float) -> None: ...
    def bind(self, host: str, port: int) -> Server: ...

@final
class Server:
    """A bound app serving in the background."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    def shutdown(self) -> None: ...
    def wait(self, timeout: float | None = None) -> bool: ...
    def metrics(self) -> dict[str, int]: ...
