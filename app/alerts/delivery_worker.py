"""The outbox's delivery worker, one on every replica (SPEC §11 "Delivery"): claims due
rows in a thread of its own, sends them in SEND_THREADS more, and records each outcome;
claims (FOR UPDATE SKIP LOCKED on PostgreSQL, a lease on both engines) keep two workers
from sending one row at the same time."""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import Engine

from app.alerts import outbox
from app.alerts.delivery import (
    POLL_SECONDS,
    SEND_THREADS,
    Claim,
    Outcome,
    claim_due,
    deliver_claim,
    next_due,
)
from app.core.config import Settings
from app.core.timeutil import utcnow

logger = logging.getLogger("prism.alerts.delivery")


class DeliveryWorker:
    """Runs delivery steps on the event loop's behalf: claims in a thread of its own, sends
    in SEND_THREADS more, wakes when this process enqueues, else polls every few seconds."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        poll_seconds: float = POLL_SECONDS,
        threads: int = SEND_THREADS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._poll_seconds = poll_seconds
        self._threads = threads
        self._clock = clock
        self._claim_pool = ThreadPoolExecutor(1, thread_name_prefix="prism-notify-claim")
        self._send_pool = ThreadPoolExecutor(threads, thread_name_prefix="prism-notify")
        self._in_flight: set[asyncio.Future[Outcome]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unregister: Callable[[], None] | None = None
        self._last_problem: str | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()

        def wake_from_any_thread() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._wake.set)

        self._unregister = outbox.on_committed(wake_from_any_thread)
        self._task = asyncio.create_task(self._run(), name="prism-notify")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, *, grace_seconds: float = 5.0) -> None:
        """Stop claiming; sends in flight get a few seconds to be recorded (a send cut
        short leaves its claim, and the row is sent again after the lease)."""
        if self._unregister is not None:
            self._unregister()
            self._unregister = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=grace_seconds)
        self._send_pool.shutdown(wait=False, cancel_futures=True)
        self._claim_pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            delay = self._poll_seconds
            free = self._threads - len(self._in_flight)
            if free > 0:
                claims, due = await self._claim(loop, free)
                for claim in claims:
                    self._start_send(loop, claim)
                if due is not None:
                    wait = (due - self._clock()).total_seconds()
                    # A due row another replica is claiming right now: look again shortly.
                    delay = min(delay, max(wait, 0.0 if claims else 0.05))
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _claim(
        self, loop: asyncio.AbstractEventLoop, free: int
    ) -> tuple[list[Claim], datetime | None]:
        def step() -> tuple[list[Claim], datetime | None]:
            claims = claim_due(self._engine, self._settings, now=self._clock(), limit=free)
            if len(claims) == free:
                return claims, None  # every thread busy: a finished send wakes the loop
            return claims, next_due(self._engine)

        try:
            result = await loop.run_in_executor(self._claim_pool, step)
        except Exception as exc:
            # The database is down or locked: one line per new problem; the next poll retries.
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            problem = f"{type(exc).__name__}: {reason}"
            if problem != self._last_problem:
                logger.warning("notification delivery paused: %s", problem)
                self._last_problem = problem
            return [], None
        if self._last_problem is not None:
            logger.info("notification delivery resumed")
            self._last_problem = None
        return result

    def _start_send(self, loop: asyncio.AbstractEventLoop, claim: Claim) -> None:
        future = loop.run_in_executor(
            self._send_pool,
            lambda: deliver_claim(self._engine, self._settings, claim, clock=self._clock),
        )
        self._in_flight.add(future)
        future.add_done_callback(self._sent)

    def _sent(self, future: asyncio.Future[Outcome]) -> None:
        self._in_flight.discard(future)
        self._wake.set()  # a thread is free: claim more
        if not future.cancelled() and future.exception() is not None:
            exc = future.exception()
            # Recording failed (database down): the claim runs out and the row is sent again.
            logger.warning(
                "notification outcome not recorded (%s); it is sent again after its lease",
                type(exc).__name__,
            )
