"""Health checks for the probes: console database, migrations, main database, uptime.

Each database check runs in a worker thread and is waited for at most PROBE_TIMEOUT seconds,
so every probe answers within a second even when a database hangs; a check that times out
is a failure, never a hang. The console database and its migrations are critical (they
decide readiness); the main database only degrades the cross-service views, so it can
warn but never fail the service. So do scheduled backups (PRISM_BACKUP_DIR): `backup:age`
warns when the newest verified backup is older than twice the interval, or when this
replica's last backup round failed.
"""

import asyncio
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Literal, Protocol, TypeVar

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from app.core.single_flight import SingleFlight
from app.core.timeutil import isoformat, utcnow
from app.ops.backup_schedule import BackupHealth, Backups, duration

# Below the 1 s orchestrators allow, with room to build and send the answer.
PROBE_TIMEOUT = 0.8

CheckStatus = Literal["pass", "warn", "fail"]
CONSOLE_DB = "consoleDb:responseTime"
MAIN_DB = "mainDb:responseTime"
MIGRATIONS = "migrations:head"
UPTIME = "uptime"
BACKUP_AGE = "backup:age"
NOT_CONFIGURED = "not configured"

_checks = SingleFlight()


class MainDbOutcome(Protocol):
    ok: bool
    error: str | None
    latency_ms: float | None


class MainDbCheckable(Protocol):
    """What the probes need of the main database (app.maindb.MainDatabase): one bounded check."""

    def check(self, *, timeout_ms: int | None = None) -> MainDbOutcome: ...


T = TypeVar("T")


@dataclass(frozen=True)
class CheckResult:
    """One entry of the `checks` object (IETF health check draft)."""

    name: str
    status: CheckStatus
    component_type: str
    time: datetime
    observed_value: float | str | None = None
    observed_unit: str | None = None
    output: str | None = None
    # A check of something optional that is not set up is shown, but changes no verdict.
    counts: bool = True

    @property
    def probe_name(self) -> str:
        """The short name the readiness probe lists (`consoleDb`, `migrations`...)."""
        return self.name.split(":", 1)[0]


@dataclass(frozen=True)
class HealthReport:
    """Every check, and the verdicts the probes derive from them."""

    checks: list[CheckResult] = field(default_factory=list)

    def check(self, name: str) -> CheckResult:
        return next(result for result in self.checks if result.name == name)

    @property
    def status(self) -> CheckStatus:
        """fail when a check fails, warn when one warns, else pass."""
        counted = {result.status for result in self.checks if result.counts}
        if "fail" in counted:
            return "fail"
        return "warn" if "warn" in counted else "pass"

    @property
    def ready(self) -> bool:
        return self.status != "fail"

    @property
    def console_db_connected(self) -> bool:
        return self.check(CONSOLE_DB).status == "pass"


@dataclass(frozen=True)
class _ConsoleProbe:
    response_ms: float
    revision: str | None


async def check_health(
    *,
    engine: Engine,
    head_revision: str,
    migration_error: str | None,
    main_db_configured: bool,
    main_db: MainDbCheckable | None,
    main_timeout: float,
    started_at: float,
    backups: Backups | None = None,
    timeout: float = PROBE_TIMEOUT,
) -> HealthReport:
    """Run every check concurrently; the whole report takes at most about `timeout` seconds."""
    console, main, backup = await asyncio.gather(
        _timed(("consoleDb", id(engine)), lambda: _probe_console(engine), timeout),
        _main_check(main_db_configured, main_db, min(timeout, main_timeout)),
        _backup_check(backups, timeout),
    )
    now = utcnow()
    if isinstance(console, _ConsoleProbe):
        console_check = CheckResult(
            CONSOLE_DB,
            "pass",
            "datastore",
            now,
            observed_value=round(console.response_ms, 3),
            observed_unit="ms",
        )
        revision: str | None = console.revision
    else:
        console_check = CheckResult(CONSOLE_DB, "fail", "datastore", now, output=console)
        revision = None
    return HealthReport(
        [
            console_check,
            _migrations_check(console_check, revision, head_revision, migration_error, now),
            main,
            CheckResult(
                UPTIME,
                "pass",
                "system",
                now,
                observed_value=round(max(0.0, time.time() - started_at), 3),
                observed_unit="s",
            ),
            *([backup] if backup is not None else []),
        ]
    )


