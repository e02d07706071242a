"""The rollup folded behind ingest (app/miners/fold.py): for random interleavings of ingest,
folds and reads every series bucket equals the raw samples'; on PostgreSQL an id committed
after a larger one is never skipped; a fold killed mid-step loses and doubles nothing;
retention and the fold wait for each other one batch at most."""

import random
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlmodel import Session

from app.core.config import Settings
from app.core.db import api_database_target
from app.miners import fold as fold_module
from app.miners.fold import fold_all, fold_step, ingest_fence, read_watermark, unfolded_count
from app.miners.fold_schedule import fold_schedule
from app.miners.ingest import record_samples
from app.miners.series import miner_series, series_plan
from app.models import MINER_SAMPLE_ROLLUP, MinerSample
from app.models.rollup import ROLLUP_WIDTHS
from app.ops import retention
from tests.services.rollup_oracle import (
    assert_aggregates_match,
    assert_series_match,
    expected_rollup,
    expected_series,
    random_samples,
)
from tests.support.db import migrated_engine, temporary_pg_database, wipe
from tests.support.waits import WAIT, wait_until

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
MINERS = ("rig-a", "rig-b", "rig-c")
SAMPLES = MinerSample.__table__  # type: ignore[attr-defined]


@pytest.fixture
def clean(engine: Engine) -> Iterator[Engine]:
    wipe(engine)
    yield engine


def _rollup(engine: Engine) -> dict[tuple[str, int, int], tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(select(MINER_SAMPLE_ROLLUP)).all()
    return {(row[0], row[1], row[2]): tuple(row[3:]) for row in rows}


def _assert_rollup_is(engine: Engine, rows: list[dict[str, Any]]) -> None:
    stored = _rollup(engine)
    expected = expected_rollup(rows, ROLLUP_WIDTHS)
    assert sorted(stored) == sorted(expected)
    for key, aggregates in expected.items():
        assert_aggregates_match(stored[key], aggregates)


def _assert_series_exact(
    engine: Engine, rows: list[dict[str, Any]], since: datetime, until: datetime, points: int
) -> None:
    plan, _ = series_plan(since, until, points)
    with Session(engine) as session:
        for miner_id in MINERS:
            if not any(row["miner_id"] == miner_id for row in rows):
                continue
            body = miner_series(
                session=session, miner_id=miner_id, since=since, until=until, points=points
            ).model_dump(mode="json", by_alias=True)
            if body["bucketSeconds"] is None:
                continue  # few enough samples to be answered raw: nothing rolled up to check
            expected = expected_series(
                rows,
                miner_id=miner_id,
                since=since,
                until=until,
                origin=plan.origin,
                seconds=plan.seconds,
            )
            assert_series_match(body, expected)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_interleavings_of_ingest_folds_and_reads_stay_exact(
    clean: Engine, seed: int
) -> None:
    rng = random.Random(seed)
    stored: list[dict[str, Any]] = []
    for _ in range(14):
        action = rng.random()
        if action < 0.45:
            batch = random_samples(rng, miner_ids=MINERS, start=T0, count=rng.randint(1, 300))
            with Session(clean) as session:
                record_samples(session=session, rows=batch)
            stored += batch
        elif action < 0.75:
            fold_step(clean, limit=rng.randint(1, 400))
        else:
            start = T0 + timedelta(minutes=rng.randint(-10, 60))
            until = start + timedelta(minutes=rng.choice([30, 90, 180]))
            _assert_series_exact(clean, stored, start, until, rng.choice([20, 60, 100]))
    # Whatever was folded so far, and after every sample is folded: the same answers.
    _assert_series_exact(clean, stored, T0 - timedelta(minutes=5), T0 + timedelta(hours=3), 90)
    fold_all(clean)
    _assert_rollup_is(clean, stored)
    _assert_series_exact(clean, stored, T0 - timedelta(minutes=5), T0 + timedelta(hours=3), 90)
    with clean.connect() as connection:
        assert unfolded_count(connection) == 0


def test_concurrent_writers_and_a_folder_fold_every_sample_once(clean: Engine) -> None:
    rng = random.Random(9)
    batches = [random_samples(rng, miner_ids=MINERS, start=T0, count=120) for _ in range(24)]
    errors: list[BaseException] = []
    writers_done = threading.Event()

    def write(own: list[list[dict[str, Any]]]) -> None:
        try:
            with Session(clean) as session:
                for batch in own:
                    record_samples(session=session, rows=batch)
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    def fold() -> None:
        try:
            while not writers_done.is_set():
                fold_step(clean, limit=97)
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(batches[n::3],)) for n in range(3)]
    folder = threading.Thread(target=fold)
    folder.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=WAIT)
    writers_done.set()
    folder.join(timeout=WAIT)
    assert errors == []
    fold_all(clean)
    _assert_rollup_is(clean, [row for batch in batches for row in batch])


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    with temporary_pg_database() as url, migrated_engine(url) as engine:
        yield engine


