"""Backups, restores and retention while a real server takes ingest over HTTP.

A real server runs in a child process on a SQLite file; client threads post batches of
samples whose pools name their batch, and note every batch answered 202 (in the order they
were told). `prism db backup` and the retention prune run meanwhile from the test process,
as an operator or the scheduler would run them beside the service.
"""

import contextlib
import shutil
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from app.core.timeutil import utcnow
from app.miners.ingest import record_samples
from app.ops import retention
from tests.cli.runner import engine_for, invoke, isolate_environment, migrate
from tests.hardening.ingest_support import AUTH, server_process, tagged_batch, wait_until_ready
from tests.support.waits import WAIT  # deadlines of bounded waits; never a timed assertion

CLIENTS = 2
BATCH = 50
# The service's own schedule must not prune what a test arranges.
NO_SCHEDULED_PRUNE = {"PRISM_RETENTION_INTERVAL_MINUTES": "0"}


class Ingest:
    """What the clients were told, in order, interleaved with the steps a test notes."""

    def __init__(self) -> None:
        self.timeline: list[tuple[str, object]] = []
        self.acknowledged: list[str] = []
        self.unexpected: list[str] = []
        self._changed = threading.Condition()

    def acknowledge(self, tag: str) -> None:
        with self._changed:
            self.acknowledged.append(tag)
            self.timeline.append(("acknowledged", tag))
            self._changed.notify_all()

    def refuse(self, what: str) -> None:
        with self._changed:
            self.unexpected.append(what)

    def note(self, step: str, detail: object) -> int:
        """Put a step on the timeline; returns how many batches were acknowledged before it."""
        with self._changed:
            self.timeline.append((step, detail))
            return len(self.acknowledged)

    def acknowledged_so_far(self) -> list[str]:
        with self._changed:
            return list(self.acknowledged)

    def wait_for_acknowledged(self, count: int, timeout: float = WAIT) -> bool:
        """Wait (bounded) until more than `count` batches in all were answered 202."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.acknowledged) > count, timeout)


def _post_batches(url: str, client: int, ingest: Ingest, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, headers=AUTH, timeout=WAIT) as http:
        number = 0
        while not stop.is_set():
            tag, samples = tagged_batch(client, number, BATCH)
            try:
                response = http.post("/api/miners/samples", json={"samples": samples})
            except httpx.TransportError as exc:
                ingest.refuse(f"{tag}: {exc!r}")
                return
            if response.status_code == 202:
                ingest.acknowledge(tag)
            else:
                ingest.refuse(f"{tag}: {response.status_code} {response.text}")
            number += 1


@contextmanager
def http_ingest(url: str) -> Iterator[Ingest]:
    """CLIENTS threads posting batches to the server until the block ends."""
    ingest = Ingest()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_post_batches, args=(url, client, ingest, stop))
        for client in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    try:
        yield ingest
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=WAIT)


def _console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A migrated prism.db that PRISM_API_DB_URL (of the `prism` commands) points at."""
    isolate_environment(monkeypatch, tmp_path)
    database = tmp_path / "prism.db"
    url = f"sqlite:///{database}"
    monkeypatch.setenv("PRISM_API_DB_URL", url)
    migrate(url)
    return database, url


def _samples_per_batch(path: Path) -> Counter[str]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        pools = [row[0] for row in connection.execute("SELECT pool FROM minersample")]
    return Counter(pool.rsplit("-s", 1)[0] for pool in pools)


# A backup's snapshot lands at one moment of the ingest; several are taken, at as many moments.
BACKUPS = 20


def test_sqlite_backups_taken_during_http_ingest_hold_whole_batches_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database, url = _console(tmp_path, monkeypatch)
    taken: list[tuple[Path, list[str]]] = []
    with server_process(url, tmp_path, **NO_SCHEDULED_PRUNE) as server:
        with http_ingest(server.url) as ingest:
            assert ingest.wait_for_acknowledged(20), server.log_text()
            for number in range(BACKUPS):
                acknowledged_before = ingest.acknowledged_so_far()
                copy = tmp_path / "backups" / f"copy-{number}.db"
                result = invoke("db", "backup", "--out", str(copy))
                assert result.exit_code == 0, result.output
                taken.append((copy, acknowledged_before))
                # The next backup at a later point of the stream.
                assert ingest.wait_for_acknowledged(len(acknowledged_before) + CLIENTS)
        stored_after = sum(_samples_per_batch(database).values())

    assert ingest.unexpected == []  # the backups made no ingest request fail or time out
    for copy, acknowledged_before in taken:
        with contextlib.closing(sqlite3.connect(copy)) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        per_batch = _samples_per_batch(copy)
        assert set(per_batch.values()) == {BATCH}, copy.name
        assert [tag for tag in acknowledged_before if per_batch[tag] != BATCH] == [], copy.name
        assert set(per_batch) <= set(ingest.acknowledged)
        assert sum(per_batch.values()) <= stored_after


