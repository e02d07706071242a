"""Scheduled backups: verified copies during ingest, one replica, pruning, failures retried."""

import fcntl
import logging
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from app.core.db import DatabaseTarget, parse_database_url
from app.core.timeutil import utcnow
from app.live.pg_fanout import libpq_url
from app.miners.fold import fold_step
from app.miners.ingest import record_samples
from app.ops import backup, migrations
from app.ops.backup_schedule import (
    BACKUP_LOCK_KEY,
    DIRECTORY_LOCK_NAME,
    Backups,
    prune_backups,
)
from app.ops.restore import restore_database
from app.ops.scheduler import RETENTION_LOCK_KEY
from tests.support.db import engine_for, migrated_engine, temporary_pg_database, wipe
from tests.support.waits import WAIT

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
HOUR = 3600.0
ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
# For behaviour of one engine only: the module's database of that engine.
SQLITE_ONLY = pytest.mark.parametrize("console", ["sqlite"], indirect=True)
POSTGRES_ONLY = pytest.mark.parametrize(
    "console", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture(scope="module", params=ENGINES)
def console(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated console database of this module's own, on each engine."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('backup-schedule') / 'console.db'}"
        with migrated_engine(url) as engine:
            yield engine
    else:
        with temporary_pg_database("prism_bsched") as url, migrated_engine(url) as engine:
            yield engine


@pytest.fixture
def engine(console: Engine) -> Engine:
    wipe(console)
    return console


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """INFO and up from the prism loggers (which do not propagate to pytest's handler)."""
    prism = logging.getLogger("prism")
    previous = prism.level
    prism.addHandler(caplog.handler)
    prism.setLevel(logging.INFO)
    yield caplog
    prism.setLevel(previous)
    prism.removeHandler(caplog.handler)


def target_of(engine: Engine) -> DatabaseTarget:
    return parse_database_url(engine.url.render_as_string(hide_password=False))


def backups_of(engine: Engine, directory: Path, **options: float) -> Backups:
    settings = {"interval_seconds": HOUR, "keep_days": 7.0, **options}
    return Backups(target_of(engine), directory=directory, **settings)


def test_a_round_takes_a_verified_backup_with_its_manifest(engine: Engine, tmp_path: Path) -> None:
    result = backups_of(engine, tmp_path).run_round(now=T0)

    assert result.outcome == "taken", result.error
    suffix = ".db" if engine.dialect.name == "sqlite" else ".dump"
    made = tmp_path / f"prism-20260301T120000Z{suffix}"
    assert result.backup is not None and result.backup.path == made
    manifest = backup.read_manifest(made)
    assert manifest is not None
    assert manifest["verified"] is True
    assert manifest["sizeBytes"] == made.stat().st_size
    assert manifest["sha256"] == backup.sha256_of(made)
    assert manifest["revision"] == migrations.head_revision()
    assert manifest["takenAt"] == "2026-03-01T12:00:00Z"
    expected = "integrity_check ok" if suffix == ".db" else "pg_restore --list ok"
    assert manifest["verification"].startswith(expected)
    [listed] = backup.list_backups(tmp_path)
    assert listed.verified and listed.taken_at == T0 and listed.path == made
    assert listed.revision == migrations.head_revision()


BATCH = 50
WRITERS = 3
STORED_BEFORE_BACKUP = 20


@dataclass
class IngestLog:
    committed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    warmed_up: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)


def _ingest(engine: Engine, writer: int, log: IngestLog) -> None:
    """Batches through the ingest service until stopped; each sample's pool names its batch."""
    number = 0
    try:
        while not log.stop.is_set():
            tag = f"w{writer}-b{number}"
            rows = [
                {"miner_id": f"rig-{writer}", "recorded_at": utcnow(), "pool": f"{tag}-s{i}"}
                for i in range(BATCH)
            ]
            with Session(engine) as session:
                record_samples(session=session, rows=rows)
            fold_step(engine, limit=BATCH * 3)  # folds commit during the backup too
            with log.lock:
                log.committed.append(tag)
                if len(log.committed) >= STORED_BEFORE_BACKUP:
                    log.warmed_up.set()
            number += 1
    except Exception as exc:
        with log.lock:
            log.failures.append(f"writer {writer}: {exc!r}")
        log.warmed_up.set()


def _batches(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        pools = conn.execute(text("SELECT pool FROM minersample")).scalars().all()
    return Counter(pool.rsplit("-s", 1)[0] for pool in pools)


def _rollup_disagreements(engine: Engine) -> list[tuple[str, int, int]]:
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


def test_a_backup_taken_while_ingest_runs_is_consistent(engine: Engine, tmp_path: Path) -> None:
    log = IngestLog()
    threads = [threading.Thread(target=_ingest, args=(engine, n, log)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        assert log.warmed_up.wait(timeout=WAIT), "ingest did not get going"
        with log.lock:
            stored_before = list(log.committed)
        result = backups_of(engine, tmp_path / "backups").run_round(now=T0)
    finally:
        log.stop.set()
        for thread in threads:
            thread.join(timeout=WAIT)
    assert log.failures == []
    assert result.outcome == "taken", result.error
    assert result.backup is not None

    if engine.dialect.name == "sqlite":
        copy_url = f"sqlite:///{result.backup.path}"
        with sqlite3.connect(result.backup.path) as copy:
            assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        check_copy(copy_url, stored_before, log)
    else:
        with temporary_pg_database("prism_bcopy") as copy_url:
            restore_database(parse_database_url(copy_url), result.backup.path)
            check_copy(copy_url, stored_before, log)


def check_copy(url: str, stored_before: list[str], log: IngestLog) -> None:
    with engine_for(url) as copy:
        per_batch = _batches(copy)
        disagreements = _rollup_disagreements(copy)
    # Every batch whole or absent, each one stored before the backup began present, and the
    # rollups (another table) from the same instant as the samples.
    assert set(per_batch.values()) == {BATCH}
    assert [tag for tag in stored_before if per_batch[tag] != BATCH] == []
    assert set(per_batch) <= set(log.committed)
    assert disagreements == []


def test_a_round_leaves_a_fresh_backup_be(engine: Engine, tmp_path: Path) -> None:
    backups = backups_of(engine, tmp_path)
    assert backups.run_round(now=T0).outcome == "taken"
    # Another replica's timer, or a restart, half an interval later: nothing to do.
    again = backups.run_round(now=T0 + timedelta(minutes=30))
    assert again.outcome == "not due"
    assert len(backup.list_backups(tmp_path)) == 1
    assert backups.run_round(now=T0 + timedelta(hours=1)).outcome == "taken"
    assert [info.taken_at for info in backup.list_backups(tmp_path)] == [
        T0 + timedelta(hours=1),
        T0,
    ]


def test_an_unverified_backup_does_not_count_as_fresh(engine: Engine, tmp_path: Path) -> None:
    target = target_of(engine)
    # A copy with no manifest (say, `prism db backup --out` into the directory).
    backup.backup_database(target, tmp_path / backup.backup_file_name(target, T0))
    result = backups_of(engine, tmp_path).run_round(now=T0 + timedelta(minutes=5))
    assert result.outcome == "taken"
    assert [info.verified for info in backup.list_backups(tmp_path)] == [True, False]


@POSTGRES_ONLY
def test_one_replica_at_a_time_takes_the_backup(engine: Engine, tmp_path: Path) -> None:
    job = backups_of(engine, tmp_path).job(first_delay=0)
    with psycopg.connect(libpq_url(target_of(engine)), autocommit=True) as other_replica:
        other_replica.execute("SELECT pg_advisory_lock(%s)", (BACKUP_LOCK_KEY,))
        assert job.run_once() is False
        assert backup.list_backups(tmp_path) == []
        # The retention job's lock is another key: it does not hold backups up.
        other_replica.execute("SELECT pg_advisory_unlock(%s)", (BACKUP_LOCK_KEY,))
        other_replica.execute("SELECT pg_advisory_lock(%s)", (RETENTION_LOCK_KEY,))
        assert job.run_once() is True
    assert len(backup.list_backups(tmp_path)) == 1


@SQLITE_ONLY
def test_on_sqlite_a_second_process_finds_the_directory_busy(
    engine: Engine, tmp_path: Path
) -> None:
    descriptor = os.open(tmp_path / DIRECTORY_LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # another worker, mid-round
        assert backups_of(engine, tmp_path).run_round(now=T0).outcome == "busy"
    finally:
        os.close(descriptor)
    assert backup.list_backups(tmp_path) == []
    assert backups_of(engine, tmp_path).run_round(now=T0).outcome == "taken"


def test_backups_older_than_keep_days_are_pruned_by_their_names(
    engine: Engine, tmp_path: Path
) -> None:
    backups = backups_of(engine, tmp_path, keep_days=7)
    for days in (0, 3, 6):
        assert backups.run_round(now=T0 + timedelta(days=days)).outcome == "taken"
    middle = tmp_path / backup.backup_file_name(target_of(engine), T0 + timedelta(days=6))
    # File times say nothing: a copied backup has a new mtime, a restored one an old one.
    os.utime(middle, (0, 0))

    result = backups.run_round(now=T0 + timedelta(days=9))

    assert result.outcome == "taken"
    assert sorted(path.name for path in result.pruned) == sorted(
        [
            backup.backup_file_name(target_of(engine), T0),
            backup.backup_file_name(target_of(engine), T0) + ".json",
        ]
    )
    kept = [info.taken_at for info in backup.list_backups(tmp_path)]
    assert kept == [T0 + timedelta(days=d) for d in (9, 6, 3)]


def _fake_backup(directory: Path, at: datetime, *, verified: bool, suffix: str = ".db") -> Path:
    """A file named and recorded like a backup (pruning and listing never open it)."""
    path = directory / f"prism-{at.strftime('%Y%m%dT%H%M%SZ')}{suffix}"
    path.write_bytes(b"not really a database")
    if verified:
        result = backup.BackupResult(path, path.stat().st_size, "checked")
        engine: backup.Engine = "sqlite" if suffix == ".db" else "postgresql"
        backup.write_manifest(result, engine=engine, taken_at=at, revision="r1")
    return path


def test_pruning_touches_only_old_backups_and_abandoned_partials(tmp_path: Path) -> None:
    now = T0 + timedelta(days=30)
    old = _fake_backup(tmp_path, T0, verified=True)
    old_unverified = _fake_backup(tmp_path, T0 + timedelta(hours=1), verified=False)
    recent = _fake_backup(tmp_path, now - timedelta(days=1), verified=True)
    operator_file = tmp_path / "before-upgrade.db"
    operator_file.write_text("mine")
    os.utime(operator_file, (0, 0))
    abandoned = tmp_path / "prism-20260301T130000Z.db.partial"
    abandoned.write_bytes(b"half")
    os.utime(abandoned, (now.timestamp() - 2 * HOUR,) * 2)
    in_progress = tmp_path / "prism-20260331T115900Z.dump.partial"
    in_progress.write_bytes(b"growing")
    os.utime(in_progress, (now.timestamp() - 60,) * 2)

    deleted = prune_backups(tmp_path, now=now, keep_days=7, stale_partial_seconds=HOUR)

    assert sorted(deleted) == sorted([old, backup.manifest_path(old), old_unverified, abandoned])
    assert recent.exists() and backup.manifest_path(recent).exists()
    assert operator_file.read_text() == "mine"
    assert in_progress.exists()


def test_the_newest_verified_backup_is_kept_however_old(tmp_path: Path) -> None:
    newest = _fake_backup(tmp_path, T0, verified=True)
    older = _fake_backup(tmp_path, T0 - timedelta(days=1), verified=True)
    newer_but_unverified = _fake_backup(tmp_path, T0 + timedelta(days=1), verified=False)
    now = T0 + timedelta(days=100)

    deleted = prune_backups(tmp_path, now=now, keep_days=7, stale_partial_seconds=HOUR)

    assert sorted(deleted) == sorted([older, backup.manifest_path(older), newer_but_unverified])
    assert newest.exists() and backup.manifest_path(newest).exists()


def test_a_copy_changed_after_its_check_is_not_verified(tmp_path: Path) -> None:
    path = _fake_backup(tmp_path, T0, verified=True)
    with path.open("ab") as file:
        file.write(b"more")
    [info] = backup.list_backups(tmp_path)
    assert info.verified is False


def test_a_directory_that_cannot_be_written_fails_the_round_and_the_next_one_retries(
    engine: Engine, tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "disk"
    blocker.write_text("a regular file: nothing can be created below it, not even by root")
    backups = backups_of(engine, blocker / "backups")

    failed = backups.run_round(now=T0)

    assert failed.outcome == "failed"
    assert failed.error is not None and "Not a directory" in failed.error
    assert backups.last_attempt == failed
    assert "backup to " in logs.text and "failed (Not a directory" in logs.text
    assert "Traceback" not in logs.text

    blocker.unlink()
    retried = backups.run_round(now=T0 + timedelta(hours=1))
    assert retried.outcome == "taken", retried.error
    assert backups.last_attempt == retried


@POSTGRES_ONLY
def test_pg_dump_missing_fails_the_round_and_prunes_nothing(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_backup(tmp_path, T0 - timedelta(days=30), verified=True, suffix=".dump")
    before = sorted(path.name for path in tmp_path.iterdir())
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    backups = backups_of(engine, tmp_path)

    failed = backups.run_round(now=T0)

    assert failed.outcome == "failed"
    assert failed.error == "pg_dump not found on PATH: install the PostgreSQL client tools"
    assert sorted(path.name for path in tmp_path.iterdir() if path != empty) == before
    monkeypatch.undo()
    assert backups.run_round(now=T0 + timedelta(minutes=1)).outcome == "taken"


def test_a_failing_round_never_reaches_the_schedule(engine: Engine, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    job = backups_of(engine, blocker / "backups").job(first_delay=0)
    assert job.run_once() is True  # ran, failed, said so, raised nothing


def test_the_first_round_waits_until_the_newest_backup_falls_due(
    engine: Engine, tmp_path: Path
) -> None:
    now = T0 + timedelta(minutes=20)
    backups = Backups(
        target_of(engine),
        directory=tmp_path,
        interval_seconds=HOUR,
        keep_days=7,
        clock=lambda: now,
    )
    assert backups.first_delay() == 60  # none yet: soon, once start-up settled
    _fake_backup(tmp_path, T0, verified=True)
    assert backups.first_delay() == 40 * 60
    now = T0 + timedelta(hours=5)
    assert backups.first_delay() == 60  # overdue
