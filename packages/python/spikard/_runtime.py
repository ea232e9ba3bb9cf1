"""The Python side of the bridge: one asyncio loop thread per process, and the dispatcher that
drains a server's job queue on it.

The Rust core never calls into Python per message. It queues jobs and, when the queue goes
from empty to non-empty, makes a socket readable; the loop's reader callback takes the whole
batch at once. Each handler coroutine is started inline with ``coro.send(None)``: most finish
right there, without a Task; only one that really suspends (awaits I/O, a sleep, a lock) is
wrapped in a Task that carries it on from where it stopped.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Generator, Sequence
from operator import attrgetter
from types import CoroutineType
from typing import Any, Final

from spikard import _native
from spikard.connection import WebSocket
from spikard.errors import HandlerError, InvalidMessage, Rejection
from spikard.routing import CallPlan, Source, WebSocketRoute

__all__ = ["Dispatcher", "event_loop"]

copy_context = contextvars.copy_context

log = logging.getLogger("spikard")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _new_loop() -> asyncio.AbstractEventLoop:
    choice = os.environ.get("SPIKARD_LOOP", "auto")
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _serve_loop(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
    _native.use_batch_policy()  # like the tokio workers: a wake-up does not preempt
    asyncio.set_event_loop(loop)
    loop.call_soon(started.set)
    loop.run_forever()


def event_loop() -> asyncio.AbstractEventLoop:
    """The process's handler event loop, running on its own daemon thread (started on first
    use; uvloop when installed, unless ``SPIKARD_LOOP=asyncio``)."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = _new_loop()
            started = threading.Event()
            threading.Thread(
                target=_serve_loop, args=(loop, started), name="spikard-loop", daemon=True
            ).start()
            started.wait()
            _loop = loop
        return _loop


Job = _native.Job
Runner = Callable[[Job], None]
Complete = Callable[[Job, Any], None]
Fail = Callable[[Job, BaseException], None]


def _websocket_of(job: Job) -> WebSocket:
    ws = job.ws
    if ws is None:
        ws = WebSocket(job.connection())
        job.ws = ws
    return ws  # type: ignore[no-any-return]


_GETTERS: Final[dict[Source, Callable[[Job], Any]]] = {
    "message": attrgetter("message"),
    "ws": _websocket_of,
    "code": attrgetter("code"),
    "reason": attrgetter("reason"),
}


def _invoker(plan: CallPlan, loop: asyncio.AbstractEventLoop) -> Callable[[Job], Any]:
    """A function of the job calling the handler with what its parameters ask for.

    A plain ``def`` handler runs in the loop's default thread pool (so that a blocking one
    holds up only its own connection), in a copy of the context like any task; the arguments
    are built on the loop thread first."""
    func = plan.func
    getters = dict(_GETTERS)
    convert = plan.converter
    if convert is not None:
        message = getters["message"]
        getters["message"] = lambda job: convert(message(job))
    pos = [getters[source] for source in plan.positional]
    kws = [(name, getters[source]) for name, source in plan.keywords]
    if not inspect.iscoroutinefunction(func):
        run_in_executor = loop.run_in_executor

        def in_thread(job: Job) -> Any:
            args = [g(job) for g in pos]
            call = functools.partial(func, *args, **{name: g(job) for name, g in kws})
            return run_in_executor(None, contextvars.copy_context().run, call)

        return in_thread
    if not kws and len(pos) == 0:
        return lambda job: func()
    if not kws and len(pos) == 1:
        (first,) = pos
        return lambda job: func(first(job))
    if not kws and len(pos) == 2:
        first, second = pos
        return lambda job: func(first(job), second(job))
    return lambda job: func(*[g(job) for g in pos], **{name: g(job) for name, g in kws})


class _Resume:
    """Awaitable carrying on a coroutine that was started inline and suspended on ``yielded``.

    Awaited inside a Task, it hands ``yielded`` (the future the coroutine waits for) to the
    Task, then forwards whatever the Task sends or throws into the coroutine.
    """

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro: CoroutineType[Any, Any, Any], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, yielded = self._coro, self._yielded
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    yielded = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


