"""`prism db doctor`: the seeds' troubleshooting sections as one read-only diagnosis.

Each check answers pass, warn or fail with one line of detail and, unless it passed, one
line of advice. The doctor only reads: it opens the console database with a plain
connection (no start-up pragmas, so it sees the file as it is, and switches nothing on), runs
no migration, and reaches the main database through the read-only engine the service uses.
Checks that cannot apply are left out (SQLite pragmas on PostgreSQL, the server's
connection limit on SQLite, schema comparisons before the database is at head).
"""

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from app.core.config import Settings
from app.core.db import DatabaseTarget, api_database_target, create_db_engine
from app.maindb import MainDatabase
from app.ops import doctor_checks_maindb as maindb_checks
from app.ops import doctor_checks_postgres as postgres_checks
from app.ops import doctor_checks_schema as schema_checks
from app.ops import doctor_checks_sqlite as sqlite_checks
from app.ops import doctor_checks_storage as storage_checks
from app.ops.doctor_checks import Check, Status, failed, first_line

DiskUsage = Callable[[Path], Any]  # shutil.disk_usage's shape: .total, .used, .free


@dataclass(frozen=True)
class Report:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        """No check failed (warnings leave it ok)."""
        return all(check.status != "fail" for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        """{checks: [{name, status, detail, advice}], ok}: what `--json` prints."""
        return {"checks": [asdict(check) for check in self.checks], "ok": self.ok}

    def counts(self) -> dict[Status, int]:
        found: dict[Status, int] = {"pass": 0, "warn": 0, "fail": 0}
        for check in self.checks:
            found[check.status] += 1
        return found


def diagnose(
    settings: Settings,
    *,
    main_db: MainDatabase | None,
    now: datetime,
    disk_usage: DiskUsage = shutil.disk_usage,
) -> Report:
    """Every check that applies to the configured databases; never writes anything.

    `main_db` is the main database as the service opens it (None when not configured);
    `now` dates the newest backup; `disk_usage` reads free space (tests shrink the disk).
    """
    target = api_database_target(settings.api_db_url, settings.api_db_listen_url)
    checks: list[Check] = []
    missing = _missing_sqlite_file(target)
    if missing is not None:
        checks.append(
            failed(
                "console_db",
                f"no database at {missing}",
                "run `prism db upgrade` to create it (or fix PRISM_API_DB_URL)",
            )
        )
    else:
        engine = _inspection_engine(target, settings)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            checks.append(
                failed(
                    "console_db",
                    f"cannot connect to {target.display}: {first_line(exc)}",
                    "check PRISM_API_DB_URL and that the database server is running",
                )
            )
        else:
            if target.is_sqlite:
                checks += _guarded(
                    "connection", lambda: sqlite_checks.connection_checks(engine, settings)
                )
            checks += _guarded("schema", lambda: schema_checks.schema_checks(engine))
            if target.is_sqlite:
                checks.append(storage_checks.sqlite_disk_check(target, disk_usage))
            else:
                checks += _guarded("server", lambda: postgres_checks.server_checks(engine, target))
        finally:
            engine.dispose()
    checks.append(storage_checks.backup_check(settings, target, now))
    checks += maindb_checks.main_db_checks(main_db, settings)
    return Report(checks)


def _missing_sqlite_file(target: DatabaseTarget) -> Path | None:
    if not target.is_sqlite or target.url.database in (None, "", ":memory:"):
        return None
    path = Path(str(target.url.database))
    return None if path.exists() else path


def _inspection_engine(target: DatabaseTarget, settings: Settings) -> Engine:
    """SQLite: a plain connection, so the file is seen as other programs see it (the service's
    engine would switch WAL on while looking); PostgreSQL: the service's own engine."""
    if target.is_sqlite:
        return create_engine(
            target.url,
            poolclass=NullPool,
            connect_args={"timeout": settings.db_timeout, "check_same_thread": False},
        )
    return create_db_engine(
        target, busy_timeout_seconds=settings.db_timeout, slow_query_ms=settings.slow_query_ms
    )


def _guarded(group: str, run: Callable[[], list[Check]]) -> list[Check]:
    """A group of checks the database refused to answer is one failed check, not a crash."""
    try:
        return run()
    except SQLAlchemyError as exc:
        return [
            failed(
                group,
                f"could not run the {group} checks: {first_line(exc)}",
                "run the doctor with the PRISM_API_DB_URL the service uses (its role owns the "
                "console tables)",
            )
        ]