@pytest.mark.postgres
def test_an_id_committed_after_a_larger_one_is_not_skipped(pg_engine: Engine) -> None:
    # SQLite has one writer at a time: its ids are committed in order.
    clean = pg_engine
    early = {"miner_id": "rig-a", "recorded_at": T0, "hashrate_1m": 5.0}
    late = {"miner_id": "rig-a", "recorded_at": T0 + timedelta(seconds=1), "hashrate_1m": 7.0}
    with clean.connect() as slow:
        # An ingest transaction takes its id first and commits last.
        ingest_fence(slow)
        slow.execute(insert(SAMPLES), [early])
        with Session(clean) as session:
            record_samples(session=session, rows=[late])
        finished = threading.Event()
        folded: list[Any] = []

        def fold() -> None:
            folded.append(fold_step(clean))
            finished.set()

        folder = threading.Thread(target=fold)
        folder.start()
        # The fold waits on the fence until the slow transaction ends (seen in pg_locks).
        wait_until(lambda: finished.is_set() or _lock_waits(clean), "the fold waiting or done")
        assert not finished.is_set(), "the fold must not pass an ingest still in progress"
        slow.commit()
    folder.join(timeout=WAIT)
    assert folded and folded[0].samples == 2
    _assert_rollup_is(clean, [early, late])


def _lock_waits(engine: Engine) -> int:
    """Locks a session of this PostgreSQL database is waiting for. A row lock's wait is on
    the holder's transaction id, a lock of no database: the waiters are found by their
    sessions' database."""
    with engine.connect() as observer:
        return int(
            observer.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid IN "
                    "(SELECT pid FROM pg_stat_activity WHERE datname = current_database())"
                )
            ).scalar_one()
        )


_KILLED_FOLD = textwrap.dedent(
    """
    import sys
    from app.core.db import create_db_engine, parse_database_url
    from app.miners import fold

    merge = fold._fold_range

    def merged_then_wait(connection, after, through):
        count = merge(connection, after, through)  # every statement ran; not committed
        print("merged", flush=True)
        sys.stdin.readline()  # killed here
        return count

    fold._fold_range = merged_then_wait
    fold.fold_step(create_db_engine(parse_database_url(sys.argv[1])), limit=int(sys.argv[2]))
    """
)


