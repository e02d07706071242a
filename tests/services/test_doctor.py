"""`prism db doctor`'s checks of the console database: each one broken on purpose.

Every test starts from a healthy console (migrated, WAL, a fresh verified backup; on
PostgreSQL a database owned by a role that is not a superuser), breaks one thing the seeds'
troubleshooting sections talk about, and sees that check, and only it, warn or fail with its
advice. Main-database checks are in test_doctor_maindb.py.
"""

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.db import parse_database_url
from app.core.timeutil import utcnow
from app.maindb import MainDatabase
from app.ops import doctor, migrations
from app.ops.backup_schedule import Backups
from app.ops.doctor_checks import Check
from tests.migrations.legacy import build_legacy_database, legacy_metadata
from tests.support.db import migrate, pg_admin_url, require_postgres

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
SQLITE_CHECKS = [
    "journal_mode",
    "foreign_keys",
    "busy_timeout",
    "legacy_tables",
    "migrations",
    "schema_drift",
    "indexes",
    "rollup_fold",
    "disk",
    "backup_age",
    "main_db",
]
POSTGRES_CHECKS = [
    "legacy_tables",
    "migrations",
    "schema_drift",
    "indexes",
    "rollup_fold",
    "foreign_keys",
    "superuser",
    "pool",
    "disk",
    "backup_age",
    "main_db",
]
ONLY_SQLITE = ["sqlite"]
ONLY_POSTGRES = [pytest.param("postgresql", marks=pytest.mark.postgres)]
INDEX = "ix_agentevent_agent_id_at"


