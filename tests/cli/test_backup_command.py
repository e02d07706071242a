"""prism db backup: a consistent copy while the database keeps taking writes."""

import os
import shutil
import sqlite3
import stat
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text
from sqlmodel import Session

from app.core.timeutil import utcnow
from app.miners.fold import fold_step
from app.miners.ingest import record_samples
from app.models import MinerSample
from app.ops import migrations
from tests.cli.runner import (
    assert_one_line_error,
    engine_for,
    fresh_database,
    invoke,
    isolate_environment,
    migrate,
)
from tests.hardening.ingest_support import row_counts
from tests.support.db import migrated_engine, temporary_pg_database
from tests.support.waits import WAIT


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
        assert warmed_up.wait(timeout=WAIT)
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


def _require_client_tool(name: str) -> str:
    """The path of a PostgreSQL client program; fails when CI=true, else skips loudly."""
    found = shutil.which(name)
    if found is None:
        reason = f"{name} is not installed (apt-get install postgresql-client)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@pytest.mark.postgres
def test_postgresql_backup_is_a_pg_dump_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _require_client_tool("pg_dump")
    pg_restore = _require_client_tool("pg_restore")
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
    listing = subprocess.run(
        [pg_restore, "--list", str(dump)], capture_output=True, text=True, check=True
    ).stdout
    assert "TABLE DATA public minersample" in listing
    assert "TABLE DATA public agent " in listing


BATCH = 50
WRITERS = 3
# Batches stored before the backup starts: it then runs in the middle of ongoing ingest.
STORED_BEFORE_BACKUP = 30


@dataclass
class IngestLog:
    """Batch tags whose transaction committed, in commit order, and any writer failure."""

    committed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    warmed_up: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def so_far(self) -> list[str]:
        with self.lock:
            return list(self.committed)


def _store_batches(engine: Engine, writer: int, log: IngestLog) -> None:
    """Store batches through the ingest service until stopped; every sample's pool names its
    batch (`w<writer>-b<n>-s<index>`)."""
    number = 0
    try:
        while not log.stop.is_set():
            tag = f"w{writer}-b{number}"
            rows = [
                {"miner_id": f"rig-{writer}", "recorded_at": utcnow(), "pool": f"{tag}-s{index}"}
                for index in range(BATCH)
            ]
            with Session(engine) as session:
                record_samples(session=session, rows=rows)
            fold_step(engine, limit=BATCH * 3)  # folds commit during the backup too
            with log.lock:
                log.committed.append(tag)
                if len(log.committed) >= STORED_BEFORE_BACKUP:
                    log.warmed_up.set()
            number += 1
    except Exception as exc:  # reported by the test, not lost in the thread
        with log.lock:
            log.failures.append(f"writer {writer}: {exc!r}")
        log.warmed_up.set()


@contextmanager
def _continuous_ingest(engine: Engine) -> Iterator[IngestLog]:
    log = IngestLog()
    threads = [
        threading.Thread(target=_store_batches, args=(engine, writer, log))
        for writer in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    try:
        assert log.warmed_up.wait(timeout=WAIT), "ingest did not get going"
        yield log
    finally:
        log.stop.set()
        for thread in threads:
            thread.join(timeout=WAIT)


def _samples_per_batch(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        pools = conn.execute(text("SELECT pool FROM minersample")).scalars().all()
    return Counter(pool.rsplit("-s", 1)[0] for pool in pools)


def _rollup_disagreements(engine: Engine) -> list[tuple[str, int, int]]:
    """Miners whose one-minute rollup does not count exactly their samples up to the fold's
    watermark (the rollup, the watermark and the samples from one snapshot)."""
    query = text(
        "SELECT s.miner_id, s.samples, COALESCE(r.counted, 0) FROM "
        "(SELECT miner_id, count(*) AS samples FROM minersample "
        "WHERE id <= (SELECT folded_through FROM rollupwatermark) GROUP BY miner_id) s "
        "LEFT JOIN (SELECT miner_id, sum(shares_accepted_count) AS counted "
        "FROM minersamplerollup WHERE width = 60 GROUP BY miner_id) r "
        "ON r.miner_id = s.miner_id WHERE s.samples <> COALESCE(r.counted, 0)"
    )
    with engine.connect() as conn:
        return [(row[0], int(row[1]), int(row[2])) for row in conn.execute(query)]


@pytest.mark.postgres
def test_a_postgresql_backup_taken_during_ingest_restores_to_a_consistent_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _require_client_tool("pg_dump")
    pg_restore = _require_client_tool("pg_restore")
    isolate_environment(monkeypatch, tmp_path)
    dump = tmp_path / "console.dump"
    with (
        fresh_database("postgresql", tmp_path) as source_url,
        migrated_engine(source_url) as source,
    ):
        monkeypatch.setenv("PRISM_API_DB_URL", source_url)
        with _continuous_ingest(source) as log:
            stored_before = log.so_far()
            result = invoke("db", "backup", "--out", str(dump))
        assert log.failures == []
        source_after = row_counts(source)

        assert result.exit_code == 0, result.output
        with temporary_pg_database("prism_restored") as restored_url:
            restore = subprocess.run(
                [pg_restore, "--no-owner", "--exit-on-error", f"--dbname={restored_url}", dump],
                capture_output=True,
                text=True,
                check=False,
            )
            assert restore.returncode == 0, restore.stderr
            monkeypatch.setenv("PRISM_API_DB_URL", restored_url)
            status = invoke("db", "status")
            with engine_for(restored_url) as restored:
                restored_counts = row_counts(restored)
                per_batch = _samples_per_batch(restored)
                rollup_disagreements = _rollup_disagreements(restored)

    assert status.exit_code == 0, status.output
    assert f"current:  {migrations.head_revision()}" in status.stdout
    assert "pending:  none (up to date)" in status.stdout
    # Every batch is there whole or not at all, and each one stored before the backup began.
    assert set(per_batch.values()) == {BATCH}
    assert [tag for tag in stored_before if per_batch[tag] != BATCH] == []
    assert set(per_batch) <= set(log.committed)
    # One snapshot for all tables: the rollups count exactly the samples restored with them.
    assert rollup_disagreements == []
    grown = {
        table: count for table, count in restored_counts.items() if count > source_after[table]
    }
    assert grown == {}


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

    monkeypatch.setattr("app.ops.backup.shutil.which", lambda _name: "/usr/bin/pg_dump")
    monkeypatch.setattr("app.ops.backup.subprocess.run", fake_run)
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
    _require_client_tool("pg_dump")
    isolate_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("PRISM_API_DB_URL", "postgresql://prism:pw@127.0.0.1:1/console")
    line = assert_one_line_error(invoke("db", "backup", "--out", "x.dump"))
    assert line.startswith("error: pg_dump failed: ")
    assert "pw@" not in line
    assert not list(tmp_path.glob("x.dump*"))
