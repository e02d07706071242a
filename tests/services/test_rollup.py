"""The per-minute rollup: series read from it equal the raw samples; ingest, concurrent ingest,
folds in any steps, a failed batch and retention all keep it in step with the samples."""

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlmodel import Session

from app.miners import ingest as miners
from app.miners.fold import fold_all, fold_step, read_watermark
from app.miners.ingest import datetime_to_db, record_samples
from app.miners.rollup import bucket_of
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
from tests.support.db import wipe

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
MINERS = ("rig-a", "rig-b", "rig-c")


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    wipe(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _ingest_shuffled(session: Session, rows: list[dict[str, Any]], seed: int) -> None:
    """Store the rows in batches of random size and order, folding some of them in steps of
    random size between batches: the rollup merges across batches and folds."""
    rows = rows[:]
    rng = random.Random(seed)
    rng.shuffle(rows)
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    position = 0
    while position < len(rows):
        size = rng.randint(1, 150)
        record_samples(session=session, rows=rows[position : position + size])
        position += size
        if rng.random() < 0.5:
            fold_step(engine, limit=rng.randint(1, 200))
    fold_all(engine)


def _series_body(
    session: Session, miner_id: str, since: datetime, until: datetime, points: int
) -> dict[str, Any]:
    result = miner_series(
        session=session, miner_id=miner_id, since=since, until=until, points=points
    )
    return result.model_dump(mode="json", by_alias=True)


def _rollup_rows(session: Session) -> dict[tuple[str, int, int], tuple[Any, ...]]:
    rows = session.execute(select(MINER_SAMPLE_ROLLUP)).all()
    return {(row[0], row[1], row[2]): tuple(row[3:]) for row in rows}


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("points", [7, 50, 90])
def test_series_from_the_rollup_equal_the_raw_samples(
    session: Session, seed: int, points: int
) -> None:
    rng = random.Random(seed)
    rows = random_samples(rng, miner_ids=MINERS, start=T0, count=1500)
    _ingest_shuffled(session, rows, seed)
    # A window cut mid-bucket at both ends: its edges come from the samples themselves.
    since = T0 + timedelta(seconds=rng.uniform(0, 900))
    until = T0 + timedelta(hours=2) - timedelta(seconds=rng.uniform(0, 900))
    plan, width = series_plan(since, until, points)
    assert width is not None and plan.seconds % width == 0, "read from a rollup"
    for miner_id in MINERS:
        body = _series_body(session, miner_id, since, until, points)
        assert body["bucketSeconds"] == plan.seconds
        assert 0 < body["points"] <= points
        expected = expected_series(
            rows,
            miner_id=miner_id,
            since=since,
            until=until,
            origin=plan.origin,
            seconds=plan.seconds,
        )
        assert_series_match(body, expected)


@pytest.mark.parametrize(
    ("window", "points", "width", "seconds"),
    [
        (timedelta(days=30), 1000, 600, 3000),  # 2,592 s widened to ten-minute buckets
        (timedelta(days=3), 1000, 60, 300),  # 260 s: only the minute rollup fits
        (timedelta(days=6), 700, 60, 780),  # 1,200 s would drop too many points
        (timedelta(days=8), 1000, 600, 1200),  # ...unless the minutes are too many rows
        (timedelta(hours=2), 1000, None, 8),  # finer than a minute: the samples
    ],
)
def test_the_coarsest_rollup_that_keeps_enough_points_is_read(
    window: timedelta, points: int, width: int | None, seconds: int
) -> None:
    plan, chosen = series_plan(T0, T0 + window, points)
    assert (chosen, plan.seconds) == (width, seconds)
    assert plan.origin % plan.seconds == 0
    assert (T0 + window).timestamp() - plan.origin <= points * plan.seconds


@pytest.mark.parametrize("points", [200, 1000])
def test_buckets_finer_than_a_minute_read_the_samples_and_agree(
    session: Session, points: int
) -> None:
    rng = random.Random(9)
    rows = random_samples(rng, miner_ids=["rig-a"], start=T0, count=1200)
    _ingest_shuffled(session, rows, 9)
    since, until = T0 + timedelta(seconds=0.5), T0 + timedelta(hours=2)
    plan, width = series_plan(since, until, points)
    assert (width, plan.seconds < 60) == (None, True)
    body = _series_body(session, "rig-a", since, until, points)
    assert body["bucketSeconds"] == plan.seconds
    assert_series_match(
        body,
        expected_series(
            rows,
            miner_id="rig-a",
            since=since,
            until=until,
            origin=plan.origin,
            seconds=plan.seconds,
        ),
    )


def test_a_spike_in_one_sample_survives_a_month_in_a_thousand_points(session: Session) -> None:
    rows = [
        {"miner_id": "rig-a", "recorded_at": T0 + timedelta(minutes=n), "hashrate_1m": 1000.0}
        for n in range(0, 30 * 1440, 7)
    ]
    rows[2345]["hashrate_1m"] = 75_000.0
    rows[3456]["hashrate_1m"] = 1.5
    record_samples(session=session, rows=rows)
    body = _series_body(session, "rig-a", T0, T0 + timedelta(days=30), 1000)
    hashrate = body["series"]["hashrate1m"]
    assert (max(hashrate["max"]), min(hashrate["min"])) == (75_000.0, 1.5)
    assert body["points"] <= 1000 and body["bucketSeconds"] % 60 == 0


def test_the_rollup_holds_each_buckets_exact_aggregates(session: Session) -> None:
    rows = random_samples(random.Random(5), miner_ids=MINERS, start=T0, count=2000)
    _ingest_shuffled(session, rows, 5)
    stored = _rollup_rows(session)
    expected = expected_rollup(rows, ROLLUP_WIDTHS)
    assert sorted(stored) == sorted(expected)
    for key, aggregates in expected.items():
        assert_aggregates_match(stored[key], aggregates)


def test_a_failed_batch_leaves_no_sample_for_the_fold(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_samples(session=session, rows=[{"miner_id": "rig-a", "recorded_at": T0}])
    fold_all(session.get_bind())  # type: ignore[arg-type]
    before = _rollup_rows(session)

    def fail(_rows: object) -> None:
        raise RuntimeError("the miner pointer step failed")

    # The last step of the transaction, after the samples were written.
    monkeypatch.setattr(miners, "_pointer_params", fail)
    later = {"miner_id": "rig-a", "recorded_at": T0 + timedelta(seconds=5), "hashrate_1m": 9.0}
    with pytest.raises(RuntimeError, match="pointer"):
        record_samples(session=session, rows=[later, {**later, "miner_id": "rig-b"}])
    assert fold_all(session.get_bind()) == 0  # type: ignore[arg-type]
    assert _rollup_rows(session) == before
    assert session.scalar(select(func.count()).select_from(MinerSample)) == 1
    assert read_watermark(session.connection()) == 1


def test_concurrent_batches_on_the_same_minutes_merge_exactly(engine: Engine) -> None:
    wipe(engine)
    rng = random.Random(11)
    batches = [random_samples(rng, miner_ids=MINERS, start=T0, count=300) for _ in range(12)]
    # Every batch touches every miner and many of the same minutes, in different orders.
    for index, batch in enumerate(batches):
        batch.sort(key=lambda row: row["miner_id"], reverse=index % 2 == 1)
    errors: list[BaseException] = []

    def ingest(own: list[list[dict[str, Any]]]) -> None:
        try:
            with Session(engine) as own_session:
                for batch in own:
                    record_samples(session=own_session, rows=batch)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(batches[n::3],)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    rows = [row for batch in batches for row in batch]
    with Session(engine) as session:
        since, until = T0, T0 + timedelta(hours=3)
        plan, _ = series_plan(since, until, 100)
        for miner_id in MINERS:
            body = _series_body(session, miner_id, since, until, 100)
            expected = expected_series(
                rows,
                miner_id=miner_id,
                since=since,
                until=until,
                origin=plan.origin,
                seconds=plan.seconds,
            )
            assert_series_match(body, expected)


def test_prune_drops_old_buckets_and_rebuilds_those_holding_the_cutoff(
    session: Session,
) -> None:
    now = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
    cutoff = now - timedelta(days=7)  # 30 s into its minute and into its ten minutes
    rows = [
        {"miner_id": "rig-a", "recorded_at": cutoff - timedelta(hours=1), "hashrate_1m": 1.0},
        {"miner_id": "rig-a", "recorded_at": cutoff - timedelta(seconds=20), "hashrate_1m": 900.0},
        {"miner_id": "rig-a", "recorded_at": cutoff + timedelta(seconds=10), "hashrate_1m": 7.0},
        {"miner_id": "rig-b", "recorded_at": cutoff + timedelta(seconds=5), "hashrate_1m": 3.0},
        {"miner_id": "rig-a", "recorded_at": now, "hashrate_1m": 2.0},
    ]
    record_samples(session=session, rows=rows)
    fold_all(session.get_bind())  # type: ignore[arg-type]
    assert len(_rollup_rows(session)) == 4 * len(ROLLUP_WIDTHS)
    result = retention.prune(session=session, now=now, samples_days=7, events_days=90)
    assert (result.samples, result.rollup_buckets) == (2, len(ROLLUP_WIDTHS))
    stored = _rollup_rows(session)
    expected = []
    for width in ROLLUP_WIDTHS:
        boundary = bucket_of(cutoff, width)
        expected += [
            ("rig-a", width, boundary),
            ("rig-a", width, bucket_of(now, width)),
            ("rig-b", width, boundary),
        ]
        # The sample 20 s before the cutoff is gone from its bucket: only the later remains.
        assert stored[("rig-a", width, boundary)][:4] == (1, 7.0, 7.0, 7.0)
        assert stored[("rig-b", width, boundary)][:4] == (1, 3.0, 3.0, 3.0)
    assert sorted(stored) == sorted(expected)


@pytest.mark.parametrize(
    "moment_",
    [
        datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
        datetime(2026, 1, 5, 10, 0, 59, 999_999, tzinfo=UTC),
        datetime(2026, 1, 5, 12, 30, 0, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(999, 12, 31, 23, 59, 59),  # naive: UTC
        None,
    ],
)
def test_ingest_stores_sqlite_datetimes_as_the_column_type_does(moment_: datetime | None) -> None:
    # Ingest converts datetimes itself (faster); the text must stay what the ORM writes,
    # or text comparisons of recorded_at would break.
    dialect = sqlite_dialect.dialect()
    column_type = MinerSample.__table__.c.recorded_at.type.dialect_impl(dialect)  # type: ignore[attr-defined]
    assert datetime_to_db(dialect)(moment_) == column_type.bind_processor(dialect)(moment_)
