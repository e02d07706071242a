"""record_samples(): the one ingest path (API, seed, benchmarks) and its pointer table."""

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.miners.ingest import record_samples
from app.miners.queries import latest_samples
from app.models import Miner, MinerSample
from tests.support.db import wipe

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    wipe(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _count(session: Session, model: type[Miner] | type[MinerSample]) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_a_failing_row_rolls_the_whole_call_back(session: Session) -> None:
    rows = [
        {"miner_id": "rig-1", "recorded_at": T0},
        {"miner_id": None, "recorded_at": T0},  # NOT NULL violation in the database
    ]
    with pytest.raises(IntegrityError):
        record_samples(session=session, rows=rows)
    assert (_count(session, MinerSample), _count(session, Miner)) == (0, 0)
    # The session is usable again afterwards.
    assert record_samples(session=session, rows=rows[:1]) == 1


def test_defaults_and_naive_times_follow_the_contract(session: Session) -> None:
    naive = datetime(2026, 1, 5, 10, 0)
    stored = record_samples(
        session=session,
        rows=[{"miner_id": "rig-1", "recorded_at": naive, "shares_rejected": 4, "extra": 1}],
    )
    assert stored == 1
    (sample,) = latest_samples(session=session)
    assert sample.recorded_at == T0
    assert (sample.shares_accepted, sample.shares_rejected, sample.shares_stale) == (0, 4, 4)
    assert record_samples(session=session, rows=[]) == 0


def test_equal_times_point_at_the_last_sample_inserted(session: Session) -> None:
    record_samples(
        session=session,
        rows=[
            {"miner_id": "rig-1", "recorded_at": T0, "pool": "first"},
            {"miner_id": "rig-1", "recorded_at": T0, "pool": "second"},
        ],
    )
    (sample,) = latest_samples(session=session)
    assert sample.pool == "second"


def test_concurrent_out_of_order_ingest_keeps_the_newest_pointer(engine: Engine) -> None:
    wipe(engine)
    times = [T0 + timedelta(seconds=n) for n in range(40)]
    random.Random(7).shuffle(times)

    def ingest(at: datetime) -> None:
        with Session(engine) as own:
            record_samples(session=own, rows=[{"miner_id": "rig-1", "recorded_at": at}])

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(ingest, times))
    with Session(engine) as session:
        miner = session.get(Miner, "rig-1")
        assert miner is not None
        assert miner.first_seen_at == T0
        assert miner.last_recorded_at == T0 + timedelta(seconds=39)
        newest = session.exec(
            select(MinerSample.id).where(col(MinerSample.recorded_at) == miner.last_recorded_at)
        ).one()
        assert miner.last_sample_id == newest
