"""Run a blocking check in a daemon thread, at most one per key, and wait for it with a limit.

Probes and the metrics scrape query databases that may hang (a lock held past the busy
timeout, a server that never answers). Waiting in a worker thread with a time limit keeps
each answer within its budget, but the hung call cannot be interrupted: its thread lives on
until the driver gives up. Sharing the call that is already in flight, instead of starting a
new one on every probe, keeps a hanging database from piling up one thread per request.
Daemon threads never delay the process's exit.
"""

import asyncio
import functools
import logging
import threading
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

T = TypeVar("T")
logger = logging.getLogger("prism.flight")


class SingleFlight:
    """At most one running call per key; late callers share its result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inflight: dict[Hashable, Future[Any]] = {}

    def submit(self, key: Hashable, call: Callable[[], T]) -> "Future[T]":
        """The future of the call in flight for `key`, starting `call` if there is none."""
        with self._lock:
            running = self._inflight.get(key)
            if running is not None:
                return running
            future: Future[T] = Future()
            # RUNNING futures cannot be cancelled: a caller that stops waiting (timeout,
            # cancelled request) must not cancel the result other callers share.
            future.set_running_or_notify_cancel()
            self._inflight[key] = future
        thread = threading.Thread(
            target=self._run, args=(key, future, call), name=f"check-{key}", daemon=True
        )
        thread.start()
        return future

    def _run(self, key: Hashable, future: "Future[T]", call: Callable[[], T]) -> None:
        try:
            result = call()
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
        finally:
            with self._lock:
                if self._inflight.get(key) is future:
                    del self._inflight[key]

    def in_flight(self, key: Hashable) -> bool:
        """Whether a call for `key` is still running (a hung one stays until it returns)."""
        with self._lock:
            return key in self._inflight

    def call(self, key: Hashable, call: Callable[[], T], timeout: float) -> T:
        """Blocking: the result, or TimeoutError after `timeout` seconds."""
        return self.submit(key, call).result(timeout)

    async def acall(self, key: Hashable, call: Callable[[], T], timeout: float) -> T:
        """Awaitable: the result, or TimeoutError after `timeout` seconds."""
        return await asyncio.wait_for(asyncio.wrap_future(self.submit(key, call)), timeout)


class SharedTasks(Generic[T]):
    """The event-loop twin of SingleFlight: at most one task per key, awaited by all callers.

    Used from one event loop only. A caller that stops waiting (its client went away) does
    not cancel the task the others share. A task's failure reaches every caller awaiting
    it, and is logged once for the case where nobody did.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: dict[Hashable, asyncio.Future[T]] = {}

    def start(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> "asyncio.Future[T]":
        """The task in flight for `key`, starting `make()` if there is none."""
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(make())
            self._tasks[key] = task
            task.add_done_callback(functools.partial(self._landed, key))
        return task

    async def join(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        """The result of the task for `key` (started if need be)."""
        return await asyncio.shield(self.start(key, make))

    def in_flight(self) -> int:
        return len(self._tasks)

    def _landed(self, key: Hashable, task: "asyncio.Future[T]") -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled() and task.exception() is not None:
            logger.warning("%s failed: %r", self._name, task.exception())
