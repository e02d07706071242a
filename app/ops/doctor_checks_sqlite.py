"""SQLite connection checks: WAL journal, foreign keys and the busy timeout (seed 003).

Read through a plain connection, as any other program opening the file would: the journal
mode is the file's own (WAL persists in it), and foreign keys are whatever a writer without
`PRAGMA foreign_keys = ON` (the earlier service, a sqlite3 shell) may have left behind.
"""

from collections import Counter

from sqlalchemy import Engine

from app.core.config import Settings
from app.ops.doctor_checks import Check, failed, names, passed, warned

# Below this a writer meets "database is locked" as soon as another one holds the lock.
MIN_BUSY_TIMEOUT_MS = 5000


def connection_checks(engine: Engine, settings: Settings) -> list[Check]:
    with engine.connect() as connection:
        journal = str(connection.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()
        # Per connection, changes nothing on disk: can this SQLite enforce them at all?
        connection.exec_driver_sql("PRAGMA foreign_keys = ON")
        enforced = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        busy_ms = int(connection.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0)
        database = str(engine.url.database)
    return [
        _journal_check(journal, database),
        _foreign_key_check(bool(enforced), [(str(row[0]), str(row[2])) for row in violations]),
        _busy_timeout_check(busy_ms, settings.db_timeout),
    ]


def _journal_check(mode: str, database: str) -> Check:
    if mode == "wal":
        return passed("journal_mode", "WAL: readers never wait for the writer")
    return warned(
        "journal_mode",
        f"journal mode is {mode}, not WAL: readers and the writer block each other "
        '("database is locked")',
        f"start `prism serve` once (it switches the file to WAL) or run "
        f"`sqlite3 {database} 'PRAGMA journal_mode=WAL'`; keep the file on a local disk",
    )


def _foreign_key_check(enforced: bool, violations: list[tuple[str, str]]) -> Check:
    if not enforced:
        return failed(
            "foreign_keys",
            "this SQLite build cannot enforce foreign keys (PRAGMA foreign_keys stays 0)",
            "use a Python whose sqlite3 module is built with foreign-key support",
        )
    if not violations:
        return passed("foreign_keys", "enforced on every connection; no row breaks one")
    by_table = Counter(violations)
    found = [
        f"{count} in {table} (missing {parent})" for (table, parent), count in by_table.items()
    ]
    total = sum(by_table.values())
    return warned(
        "foreign_keys",
        f"{total} row{'s' if total != 1 else ''} reference a missing parent: {names(found)}; "
        "written with foreign keys off",
        "list them with `PRAGMA foreign_key_check;` in sqlite3, then delete them or add their "
        "parents (the console enforces foreign keys on its own connections)",
    )


def _busy_timeout_check(busy_ms: int, configured_seconds: float) -> Check:
    if busy_ms >= MIN_BUSY_TIMEOUT_MS:
        return passed("busy_timeout", f"{busy_ms:,} ms: a writer waits that long for the lock")
    return warned(
        "busy_timeout",
        f"{busy_ms:,} ms (PRISM_DB_TIMEOUT={configured_seconds:g}): a writer meeting a lock "
        'gives up almost at once with "database is locked"',
        "set PRISM_DB_TIMEOUT=30 (the default) or more",
    )