def test_a_fold_killed_mid_step_loses_and_doubles_nothing(clean: Engine, db_url: str) -> None:
    rows = random_samples(random.Random(4), miner_ids=MINERS, start=T0, count=600)
    with Session(clean) as session:
        record_samples(session=session, rows=rows[:250])
    fold_all(clean)
    with Session(clean) as session:
        record_samples(session=session, rows=rows[250:])
    before = _rollup(clean)
    with subprocess.Popen(
        [sys.executable, "-c", _KILLED_FOLD, db_url, "200"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "merged"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=WAIT)
    assert _rollup(clean) == before
    with clean.connect() as connection:
        assert read_watermark(connection) == 250
    fold_all(clean)
    _assert_rollup_is(clean, rows)


def test_retention_between_batches_does_not_hold_the_fold(clean: Engine) -> None:
    now = T0 + timedelta(days=10)
    old = [
        {"miner_id": "rig-a", "recorded_at": T0 + timedelta(seconds=n), "hashrate_1m": 1.0}
        for n in range(30)
    ]
    fresh = [{"miner_id": "rig-b", "recorded_at": now, "hashrate_1m": 2.0}]
    with Session(clean) as session:
        record_samples(session=session, rows=old)
        record_samples(session=session, rows=fresh)
    paused, release = threading.Event(), threading.Event()
    folded: list[int] = []

    def progress(_label: str, _count: int) -> None:
        if not paused.is_set():
            paused.set()
            # While retention sits between two of its batches, a whole fold runs.
            folded.append(fold_all(clean))
            release.set()

    with Session(clean) as session:
        retention.prune(
            session=session,
            now=now,
            samples_days=7,
            events_days=90,
            batch_size=10,
            progress=progress,
        )
    # The fold ran to its end in the middle of the retention run: no lock was held there.
    assert release.is_set() and folded and folded[0] >= len(fresh)
    _assert_rollup_is(clean, fresh)
    with clean.connect() as connection:
        assert unfolded_count(connection) == 0


def test_the_scheduled_fold_catches_up_and_can_be_turned_off(clean: Engine, db_url: str) -> None:
    target = api_database_target(db_url, None)
    settings = Settings(api_db_url=db_url, rollup_fold_seconds=5, _env_file=None)  # type: ignore[call-arg]
    rows = random_samples(random.Random(6), miner_ids=MINERS, start=T0, count=250)
    with Session(clean) as session:
        record_samples(session=session, rows=rows)
    job = fold_schedule(clean, target, settings)
    assert job is not None
    assert job.run_once()
    _assert_rollup_is(clean, rows)
    off = Settings(api_db_url=db_url, rollup_fold_seconds=0, _env_file=None)  # type: ignore[call-arg]
    assert fold_schedule(clean, target, off) is None


@pytest.mark.postgres
def test_retention_waits_for_one_fold_step_not_for_the_fold(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite takes turns on its one write lock; on PostgreSQL a fold step holds the
    # watermark's row, which retention's rollup batches take: they wait for that step only.
    now = T0 + timedelta(days=10)
    old = [
        {"miner_id": "rig-a", "recorded_at": T0 + timedelta(seconds=n), "hashrate_1m": 1.0}
        for n in range(40)
    ]
    fresh = [
        {"miner_id": "rig-b", "recorded_at": now - timedelta(seconds=n), "hashrate_1m": 2.0}
        for n in range(40)
    ]
    with Session(pg_engine) as session:
        record_samples(session=session, rows=old)
    fold_all(pg_engine)
    with Session(pg_engine) as session:
        record_samples(session=session, rows=fresh)
    merged, release = threading.Event(), threading.Event()
    merge = fold_module._fold_range

    def merged_then_wait(connection: Any, after: int, through: int) -> int:
        count = merge(connection, after, through)
        merged.set()
        assert release.wait(WAIT), "the test never released the fold step"
        return count

    monkeypatch.setattr(fold_module, "_fold_range", merged_then_wait)
    folder = threading.Thread(target=lambda: fold_step(pg_engine, limit=10))
    folder.start()
    assert merged.wait(WAIT), "the fold step did not start"
    pruned: list[Any] = []

    def prune() -> None:
        with Session(pg_engine) as session:
            pruned.append(retention.prune(session=session, now=now, samples_days=7, events_days=90))

    pruner = threading.Thread(target=prune)
    pruner.start()
    wait_until(lambda: not pruner.is_alive() or _lock_waits(pg_engine), "retention waiting or done")
    # Retention got as far as the rollup and waits there, on the step in progress.
    assert pruner.is_alive() and _lock_waits(pg_engine)
    release.set()
    folder.join(timeout=WAIT)
    pruner.join(timeout=WAIT)
    assert not pruner.is_alive() and pruned and pruned[0].samples == len(old)
    monkeypatch.undo()
    # The rest of the backlog folds after retention; the rollup holds the fresh samples only.
    fold_all(pg_engine)
    _assert_rollup_is(pg_engine, fresh)