def _migrations_check(
    console: CheckResult,
    revision: str | None,
    head: str,
    migration_error: str | None,
    now: datetime,
) -> CheckResult:
    def result(status: CheckStatus, output: str | None = None) -> CheckResult:
        return CheckResult(MIGRATIONS, status, "datastore", now, revision, output=output)

    if migration_error:
        return result("fail", f"migration failed at start-up: {migration_error}")
    if console.status != "pass":
        return result("fail", "unknown: the console database did not answer")
    if revision != head:
        return result("fail", f"database at {revision or 'no revision'}, head is {head}")
    return result("pass")


async def _main_check(
    configured: bool, main_db: MainDbCheckable | None, timeout: float
) -> CheckResult:
    if not configured:
        return CheckResult(
            MAIN_DB, "warn", "datastore", utcnow(), output=NOT_CONFIGURED, counts=False
        )
    if main_db is None:
        return CheckResult(
            MAIN_DB, "warn", "datastore", utcnow(), output="main database not opened yet"
        )
    check = partial(main_db.check, timeout_ms=max(1, int(timeout * 1000)))
    outcome = await _timed(("mainDb", id(main_db)), check, timeout)
    if isinstance(outcome, str):
        return CheckResult(MAIN_DB, "warn", "datastore", utcnow(), output=outcome)
    if not outcome.ok:
        return CheckResult(MAIN_DB, "warn", "datastore", utcnow(), output=outcome.error)
    return CheckResult(
        MAIN_DB,
        "pass",
        "datastore",
        utcnow(),
        observed_value=outcome.latency_ms,
        observed_unit="ms",
    )


async def _backup_check(backups: Backups | None, timeout: float) -> CheckResult | None:
    if backups is None:
        return None  # PRISM_BACKUP_DIR unset: no check at all
    found = await _timed(("backup", id(backups)), backups.health, timeout)
    now = utcnow()
    if isinstance(found, str):
        output = f"cannot read {backups.directory}: {found}"
        return CheckResult(BACKUP_AGE, "warn", "datastore", now, output=output)
    age, problem = backup_age_verdict(found, now)
    return CheckResult(
        BACKUP_AGE,
        "warn" if problem else "pass",
        "datastore",
        now,
        observed_value=None if age is None else round(age, 3),
        observed_unit=None if age is None else "s",
        output=problem,
    )


def backup_age_verdict(found: BackupHealth, now: datetime) -> tuple[float | None, str | None]:
    """The newest verified backup's age in seconds (None: none), and what is wrong if any."""
    if found.directory_error is not None:
        return None, f"cannot read {found.directory}: {found.directory_error}"
    newest, last = found.newest, found.last_attempt
    age = None if newest is None else max(0.0, (now - newest.taken_at).total_seconds())
    if last is not None and last.outcome == "failed":
        return age, f"the last backup round failed at {isoformat(last.at)}: {last.error}"
    if newest is None or age is None:
        return None, f"no verified backup in {found.directory} yet"
    if age > 2 * found.interval_seconds:
        return age, (
            f"the newest verified backup is {duration(age)} old (taken "
            f"{isoformat(newest.taken_at)}); one is expected every "
            f"{duration(found.interval_seconds)}"
        )
    return age, None


async def _timed(key: Hashable, call: Callable[[], T], timeout: float) -> T | str:
    """The call's result, or a one-line reason why it failed or took too long."""
    try:
        return await _checks.acall(key, call, timeout)
    except TimeoutError:
        return f"timed out after {timeout:g} s"
    except Exception as exc:
        return describe_error(exc)


def describe_error(exc: BaseException) -> str:
    """One line naming what went wrong, without the SQL or the driver's hints."""
    source: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    lines = str(source).strip().splitlines()
    first = lines[0].strip() if lines else ""
    message = f"{type(source).__name__}: {first}" if first else type(source).__name__
    return message[:300]


def _probe_console(engine: Engine) -> _ConsoleProbe:
    started = time.perf_counter()
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        elapsed = (time.perf_counter() - started) * 1000
        # Read the version table directly: Alembic's MigrationContext logs two INFO lines
        # per call, which would flood the log at one probe every few seconds.
        revision = None
        if inspect(connection).has_table("alembic_version"):
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
            revision = ",".join(sorted(rows)) or None
    return _ConsoleProbe(elapsed, revision)
