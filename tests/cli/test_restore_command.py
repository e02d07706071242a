"""prism db restore PATH: the backup's rows come back at the migration head; a database in use
is refused unless --force; a bad backup changes nothing."""

import fcntl
import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from app.core.config import Settings
from app.core.db import parse_database_url
from app.core.timeutil import utcnow
from app.live.pg_fanout import libpq_url
from app.main import create_app
from app.models import Agent, AuditEvent, MinerSample, Setting
from app.ops import backup, migrations, restore
from app.ops.backup_schedule import Backups
from tests.cli.runner import assert_one_line_error, engine_for, invoke, migrate
from tests.conftest import ADMIN_TOKEN, AUTH
from tests.hardening.ingest_support import row_counts
from tests.support.db import temporary_pg_database
from tests.support.factories import make_agent, make_sample
from tests.support.waits import WAIT, wait_until

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def take_backup(url: str, directory: Path) -> Path:
    """A scheduled round's verified backup of the database at `url`."""
    rounds = Backups(
        parse_database_url(url), directory=directory, interval_seconds=3600, keep_days=7
    )
    result = rounds.run_round(now=T0)
    assert result.outcome == "taken", result.error
    assert result.backup is not None
    return result.backup.path


def add_rows(engine: Engine, prefix: str, *, agents: int = 3, samples: int = 20) -> None:
    with Session(engine) as session:
        session.add_all(make_agent(f"{prefix}-agent-{n}") for n in range(agents))
        session.add_all(make_sample(f"{prefix}-rig") for _ in range(samples))
        session.commit()


def agent_ids(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.exec(select(Agent.id)).all())


def app_settings(url: str) -> Settings:
    return Settings(
        api_db_url=url,
        admin_token=ADMIN_TOKEN,
        secret_key="restore-test-session-secret-0123456789",
        auto_migrate=True,
        retention_interval_minutes=0,
        alert_interval_seconds=0,
        log_level="WARNING",
        _env_file=None,  # type: ignore[call-arg]
    )


@contextmanager
def running_app(url: str) -> Iterator[TestClient]:
    """A Prism server (lifespan included) on the database at `url`."""
    with TestClient(create_app(app_settings(url))) as client:
        client.headers.update(AUTH)
        yield client


def test_a_restore_brings_back_the_backups_rows_and_the_service_starts_at_head(
    migrated_url: str, tmp_path: Path
) -> None:
    # Every engine is closed before the restore, as the server is: on SQLite an open
    # connection would go on reading the replaced file.
    with engine_for(migrated_url) as engine:
        add_rows(engine, "before")
        at_backup = row_counts(engine)
        agents_at_backup = agent_ids(engine)
        made = take_backup(migrated_url, tmp_path / "backups")
        add_rows(engine, "after")
        assert row_counts(engine) != at_backup

    result = invoke("db", "restore", str(made))

    assert result.exit_code == 0, result.output
    head = migrations.head_revision()
    assert result.stdout.splitlines() == [
        f"Restored {parse_database_url(migrated_url).display} from {made} "
        f"(backup at {head}); now at {head}."
    ]
    with engine_for(migrated_url) as engine:
        # The backup's rows, and one audit row written after it: the restore itself.
        assert row_counts(engine) == {**at_backup, "auditevent": at_backup["auditevent"] + 1}
        assert agent_ids(engine) == agents_at_backup
        with Session(engine) as session:
            newest = session.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert newest is not None
        assert newest.action == "db.restore"
        assert newest.actor.startswith("cli:")

    with running_app(migrated_url) as client:
        assert client.get("/readyz").status_code == 200
        listed = client.get("/api/agents", params={"limit": 100}).json()
        assert sorted(agent["id"] for agent in listed["items"]) == agents_at_backup
        health = client.get("/api/health").json()
        assert health["checks"]["migrations:head"][0]["observedValue"] == head
    with engine_for(migrated_url) as engine:
        assert migrations.status(engine).at_head


def test_an_older_backup_is_restored_then_migrated_to_head(
    database_url: str, tmp_path: Path
) -> None:
    head = migrations.head_revision()
    previous = migrations.script_directory().get_revision(head).down_revision
    assert isinstance(previous, str)
    migrate(database_url, previous)
    with engine_for(database_url) as engine:
        with Session(engine) as session:
            session.add(Setting(key="kept", value="from the backup", updated_at=utcnow()))
            session.commit()
        made = take_backup(database_url, tmp_path / "backups")
        assert backup.read_manifest(made) is not None
        migrations.upgrade(engine)
        with Session(engine) as session:
            session.add(Setting(key="lost", value="written after it", updated_at=utcnow()))
            session.commit()

    result = invoke("db", "restore", str(made))

    assert result.exit_code == 0, result.output
    assert f"(backup at {previous}); now at {head}." in result.stdout
    with engine_for(database_url) as engine:
        assert migrations.status(engine).at_head
        assert migrations.differences(engine) == []
        with Session(engine) as session:
            assert session.exec(select(Setting.key)).all() == ["kept"]


