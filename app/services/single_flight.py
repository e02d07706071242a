"""Run a blocking check in a daemon thread, at most one per key, and wait for it with a limit.

Probes and the metrics scrape query databases that may hang (a lock held past the busy
timeout, a server that never answers). Waiting in a worker thread with a time limit keeps
each answer within its budget, but the hung call cannot be interrupted: its thread lives on
until the driver gives up. Sharing the call that is already in flight, instead of starting a
new one on every probe, keeps a hanging database from piling up one thread per request.
Daemon threads never delay the process's exit.
"""

import asyncio
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


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
