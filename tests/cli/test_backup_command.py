"""prism db backup: a consistent copy while the database keeps taking writes."""

import os
import shutil
import sqlite3
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlmodel import Session

from app.models import MinerSample
from app.timeutil import utcnow
from tests.cli.runner import (
    assert_one_line_error,
    engine_for,
    fresh_database,
    invoke,
    isolate_environment,
    migrate,
)


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as copy:
        return int(copy.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_sqlite_backup_is_consistent_while_rows_keep_arriving(
    sqlite_url: str, tmp_path: Path
) -> None:
    inserted = 0
    warmed_up = threading.Event()
    stop = threading.Event()

    def keep_inserting() -> None:
        nonlocal inserted
        with engine_for(sqlite_url) as engine:
            while not stop.is_set():
                with Session(engine) as session:
                    rows = [{"miner_id": "rig", "recorded_at": utcnow()} for _ in range(50)]
                    session.exec(insert(MinerSample), params=rows)
                    session.commit()
                inserted += 50
                if inserted >= 500:
                    warmed_up.set()

    writer = threading.Thread(target=keep_inserting)
    writer.start()
    try:
        assert warmed_up.wait(timeout=30)
        before = inserted
        result = invoke("db", "backup", "--out", str(tmp_path / "copy.db"))
    finally:
        stop.set()
        writer.join()

    assert result.exit_code == 0, result.output
    copy = tmp_path / "copy.db"
    assert str(copy) in result.stdout
    with sqlite3.connect(copy) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # A self-contained file, not a WAL database that needs its -wal beside it.
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    copied = _count(copy, "minersample")
    assert before <= copied <= inserted
    assert copied % 50 == 0  # whole transactions only
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert not list(tmp_path.glob("*.partial"))


def test_the_default_destination_is_a_timestamped_file_in_backups(sqlite_url: str) -> None:
    result = invoke("db", "backup")
    assert result.exit_code == 0, result.output
    [made] = list(Path("backups").glob("prism-*.db"))
    assert made.name.endswith("Z.db")
    assert str(made) in result.stdout
    assert "bytes" in result.stdout or "KiB" in result.stdout
    assert _count(made, "alembic_version") == 1
    assert "copying" in result.stderr  # progress on stderr


def test_an_existing_destination_is_never_overwritten(sqlite_url: str, tmp_path: Path) -> None:
    target = tmp_path / "taken.db"
    target.write_text("precious")
    line = assert_one_line_error(invoke("db", "backup", "--out", str(target)))
    assert "already exists" in line
    assert target.read_text() == "precious"


def test_a_missing_database_file_cannot_be_backed_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("PRISM_API_DB_URL", f"sqlite:///{tmp_path / 'nothing.db'}")
    line = assert_one_line_error(invoke("db", "backup", "--out", str(tmp_path / "b.db")))
    assert "no database file" in line
    assert not (tmp_path / "nothing.db").exists()
    assert not (tmp_path / "b.db").exists()


def _require_pg_dump() -> str:
    found = shutil.which("pg_dump")
    if found is None:
        reason = "pg_dump is not installed (apt-get install postgresql-client)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@pytest.mark.postgres
def test_postgresql_backup_is_a_pg_dump_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _require_pg_dump()
    isolate_environment(monkeypatch, tmp_path)
    with fresh_database("postgresql", tmp_path) as url:
        monkeypatch.setenv("PRISM_API_DB_URL", url)
        migrate(url)
        assert invoke("db", "seed").exit_code == 0
        result = invoke("db", "backup")
    assert result.exit_code == 0, result.output
    [dump] = list(Path("backups").glob("prism-*.dump"))
    assert dump.read_bytes()[:5] == b"PGDMP"
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    pg_restore = shutil.which("pg_restore")
    if pg_restore is not None:
        listing = subprocess.run(
            [pg_restore, "--list", str(dump)], capture_output=True, text=True, check=True
        ).stdout
        assert "TABLE DATA public minersample" in listing
        assert "TABLE DATA public agent " in listing


def test_the_postgresql_password_goes_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("PRISM_API_DB_URL", "postgresql://prism:s3cret@db.internal:5433/console")
    seen: dict[str, object] = {}

    def fake_run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen["command"], seen["env"] = command, kwargs["env"]
        out = next(arg.removeprefix("--file=") for arg in command if arg.startswith("--file="))
        Path(out).write_bytes(b"PGDMP fake archive")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr("app.services.backup.shutil.which", lambda _name: "/usr/bin/pg_dump")
    monkeypatch.setattr("app.services.backup.subprocess.run", fake_run)
    result = invoke("db", "backup", "--out", "console.dump")
    assert result.exit_code == 0, result.output
    command = seen["command"]
    assert isinstance(command, list)
    assert "--format=custom" in command
    assert "s3cret" not in " ".join(command)
    assert "--dbname=postgresql://prism@db.internal:5433/console" in command
    environment = seen["env"]
    assert isinstance(environment, dict)
    assert environment["PGPASSWORD"] == "s3cret"
    assert Path("console.dump").read_bytes() == b"PGDMP fake archive"


def test_a_failing_pg_dump_is_one_line_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _require_pg_dump()
    isolate_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("PRISM_API_DB_URL", "postgresql://prism:pw@127.0.0.1:1/console")
    line = assert_one_line_error(invoke("db", "backup", "--out", "x.dump"))
    assert line.startswith("error: pg_dump failed: ")
    assert "pw@" not in line
    assert not list(tmp_path.glob("x.dump*"))