def test_a_database_in_use_by_a_server_is_refused_unless_forced(
    migrated_url: str, tmp_path: Path
) -> None:
    with engine_for(migrated_url) as engine:
        made = take_backup(migrated_url, tmp_path / "backups")
        add_rows(engine, "after")
        before = row_counts(engine)

        with running_app(migrated_url) as client:
            refused = invoke("db", "restore", str(made))
            line = assert_one_line_error(refused)
            assert " is in use by " in line
            assert "stop the server first (or pass --force and restart it right after)" in line
            assert row_counts(engine) == before
            assert client.get("/readyz").status_code == 200

            forced = invoke("db", "restore", "--force", str(made))
            assert forced.exit_code == 0, forced.output
            assert "Restart the server now" in forced.stdout

        with engine_for(migrated_url) as fresh:
            assert agent_ids(fresh) == []  # the backup had no agents
        # With the server gone, no --force is needed.
        again = invoke("db", "restore", str(made))
        assert again.exit_code == 0, again.output


@pytest.mark.postgres
def test_other_programs_sessions_do_not_count_as_a_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with temporary_pg_database("prism_restore") as url:
        monkeypatch.setenv("PRISM_API_DB_URL", url)
        migrate(url)
        made = take_backup(url, tmp_path)
        target = parse_database_url(url)
        with psycopg.connect(libpq_url(target), application_name="psql"):
            assert restore.prism_sessions(target) == []
            result = invoke("db", "restore", str(made))
        assert result.exit_code == 0, result.output


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Records of the prism loggers (which do not propagate to pytest's handler)."""
    prism = logging.getLogger("prism")
    prism.addHandler(caplog.handler)
    yield caplog
    prism.removeHandler(caplog.handler)


def test_a_server_starting_during_a_restore_waits_for_it(
    sqlite_url: str, logs: pytest.LogCaptureFixture
) -> None:
    target = parse_database_url(sqlite_url)
    lock_path = restore.serving_lock_path(target)
    assert lock_path is not None
    held: list[restore.ServingLock | None] = []
    server = threading.Thread(target=lambda: held.append(restore.hold_serving_lock(target)))
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # what a restore holds
        server.start()
        wait_until(lambda: "is running; waiting for it" in logs.text, "the server waiting")
        assert held == []
    finally:
        os.close(descriptor)  # the restore ends
    server.join(timeout=WAIT)
    [lock] = held
    assert lock is not None
    lock.release()


def test_a_corrupt_backup_changes_nothing(sqlite_url: str, tmp_path: Path) -> None:
    made = take_backup(sqlite_url, tmp_path / "backups")
    with engine_for(sqlite_url) as engine:
        add_rows(engine, "live")
        before = row_counts(engine)
        broken = tmp_path / "broken.db"
        data = made.read_bytes()
        broken.write_bytes(data[: len(data) // 2])

        line = assert_one_line_error(invoke("db", "restore", str(broken)))

        assert str(broken) in line
        assert "integrity" in line or "not a usable SQLite database" in line
        assert row_counts(engine) == before
    assert not list(Path(sqlite_url.removeprefix("sqlite:///")).parent.glob("*.restoring"))


def test_a_backup_changed_since_its_manifest_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    made = take_backup(sqlite_url, tmp_path / "backups")
    with made.open("ab") as file:
        file.write(b"\0" * 4096)
    line = assert_one_line_error(invoke("db", "restore", str(made)))
    assert "differs from its manifest" in line


def test_a_backup_from_an_unknown_newer_version_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    made = take_backup(sqlite_url, tmp_path / "backups")
    future = tmp_path / "future.db"
    shutil.copyfile(made, future)
    with sqlite3.connect(future) as copy:
        copy.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    with engine_for(sqlite_url) as engine:
        add_rows(engine, "live")
        before = row_counts(engine)
        line = assert_one_line_error(invoke("db", "restore", str(future)))
        assert "9999_from_the_future, which this version of Prism does not know" in line
        assert row_counts(engine) == before


def test_a_backup_of_the_other_engine_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "console.dump"
    archive.write_bytes(b"PGDMP" + b"\0" * 100)
    line = assert_one_line_error(invoke("db", "restore", str(archive)))
    assert "is a PostgreSQL backup; the console database" in line
    assert line.endswith("is SQLite")


def test_a_missing_backup_file_is_one_line(sqlite_url: str, tmp_path: Path) -> None:
    line = assert_one_line_error(invoke("db", "restore", str(tmp_path / "nothing.db")))
    assert line == f"error: no backup file at {tmp_path / 'nothing.db'}"


@pytest.mark.postgres
def test_a_postgresql_restore_that_fails_midway_leaves_the_database_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with temporary_pg_database("prism_restore") as url:
        migrate(url)
        monkeypatch.setenv("PRISM_API_DB_URL", url)
        with engine_for(url) as engine:
            add_rows(engine, "kept", samples=2000)
            made = take_backup(url, tmp_path / "backups")
            add_rows(engine, "live")
            before = row_counts(engine)
            # The table of contents (read first) is whole; the data stops halfway.
            truncated = tmp_path / "truncated.dump"
            data = made.read_bytes()
            truncated.write_bytes(data[: len(data) * 3 // 4])

            line = assert_one_line_error(invoke("db", "restore", str(truncated)))

            assert line.startswith("error: pg_restore failed: ")
            assert row_counts(engine) == before
            with Session(engine) as session:
                assert session.exec(select(func.count()).select_from(MinerSample)).one() == 2020


@pytest.mark.postgres
def test_a_sqlite_backup_cannot_be_restored_into_postgresql(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = take_backup(sqlite_url, tmp_path / "backups")
    with temporary_pg_database("prism_restore") as url:
        monkeypatch.setenv("PRISM_API_DB_URL", url)
        line = assert_one_line_error(invoke("db", "restore", str(made)))
    assert "is a SQLite backup; the console database" in line
    assert line.endswith("is PostgreSQL")