@dataclass(frozen=True)
class Console:
    """A console database to diagnose: the URL the service uses, and one that can do anything."""

    kind: str
    url: str
    admin_url: str
    backup_dir: Path
    now: datetime

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {"api_db_url": self.url, "backup_dir": self.backup_dir}
        return Settings(**{**values, **overrides}, _env_file=None)  # type: ignore[arg-type]

    def diagnose(
        self, *, main_db: MainDatabase | None = None, now: datetime | None = None, **settings: Any
    ) -> doctor.Report:
        return doctor.diagnose(
            self.settings(**settings), main_db=main_db, now=now or self.now + timedelta(minutes=5)
        )

    def admin(self, *statements: str, superuser: bool = False) -> None:
        """Run statements as the database's owner (SQLite: a plain connection, no pragmas),
        or as the server's superuser."""
        if self.kind == "sqlite":
            with sqlite3.connect(str(make_url(self.url).database)) as conn:
                for statement in statements:
                    conn.execute(statement)
            conn.close()
            return
        url = self.admin_url if superuser else self.url
        with psycopg.connect(_libpq(url), autocommit=True) as pg:
            for statement in statements:
                pg.execute(statement)  # type: ignore[arg-type]


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def console_database(kind: str, directory: Path) -> Iterator[tuple[str, str]]:
    """(console URL, admin URL) of an empty database; PostgreSQL: owned by a fresh role."""
    if kind == "sqlite":
        url = f"sqlite:///{directory / 'console.db'}"
        yield url, url
        return
    admin = require_postgres()
    suffix = uuid.uuid4().hex[:10]
    role, name = f"prism_doc_{suffix}", f"prism_doc_{suffix}"
    with ExitStack() as stack, psycopg.connect(_libpq(admin), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER PASSWORD 'doctor-pw'")  # type: ignore[arg-type]
        stack.callback(_drop, f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE DATABASE {name} OWNER {role}")  # type: ignore[arg-type]
        stack.callback(_drop, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        owner = make_url(admin).set(username=role, password="doctor-pw", database=name)
        yield (
            owner.render_as_string(hide_password=False),
            make_url(admin).set(database=name).render_as_string(hide_password=False),
        )


def _drop(statement: str) -> None:
    with psycopg.connect(_libpq(pg_admin_url()), autocommit=True) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def take_backup(url: str, directory: Path, at: datetime) -> None:
    """One scheduled backup round, as the service runs it."""
    backups = Backups(
        parse_database_url(url), directory=directory, interval_seconds=3600, keep_days=7
    )
    result = backups.run_round(now=at)
    assert result.outcome == "taken", result


@pytest.fixture(params=ENGINES)
def empty_console(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Console]:
    """A console database with nothing in it yet."""
    with console_database(request.param, tmp_path) as (url, admin_url):
        yield Console(request.param, url, admin_url, tmp_path / "backups", utcnow())


@pytest.fixture
def console(empty_console: Console) -> Console:
    """A healthy console: migrated to head, with a verified backup taken just now."""
    migrate(empty_console.url)
    take_backup(empty_console.url, empty_console.backup_dir, empty_console.now)
    return empty_console


@pytest.fixture(scope="module", params=ENGINES)
def healthy(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    """A healthy console shared by the tests that only change the settings, never the data."""
    directory = tmp_path_factory.mktemp("doctor")
    with console_database(request.param, directory) as (url, admin_url):
        made = Console(request.param, url, admin_url, directory / "backups", utcnow())
        migrate(url)
        take_backup(url, made.backup_dir, made.now)
        yield made


def by_name(report: doctor.Report) -> dict[str, Check]:
    return {check.name: check for check in report.checks}


def only(report: doctor.Report, name: str, status: str) -> Check:
    """The named check has `status` and advice; every other check passed."""
    checks = by_name(report)
    assert checks[name].status == status, checks[name]
    assert checks[name].advice, checks[name]
    others = {other: check for other, check in checks.items() if other != name}
    assert all(check.status == "pass" for check in others.values()), others
    assert report.ok == (status != "fail")
    return checks[name]


def test_a_healthy_console_passes_every_check(healthy: Console) -> None:
    report = healthy.diagnose()
    expected = SQLITE_CHECKS if healthy.kind == "sqlite" else POSTGRES_CHECKS
    assert [check.name for check in report.checks] == expected
    failing = [check for check in report.checks if check.status != "pass"]
    assert failing == []
    assert all(check.advice is None for check in report.checks)
    assert report.ok
    assert report.as_json()["ok"] is True


@pytest.mark.parametrize("empty_console", ONLY_SQLITE, indirect=True)
def test_wal_off_warns_on_the_journal_mode(console: Console) -> None:
    console.admin("PRAGMA journal_mode = DELETE")
    check = only(console.diagnose(), "journal_mode", "warn")
    assert check.detail.startswith("journal mode is delete, not WAL")
    assert "PRAGMA journal_mode=WAL" in (check.advice or "")
    # The doctor only looked: the file is still out of WAL.
    assert console.diagnose().checks[0].status == "warn"


def test_rows_written_with_foreign_keys_off_warn(console: Console) -> None:
    if console.kind == "sqlite":
        # A plain sqlite3 connection leaves foreign keys off, as the earlier service did.
        console.admin(
            "INSERT INTO agentevent (id, agent_id, kind, at, message) "
            "VALUES ('e-1', 'ghost', 'warn', '2026-01-05 10:00:00', 'orphan'), "
            "('e-2', 'ghost', 'warn', '2026-01-05 10:00:01', 'orphan')"
        )
        check = only(console.diagnose(), "foreign_keys", "warn")
        assert check.detail.startswith("2 rows reference a missing parent: 2 in agentevent")
        assert "PRAGMA foreign_key_check" in (check.advice or "")
        return
    # Disabling the foreign keys' own (system) triggers takes a superuser.
    console.admin("ALTER TABLE agentevent DISABLE TRIGGER ALL", superuser=True)
    check = only(console.diagnose(), "foreign_keys", "warn")
    assert check.detail.startswith("1 foreign key not enforced")
    assert "agentevent." in check.detail
    assert "ENABLE TRIGGER ALL" in (check.advice or "")


@pytest.mark.parametrize("empty_console", ONLY_POSTGRES, indirect=True)
def test_foreign_keys_ignored_by_the_role_fail(console: Console) -> None:
    role = make_url(console.url).username
    console.admin(f"ALTER ROLE {role} SET session_replication_role = replica", superuser=True)
    check = only(console.diagnose(), "foreign_keys", "fail")
    assert "session_replication_role is replica" in check.detail


@pytest.mark.parametrize("healthy", ONLY_SQLITE, indirect=True)
def test_a_short_busy_timeout_warns(healthy: Console) -> None:
    check = only(healthy.diagnose(db_timeout=0), "busy_timeout", "warn")
    assert check.detail.startswith("0 ms (PRISM_DB_TIMEOUT=0)")
    assert check.advice == "set PRISM_DB_TIMEOUT=30 (the default) or more"


def test_create_all_tables_without_a_version_table_fail_and_point_to_upgrade(
    empty_console: Console,
) -> None:
    if empty_console.kind == "sqlite":
        path = Path(str(make_url(empty_console.url).database))
        build_legacy_database(path, legacy_metadata())
        # The earlier service never switched WAL on; that is the journal check's finding.
        empty_console.admin("PRAGMA journal_mode = WAL")
    else:
        engine = create_engine(make_url(empty_console.url).set(drivername="postgresql+psycopg"))
        with engine.begin() as conn:
            legacy_metadata().create_all(conn)
        engine.dispose()
    take_backup(empty_console.url, empty_console.backup_dir, empty_console.now)
    report = empty_console.diagnose()
    check = only(report, "legacy_tables", "fail")
    assert "with no alembic_version table" in check.detail
    assert "agentevent" in check.detail
    assert (check.advice or "").startswith("run `prism db upgrade`: it adopts them in place")
    # Until adopted, the schema is not compared with the models.
    names = {found.name for found in report.checks}
    assert not names & {"migrations", "schema_drift", "indexes"}


def test_an_old_agent_event_table_warns_that_its_rows_are_not_read(console: Console) -> None:
    console.admin(
        "CREATE TABLE agent_event (id VARCHAR PRIMARY KEY, agent_id VARCHAR, kind VARCHAR, "
        "at TIMESTAMP, message VARCHAR)",
        "INSERT INTO agent_event VALUES ('e-1', 'agent-1', 'started', '2025-11-15 10:00:00', 'a'), "
        "('e-2', 'agent-1', 'heartbeat', '2025-11-15 10:01:00', 'b')",
    )
    check = only(console.diagnose(), "legacy_tables", "warn")
    assert check.detail == (
        "table agent_event (2 rows) is not read: the console's table is agentevent"
    )
    assert (check.advice or "").startswith(
        "move its rows: INSERT INTO agentevent (id, agent_id, kind, at, message) SELECT"
    )


def test_a_dropped_index_fails_with_the_statement_that_recreates_it(console: Console) -> None:
    console.admin(f"DROP INDEX {INDEX}")
    check = only(console.diagnose(), "indexes", "fail")
    assert check.detail.startswith("1 of ")
    assert f"{INDEX} on agentevent(agent_id, at)" in check.detail
    assert check.advice == f"recreate it: CREATE INDEX {INDEX} ON agentevent (agent_id, at)"


def test_a_pending_migration_fails_and_names_it(empty_console: Console) -> None:
    head = migrations.head_revision()
    previous = migrations.script_directory().get_revision(head).down_revision  # type: ignore[union-attr]
    assert isinstance(previous, str)
    migrate(empty_console.url, previous)
    take_backup(empty_console.url, empty_console.backup_dir, empty_console.now)
    report = empty_console.diagnose()
    check = only(report, "migrations", "fail")
    assert check.detail == f"at {previous}, 1 migration pending: {head}"
    assert (check.advice or "").startswith("run `prism db upgrade`")
    assert not {found.name for found in report.checks} & {"schema_drift", "indexes"}


def test_a_column_changed_by_hand_is_model_drift(console: Console) -> None:
    console.admin("ALTER TABLE runbook ADD COLUMN added_by_hand VARCHAR")
    check = only(console.diagnose(), "schema_drift", "fail")
    assert "column runbook.added_by_hand: not in the models" in check.detail


def test_an_empty_database_fails_the_migrations_check(empty_console: Console) -> None:
    if empty_console.kind == "sqlite":
        sqlite3.connect(str(make_url(empty_console.url).database)).close()
    report = empty_console.diagnose()
    assert by_name(report)["migrations"].detail == "the database is empty: no migration applied"
    assert not report.ok


def test_a_missing_sqlite_file_fails_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    settings = Settings(api_db_url=f"sqlite:///{path}", _env_file=None)  # type: ignore[call-arg]
    report = doctor.diagnose(settings, main_db=None, now=utcnow())
    first = report.checks[0]
    assert (first.name, first.status, first.detail) == (
        "console_db",
        "fail",
        f"no database at {path}",
    )
    assert not path.exists()


def test_an_unreachable_postgresql_fails_in_one_check() -> None:
    settings = Settings(api_db_url="postgresql://u:pw@127.0.0.1:1/console", _env_file=None)  # type: ignore[call-arg]
    report = doctor.diagnose(settings, main_db=None, now=utcnow())
    first = report.checks[0]
    assert (first.name, first.status) == ("console_db", "fail")
    assert first.detail.startswith(
        "cannot connect to postgresql+psycopg://u:***@127.0.0.1:1/console"
    )
    assert ":pw@" not in first.detail


@pytest.mark.parametrize("healthy", ONLY_POSTGRES, indirect=True)
def test_a_superuser_console_role_warns(healthy: Console) -> None:
    check = only(healthy.diagnose(api_db_url=healthy.admin_url), "superuser", "warn")
    assert check.detail.startswith("the console connects as postgres, a superuser")
    assert "CREATE DATABASE prism OWNER prism" in (check.advice or "")


def _available_connections(url: str) -> int:
    with psycopg.connect(_libpq(url)) as conn:
        limit = conn.execute("SHOW max_connections").fetchone()
        reserved = conn.execute("SHOW superuser_reserved_connections").fetchone()
    assert limit is not None and reserved is not None
    return int(limit[0]) - int(reserved[0])


@pytest.mark.parametrize("status", ["fail", "warn"])
@pytest.mark.parametrize("healthy", ONLY_POSTGRES, indirect=True)
def test_a_pool_the_server_cannot_hold_is_reported(healthy: Console, status: str) -> None:
    available = _available_connections(healthy.url)
    # A process holds pool_size + max_overflow (10) + 2: more than the server accepts fails,
    # more than half of it warns (two processes would exhaust it).
    pool_size = available if status == "fail" else available // 2 - 11
    report = healthy.diagnose(api_db_url=f"{healthy.url}?pool_size={pool_size}")
    check = only(report, "pool", status)
    assert f"pool_size {pool_size} + max_overflow 10 + 2" in check.detail
    assert f"the server accepts {available} " in check.detail
    assert "PgBouncer" in (check.advice or "")
    assert (
        by_name(healthy.diagnose(api_db_url=f"{healthy.url}?pool_size=5"))["pool"].status == "pass"
    )


def _disk(free: int) -> Callable[[Path], Any]:
    return lambda _path: SimpleNamespace(total=100 * 1024**3, used=0, free=free)


@pytest.mark.parametrize(("free", "status"), [(1000, "fail"), (512 * 1024**2, "warn")])
@pytest.mark.parametrize("healthy", ONLY_SQLITE, indirect=True)
def test_little_free_disk_is_reported(healthy: Console, free: int, status: str) -> None:
    settings = healthy.settings()
    report = doctor.diagnose(
        settings, main_db=None, now=healthy.now + timedelta(minutes=5), disk_usage=_disk(free)
    )
    check = only(report, "disk", status)
    assert "free on its disk" in check.detail


def test_without_a_backup_directory_the_backup_check_warns(healthy: Console) -> None:
    check = only(healthy.diagnose(backup_dir=None), "backup_age", "warn")
    assert check.detail == "PRISM_BACKUP_DIR is not set: no scheduled backups"
    assert (check.advice or "").startswith("set PRISM_BACKUP_DIR")


def test_a_backup_older_than_twice_the_interval_warns(healthy: Console) -> None:
    late = healthy.now + timedelta(hours=2, minutes=1)
    check = only(healthy.diagnose(now=late), "backup_age", "warn")
    assert "older than twice the 60 min interval" in check.detail
    assert "2.0 h old" in check.detail
    fresh = by_name(healthy.diagnose(now=healthy.now + timedelta(hours=1, minutes=59)))
    assert fresh["backup_age"].status == "pass"


def test_an_empty_backup_directory_warns(healthy: Console, tmp_path: Path) -> None:
    check = only(healthy.diagnose(backup_dir=tmp_path / "none-yet"), "backup_age", "warn")
    assert check.detail.startswith("no verified backup in ")


def test_the_json_report_lists_each_check_with_its_advice(console: Console) -> None:
    console.admin(f"DROP INDEX {INDEX}")
    document = console.diagnose().as_json()
    assert document["ok"] is False
    assert set(document) == {"checks", "ok"}
    assert all(set(check) == {"name", "status", "detail", "advice"} for check in document["checks"])
    failing = [check for check in document["checks"] if check["status"] == "fail"]
    assert [check["name"] for check in failing] == ["indexes"]


def test_report_counts_and_ok(healthy: Console) -> None:
    report = healthy.diagnose(backup_dir=None)
    assert report.counts() == {"pass": len(report.checks) - 1, "warn": 1, "fail": 0}
    broken = doctor.Report([*report.checks, replace(report.checks[0], status="fail")])
    assert not broken.ok