class Dispatcher:
    """Runs one server's jobs on the loop thread."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        bridge: _native.Bridge,
        routes: Sequence[WebSocketRoute[..., Any]],
    ) -> None:
        self._loop = loop
        self._bridge = bridge
        self._tasks: set[asyncio.Task[None]] = set()
        self._table: list[list[Runner]] = [self._compile(route) for route in routes]

    def attach(self) -> None:
        """Start draining the bridge (from any thread)."""
        self._loop.call_soon_threadsafe(self._loop.add_reader, self._bridge.fileno(), self._drain)

    def detach(self) -> None:
        """Stop draining and close the bridge (from any thread, once the server stopped)."""
        self._loop.call_soon_threadsafe(self._detach)

    def _detach(self) -> None:
        self._loop.remove_reader(self._bridge.fileno())
        self._bridge.close()

    def _drain(self) -> None:
        table = self._table
        for job in self._bridge.take():
            try:
                table[job.route][job.kind](job)
            except Exception:
                log.exception("dispatching a job failed")

    def _compile(self, route: WebSocketRoute[..., Any]) -> list[Runner]:
        """The runners of a route, indexed by job kind (``_native.CONNECT``, ``MESSAGE``, ...)."""
        path = route.path

        def failed(job: Job, exc: BaseException) -> None:
            if isinstance(exc, InvalidMessage):
                job.invalid([(e["path"], e["message"], e["keyword"]) for e in exc.errors])
            elif isinstance(exc, HandlerError):
                job.fail(exc.message)
            else:
                log.error("handler of route %s raised", path, exc_info=exc)
                job.fail_internal()

        def connect_done(job: Job, result: Any) -> None:
            if result is False:
                job.reject(403, "connection rejected")
            else:
                job.done()

        def connect_failed(job: Job, exc: BaseException) -> None:
            if isinstance(exc, Rejection):
                job.reject(exc.status, exc.reason)
            else:
                log.error("on_connect of route %s raised", path, exc_info=exc)
                job.fail_internal()

        def disconnect_done(job: Job, result: Any) -> None:
            job.done()

        def disconnect_failed(job: Job, exc: BaseException) -> None:
            log.error("on_disconnect of route %s raised", path, exc_info=exc)
            job.done()

        loop = self._loop
        reply: Complete = _native.Job.reply
        runners: list[Runner] = [_native.Job.done] * 4
        runners[_native.MESSAGE] = self._runner(_invoker(route.plan, loop), reply, failed)
        if route.branches:
            # The core picked the branch (and validated the message against its schema): only
            # the callable registered under its name is looked up here.
            by_branch = {
                name: self._runner(_invoker(branch.plan, loop), reply, failed)
                for name, branch in route.branches.items()
            }
            runners[_native.MESSAGE] = lambda job: by_branch[job.branch](job)  # type: ignore[index]
        if route.binary_plan:
            runners[_native.BINARY] = self._runner(_invoker(route.binary_plan, loop), reply, failed)
        if route.connect_plan:
            runners[_native.CONNECT] = self._runner(
                _invoker(route.connect_plan, loop), connect_done, connect_failed
            )
        if route.disconnect_plan:
            runners[_native.DISCONNECT] = self._runner(
                _invoker(route.disconnect_plan, loop), disconnect_done, disconnect_failed
            )
        return runners

    def _runner(self, invoke: Callable[[Job], Any], complete: Complete, fail: Fail) -> Runner:
        spawn = self._spawn

        def run(job: Job) -> None:
            # Each call runs in its own copy of the context, as each asyncio Task does: a
            # ContextVar set by one connection's handler is never seen by another's.
            context = copy_context()
            try:
                result = context.run(invoke, job)
                if type(result) is CoroutineType:
                    try:
                        yielded = context.run(result.send, None)
                    except StopIteration as stop:
                        result = stop.value
                    else:
                        spawn(_finish(_Resume(result, yielded), job, complete, fail), context)
                        return
                elif hasattr(type(result), "__await__"):
                    spawn(_finish(result, job, complete, fail), context)
                    return
            except Exception as exc:
                fail(job, exc)
                return
            try:
                complete(job, result)
            except Exception as exc:
                fail(job, exc)

        return run

    def _spawn(self, coro: Coroutine[Any, Any, None], context: contextvars.Context) -> None:
        task = self._loop.create_task(coro, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _finish(awaitable: Any, job: Job, complete: Complete, fail: Fail) -> None:
    try:
        result = await awaitable
    except Exception as exc:
        fail(job, exc)
        return
    try:
        complete(job, result)
    except Exception as exc:
        fail(job, exc)
