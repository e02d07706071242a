"""Scheduled jobs inside the service: retention (and, on PostgreSQL, creating the day
partitions ahead) every hour, on one replica at a time.

A job runs in a worker thread (pruning is blocking database work), driven by an asyncio task
the lifespan starts and stops. On PostgreSQL a run first takes a session-level advisory lock
on a connection of its own and holds it for the whole run, so of the replicas sharing the
database only one runs the job in a round; the others skip that round. On SQLite it simply
runs (one process; with `--workers N` each worker prunes, and their small batches take turns
on the write lock).

A failing run is logged and the schedule goes on. Stopping asks a run in progress to end after
its current batch (the job watches `stopping`) and waits for it a few seconds at most.
"""

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from app.core.config import Settings
from app.core.db import DatabaseTarget
from app.core.timeutil import utcnow
from app.live.pg_fanout import session_libpq_url
from app.ops import partitions, retention

logger = logging.getLogger("prism.scheduler")

# pg_try_advisory_lock key shared by every replica ("prism" + job number 1).
RETENTION_LOCK_KEY = 0x7072_6973_6D00_0001
DEFAULT_RETENTION_INTERVAL_MINUTES = 60
# Not right at start: start-up settles first, and replicas restarted often (a rolling deploy,
# a crash loop) do not all prune on every start; any replica that lives this long prunes.
FIRST_RUN_DELAY_SECONDS = 900.0
LOCK_CONNECT_TIMEOUT_SECONDS = 10

# A job gets an event that is set when the service stops; a long job checks it between steps.
Job = Callable[[threading.Event], object]


class JobStoppedError(Exception):
    """Raised inside a job to end it early because the service is stopping."""


class PeriodicJob:
    """Runs `job` every `interval` seconds in a thread; on PostgreSQL, under an advisory lock."""

    def __init__(
        self,
        name: str,
        job: Job,
        *,
        interval: float,
        first_delay: float,
        lock_url: str | None = None,
        lock_key: int = RETENTION_LOCK_KEY,
        skip_log_level: int = logging.INFO,
    ) -> None:
        self.name = name
        # A job every few seconds (the evaluator) skips on every replica but one each round:
        # at INFO that is a line per replica every interval.
        self._skip_log_level = skip_log_level
        self._job = job
        self._interval = interval
        self._first_delay = first_delay
        self._lock_url = lock_url
        self._lock_key = lock_key
        self._stopping = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: asyncio.Future[None] | None = None

    def run_once(self) -> bool:
        """Run the job now in this thread unless another replica is running it: True if it ran."""
        if self._lock_url is None:
            self._job(self._stopping)
            return True
        with psycopg.connect(
            self._lock_url,
            autocommit=True,
            connect_timeout=LOCK_CONNECT_TIMEOUT_SECONDS,
            application_name=f"prism-{self.name}",
        ) as conn:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._lock_key,)).fetchone()
            if row is None or not row[0]:
                logger.log(
                    self._skip_log_level,
                    "%s skipped this round: another replica is running it",
                    self.name,
                )
                return False
            # Leaving the block closes the connection, which releases the lock even when the
            # job failed or the connection broke.
            self._job(self._stopping)
            return True

    def start(self) -> None:
        """Schedule the runs on the running event loop: the first after `first_delay`."""
        self._stopping.clear()
        self._task = asyncio.create_task(self._run_forever(), name=f"prism-{self.name}")

    async def stop(self, *, grace_seconds: float = 10.0) -> None:
        """Cancel the schedule; a run in progress is asked to end and waited for a while."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        running = self._running
        if running is not None and not running.done():
            done, _ = await asyncio.wait({running}, timeout=grace_seconds)
            if not done:
                logger.warning("%s still running at shutdown; left to finish alone", self.name)

    async def _run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(self._first_delay)
        while True:
            self._running = loop.run_in_executor(None, self._run_logged)
            # Shielded: stopping the schedule must not abandon a run mid-batch unnoticed.
            await asyncio.shield(self._running)
            await asyncio.sleep(self._interval)

    def _run_logged(self) -> None:
        try:
            self.run_once()
        except JobStoppedError:
            logger.info("%s ended early: the service is stopping", self.name)
        except (psycopg.Error, SQLAlchemyError) as exc:
            # The database is down or busy: one line, no traceback; the next round retries.
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            logger.warning("%s failed (%s); next run in %gs", self.name, reason, self._interval)
        except Exception:
            logger.exception("%s failed; next run in %gs", self.name, self._interval)


def retention_job(
    engine: Engine,
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    batch_size: int = retention.BATCH_SIZE,
) -> Job:
    """The retention prune of PRISM_RETENTION_*_DAYS as a job (logs what it deleted); on
    PostgreSQL it first creates the day partitions of the coming days (app/ops/partitions.py)."""

    def run(stopping: threading.Event) -> None:
        def between_batches(_label: str, _count: int) -> None:
            if stopping.is_set():
                raise JobStoppedError

        now = clock()
        with engine.begin() as connection:
            created = partitions.ensure_partitions(
                connection, now=now, skew_seconds=settings.max_clock_skew_seconds
            )
        if created:
            logger.info("created day partitions %s", ", ".join(created))
        with Session(engine) as session:
            result = retention.prune(
                session=session,
                now=now,
                samples_days=settings.retention_samples_days,
                events_days=settings.retention_events_days,
                audit_days=settings.retention_audit_days,
                batch_size=batch_size,
                progress=between_batches,
            )
        if result.audit_refused is not None:
            logger.error(
                "retention kept the audit log from row %d on: that row is broken "
                "(run `prism audit verify`)",
                result.audit_refused,
            )
        logger.info(
            "retention deleted %d samples and %d memory samples (older than %d days), "
            "%d events, %d status changes, %d resolved incidents and %d notifications (older "
            "than %d days), %d audit rows (older than %d days); miners re-pointed: %d, "
            "removed: %d",
            result.samples,
            result.memory_samples,
            settings.retention_samples_days,
            result.events,
            result.status_changes,
            result.incidents,
            result.notifications,
            settings.retention_events_days,
            result.audit_rows,
            settings.retention_audit_days,
            result.miners_repointed,
            result.miners_removed,
        )

    return run


def retention_schedule(
    engine: Engine,
    target: DatabaseTarget,
    settings: Settings,
    *,
    interval: float | None = None,
    first_delay: float | None = None,
) -> PeriodicJob | None:
    """The scheduled retention run, or None when PRISM_RETENTION_INTERVAL_MINUTES is 0.

    `interval` and `first_delay` (seconds) override the setting and the default delay.
    """
    if interval is None:
        minutes = getattr(
            settings, "retention_interval_minutes", DEFAULT_RETENTION_INTERVAL_MINUTES
        )
        if not minutes:
            return None
        interval = float(minutes) * 60
    if first_delay is None:
        first_delay = min(FIRST_RUN_DELAY_SECONDS, interval)
    return PeriodicJob(
        "retention",
        retention_job(engine, settings),
        interval=interval,
        first_delay=first_delay,
        lock_url=None if target.is_sqlite else session_libpq_url(target),
        lock_key=RETENTION_LOCK_KEY,
    )
