"""The evaluator on a schedule: one cycle every PRISM_ALERT_INTERVAL_SECONDS, on one replica.

The job runs on the PeriodicJob of app.ops.scheduler: in a worker thread, a failing cycle
logged in one line and the next one run on time. On PostgreSQL each cycle first takes an
advisory lock of its own (not retention's or backup's), so of the replicas sharing the
database one evaluates at a time and the others skip that round. On SQLite the processes of
`prism serve --workers N` share the file, so an exclusive lock on a file beside it does the
same: two evaluators at once would each open the incident of one transition.
"""

import contextlib
import fcntl
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from app.alerts.evaluator import evaluate_once
from app.core.config import Settings
from app.core.db import DatabaseTarget
from app.core.timeutil import utcnow
from app.live.broadcaster import Publisher
from app.live.pg_fanout import session_libpq_url
from app.maindb.database import MainDatabase
from app.ops.scheduler import Job, PeriodicJob

logger = logging.getLogger("prism.alerts")

# pg_try_advisory_lock key of the evaluator ("prism" + job 2), apart from the other jobs'.
ALERTS_LOCK_KEY = 0x7072_6973_6D00_0002
LOCK_FILE_SUFFIX = ".alerts-lock"


def evaluator_job(
    engine: Engine,
    settings: Settings,
    *,
    publisher: Publisher | None = None,
    main_db: MainDatabase | None = None,
    clock: Callable[[], datetime] = utcnow,
    lock_file: Path | None = None,
) -> Job:
    """One evaluation cycle at clock() as a job; with `lock_file`, only while holding it."""

    def run(_stopping: threading.Event) -> None:
        with _exclusive(lock_file) as held:
            if not held:
                # Every interval on every process but one: not worth an INFO line.
                logger.debug("alerts skipped this round: another process is evaluating")
                return
            report = evaluate_once(
                engine, settings, now=clock(), publisher=publisher, main_db=main_db
            )
        if report.pending or report.fired or report.resolved or report.failed:
            logger.info(
                "alerts: %d rules, %d pending, %d fired, %d resolved, %d failed",
                report.rules,
                report.pending,
                report.fired,
                report.resolved,
                report.failed,
            )

    return run


@contextlib.contextmanager
def _exclusive(path: Path | None) -> Iterator[bool]:
    """Hold an exclusive lock on `path` (True), or say another process holds it (False)."""
    if path is None:
        yield True
        return
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sqlite_lock_file(target: DatabaseTarget) -> Path | None:
    """The lock file beside a SQLite database file (None for an in-memory database)."""
    database = target.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).with_name(Path(database).name + LOCK_FILE_SUFFIX)


def alert_schedule(
    engine: Engine,
    target: DatabaseTarget,
    settings: Settings,
    *,
    publisher: Publisher | None = None,
    main_db: MainDatabase | None = None,
    interval: float | None = None,
    first_delay: float | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> PeriodicJob | None:
    """The scheduled evaluator, or None when PRISM_ALERT_INTERVAL_SECONDS is 0.

    `interval` and `first_delay` (seconds) override the setting; the first cycle runs one
    interval after start-up by default, when start-up has settled. `clock` gives each
    cycle's `now`.
    """
    if interval is None:
        interval = float(settings.alert_interval_seconds)
    if not interval:
        return None
    job = evaluator_job(
        engine,
        settings,
        publisher=publisher,
        main_db=main_db,
        clock=clock,
        lock_file=sqlite_lock_file(target) if target.is_sqlite else None,
    )
    return PeriodicJob(
        "alerts",
        job,
        interval=interval,
        first_delay=interval if first_delay is None else first_delay,
        lock_url=None if target.is_sqlite else session_libpq_url(target),
        lock_key=ALERTS_LOCK_KEY,
        skip_log_level=logging.DEBUG,
    )
