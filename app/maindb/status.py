"""The main database's state for the status endpoint and the cross-service page header."""

from app.maindb.database import NOT_CONFIGURED, MainDatabase
from app.maindb.schemas import MainDbStatus


def main_status(main_db: MainDatabase | None) -> MainDbStatus:
    """Configured, reachable, latency and visible tables; never raises."""
    if main_db is None:
        return MainDbStatus(configured=False, ok=False, error=NOT_CONFIGURED)
    check = main_db.check()
    return MainDbStatus(
        configured=True,
        ok=check.ok,
        latency_ms=check.latency_ms,
        error=check.error,
        timeout_ms=main_db.timeout_ms,
        tables=check.tables,
    )
