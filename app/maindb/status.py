"""The main database's state for the status endpoint and the cross-service page header."""

from datetime import datetime

from app.maindb.database import NOT_CONFIGURED, MainDatabase
from app.maindb.replication import replication_status
from app.maindb.schemas import MainDbStatus


def main_status(
    main_db: MainDatabase | None, *, max_lag_seconds: float, now: datetime | None = None
) -> MainDbStatus:
    """Configured, reachable, latency, visible tables and, on a replica, its subscriptions.

    Never raises. `now` is the subscriber's clock for the lag unless a test moves it.
    """
    if main_db is None:
        return MainDbStatus(configured=False, ok=False, error=NOT_CONFIGURED)
    check = main_db.check()
    replication = (
        replication_status(main_db, max_lag_seconds=max_lag_seconds, now=now) if check.ok else None
    )
    return MainDbStatus(
        configured=True,
        ok=check.ok,
        latency_ms=check.latency_ms,
        error=check.error,
        timeout_ms=main_db.timeout_ms,
        tables=check.tables,
        replication=replication,
    )