def _post(http: httpx.Client, miner_id: str, *hashrates: float) -> None:
    """One batch of `miner_id`, a minute apart and ending a minute ago."""
    now = utcnow()
    samples = [
        {
            "miner_id": miner_id,
            "timestamp": (now - timedelta(minutes=len(hashrates) - index)).isoformat(),
            "hashrate_1m": hashrate,
        }
        for index, hashrate in enumerate(hashrates)
    ]
    response = http.post("/api/miners/samples", json={"samples": samples})
    assert response.status_code == 202, response.text


def test_a_sqlite_backup_put_in_place_of_the_database_is_served_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database, url = _console(tmp_path, monkeypatch)
    backup = tmp_path / "backups" / "prism-backup.db"
    with server_process(url, tmp_path, **NO_SCHEDULED_PRUNE) as server:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=WAIT) as http:
            _post(http, "rig", 1.0, 2.0, 3.0)
            assert invoke("db", "backup", "--out", str(backup)).exit_code == 0
            _post(http, "rig", 4.0)
            _post(http, "late-rig", 5.0)
        # The worst case of "stop the service": it died, and its -wal holds commits made
        # after the backup.
        server.kill()
    wal, shm = database.with_name("prism.db-wal"), database.with_name("prism.db-shm")
    assert wal.stat().st_size > 0

    shutil.copyfile(backup, database)
    wal.unlink(missing_ok=True)
    shm.unlink(missing_ok=True)

    with server_process(url, tmp_path, **NO_SCHEDULED_PRUNE) as restored:
        wait_until_ready(restored.url)
        with httpx.Client(base_url=restored.url, headers=AUTH, timeout=WAIT) as http:
            series = http.get("/api/miners/rig/series").json()
            miners = http.get("/api/miners").json()["items"]
            _post(http, "rig", 6.0)  # and it takes ingest again
    assert series["series"]["hashrate1m"]["avg"] == [1.0, 2.0, 3.0]
    assert [miner["minerId"] for miner in miners] == ["rig"]
    assert miners[0]["latest"]["hashrate_1m"] == 3.0


OLD_SAMPLES = 2_000
PRUNE_BATCH = 50  # 40 batches


def _store_old_samples(url: str) -> None:
    """OLD_SAMPLES samples of ten days ago, through the ingest service (rollups and all)."""
    start = utcnow() - timedelta(days=10)
    rows = [
        {"miner_id": "old-rig", "recorded_at": start - timedelta(seconds=n), "pool": f"old-s{n}"}
        for n in range(OLD_SAMPLES)
    ]
    with engine_for(url) as engine, Session(engine) as session:
        record_samples(session=session, rows=rows)


def _prune_pausing_between_batches(url: str, ingest: Ingest) -> retention.PruneResult:
    """The retention prune, in small batches; between two batches it notes its progress on
    the timeline and waits (bounded) for an ingest batch to be answered.

    The pause makes the interleaving certain rather than left to SQLite's busy-wait: while
    the prune holds no lock, an ingest gets through; a prune that kept its transaction
    (and the write lock) open across batches makes the wait run out instead.
    """
    waiting = True

    def between_batches(label: str, deleted: int) -> None:
        nonlocal waiting
        acknowledged = ingest.note(label, deleted)
        if waiting and label == "samples":
            # Once ingest could not get through, stop holding the prune back.
            waiting = ingest.wait_for_acknowledged(acknowledged)

    with engine_for(url) as engine, Session(engine) as session:
        return retention.prune(
            session=session,
            now=utcnow(),
            samples_days=7,
            events_days=90,
            batch_size=PRUNE_BATCH,
            progress=between_batches,
        )


def _acknowledged_between_sample_batches(timeline: list[tuple[str, object]]) -> list[int]:
    """For each pair of consecutive 'samples' batches, the ingest batches answered between."""
    gaps: list[int] = []
    current: int | None = None
    for step, _detail in timeline:
        if step == "samples":
            if current is not None:
                gaps.append(current)
            current = 0
        elif step == "acknowledged" and current is not None:
            current += 1
    return gaps


def test_ingest_is_accepted_between_the_batches_of_a_running_prune(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database, url = _console(tmp_path, monkeypatch)
    _store_old_samples(url)
    with (
        server_process(url, tmp_path, **NO_SCHEDULED_PRUNE) as server,
        http_ingest(server.url) as ingest,
    ):
        assert ingest.wait_for_acknowledged(0), server.log_text()
        # The prune runs here while the client threads keep posting.
        result = _prune_pausing_between_batches(url, ingest)

    assert ingest.unexpected == []  # no 503 (lock timeout) nor 500 while the prune ran
    assert result.samples == OLD_SAMPLES
    gaps = _acknowledged_between_sample_batches(ingest.timeline)
    # Many short transactions, not one long one...
    assert len(gaps) == OLD_SAMPLES // PRUNE_BATCH - 1
    # ...and ingest got the write lock between every two of them.
    assert [index for index, answered in enumerate(gaps) if not answered] == []
    with contextlib.closing(sqlite3.connect(database)) as connection:
        old = connection.execute("SELECT count(*) FROM minersample WHERE pool LIKE 'old-%'")
        assert old.fetchone() == (0,)
