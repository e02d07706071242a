"""The fold job (app/miners/fold.py) on the service's scheduler: every
PRISM_ROLLUP_FOLD_SECONDS, fold steps until the rollup has caught up with ingest.

On PostgreSQL it runs under an advisory lock of its own, so one replica folds at a time
(the others skip the round); two folders would be safe anyway (the watermark row
serialises them), only wasteful. On SQLite every process of `--workers N` folds: each step
is one write transaction (it takes the write lock first), so they take turns.
"""

import logging
import threading

from sqlalchemy import Engine

from app.core.config import Settings
from app.core.db import DatabaseTarget
from app.live.pg_fanout import session_libpq_url
from app.miners.fold import fold_all
from app.ops.scheduler import PeriodicJob

logger = logging.getLogger("prism.fold")

# pg_try_advisory_lock key of the fold job ("prism" + job 4), apart from the other jobs'.
FOLD_LOCK_KEY = 0x7072_6973_6D00_0004


def fold_schedule(engine: Engine, target: DatabaseTarget, settings: Settings) -> PeriodicJob | None:
    """The scheduled fold, or None when PRISM_ROLLUP_FOLD_SECONDS is 0."""
    interval = float(settings.rollup_fold_seconds)
    if not interval:
        return None

    def run(stopping: threading.Event) -> None:
        folded = fold_all(engine, stopping=stopping)
        if folded:
            logger.debug("folded %d samples into the rollups", folded)

    return PeriodicJob(
        "fold",
        run,
        interval=interval,
        first_delay=interval,
        lock_url=None if target.is_sqlite else session_libpq_url(target),
        lock_key=FOLD_LOCK_KEY,
        skip_log_level=logging.DEBUG,
    )
