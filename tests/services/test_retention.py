"""Retention prune: only old rows go, in batches, and miner pointers stay consistent."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app.models import Agent, AgentEvent, AgentMemorySample, AgentStatusChange, Miner, MinerSample
from app.ops import retention
from tests.support.db import wipe
from tests.support.factories import make_agent

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=10)  # older than the 7 days samples are kept
RECENT = NOW - timedelta(days=1)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    wipe(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _sample(session: Session, miner_id: str, at: datetime) -> int:
    sample = MinerSample(miner_id=miner_id, recorded_at=at, hashrate_1m=100.0)
    session.add(sample)
    session.commit()
    assert sample.id is not None
    return sample.id


def _point(session: Session, miner_id: str, sample_id: int, at: datetime) -> None:
    session.add(
        Miner(miner_id=miner_id, first_seen_at=OLD, last_recorded_at=at, last_sample_id=sample_id)
    )
    session.commit()


def _prune(session: Session, **overrides: int) -> retention.PruneResult:
    options = {"samples_days": 7, "events_days": 90, **overrides}
    return retention.prune(session=session, now=NOW, **options)


def test_only_samples_older_than_the_retention_go(session: Session) -> None:
    old = [_sample(session, "rig", OLD - timedelta(minutes=n)) for n in range(3)]
    kept = _sample(session, "rig", RECENT)
    _point(session, "rig", kept, RECENT)
    result = _prune(session)
    assert result.samples == 3
    remaining = session.exec(select(MinerSample.id)).all()
    assert remaining == [kept]
    assert not set(old) & set(remaining)


def test_a_sample_just_inside_the_window_stays(session: Session) -> None:
    inside = _sample(session, "rig", NOW - timedelta(days=7) + timedelta(seconds=1))
    _point(session, "rig", inside, NOW - timedelta(days=7))
    assert _prune(session).samples == 0
    assert session.get(MinerSample, inside) is not None


def test_a_miner_with_only_old_samples_is_removed(session: Session) -> None:
    newest_old = _sample(session, "gone", OLD)
    _point(session, "gone", newest_old, OLD)
    kept = _sample(session, "alive", RECENT)
    _point(session, "alive", kept, RECENT)
    result = _prune(session)
    assert (result.miners_removed, result.miners_repointed) == (1, 0)
    assert session.get(Miner, "gone") is None
    alive = session.get(Miner, "alive")
    assert alive is not None and alive.last_sample_id == kept


def test_a_miner_pointing_at_a_deleted_sample_is_repointed_to_its_newest(
    session: Session,
) -> None:
    # A pointer left on an old sample (e.g. backfilled from an adopted database).
    old = _sample(session, "rig", OLD)
    older_remaining = _sample(session, "rig", RECENT - timedelta(hours=1))
    newest_remaining = _sample(session, "rig", RECENT)
    _point(session, "rig", old, OLD)
    result = _prune(session)
    assert result.miners_repointed == 1
    session.expire_all()
    miner = session.get(Miner, "rig")
    assert miner is not None
    assert miner.last_sample_id == newest_remaining != older_remaining
    assert miner.last_recorded_at == RECENT


def test_events_and_status_history_follow_the_events_retention(session: Session) -> None:
    session.add(make_agent("a1", name="A", domain="ops"))
    session.commit()
    ancient, recent = NOW - timedelta(days=91), NOW - timedelta(days=89)
    session.add_all(
        [
            AgentEvent(id="e-old", agent_id="a1", kind="warn", at=ancient),
            AgentEvent(id="e-new", agent_id="a1", kind="warn", at=recent),
            AgentStatusChange(agent_id="a1", to_status="online", at=ancient),
            AgentStatusChange(agent_id="a1", to_status="degraded", at=recent),
        ]
    )
    session.commit()
    result = _prune(session)
    assert (result.events, result.status_changes) == (1, 1)
    assert session.exec(select(AgentEvent.id)).all() == ["e-new"]
    assert session.exec(select(AgentStatusChange.to_status)).all() == ["degraded"]
    assert session.get(Agent, "a1") is not None  # agents themselves are never pruned


def test_agent_memory_samples_follow_the_samples_retention(session: Session) -> None:
    session.add(make_agent("a1", name="A", domain="ops"))
    session.commit()
    session.add_all(
        [
            AgentMemorySample(agent_id="a1", recorded_at=OLD, memory_used_mb=100),
            AgentMemorySample(agent_id="a1", recorded_at=RECENT, memory_used_mb=200),
        ]
    )
    session.commit()
    result = _prune(session)
    assert result.memory_samples == 1
    assert session.exec(select(AgentMemorySample.memory_used_mb)).all() == [200]


def test_rows_are_deleted_in_batches(session: Session) -> None:
    session.add(make_agent("a1", name="A", domain="ops"))
    session.add_all(
        AgentEvent(
            id=f"e{n}", agent_id="a1", kind="heartbeat", at=OLD - timedelta(days=90, minutes=n)
        )
        for n in range(12)
    )
    session.add_all(
        MinerSample(miner_id="rig", recorded_at=OLD - timedelta(minutes=n)) for n in range(7)
    )
    session.commit()
    seen: list[tuple[str, int]] = []
    result = retention.prune(
        session=session,
        now=NOW,
        samples_days=7,
        events_days=90,
        batch_size=5,
        progress=lambda label, count: seen.append((label, count)),
    )
    assert (result.samples, result.events) == (7, 12)
    assert seen == [("samples", 5), ("samples", 7), ("events", 5), ("events", 10), ("events", 12)]
    remaining = session.exec(select(func.count()).select_from(AgentEvent)).one()
    assert remaining == 0


def test_nothing_old_means_nothing_deleted(session: Session) -> None:
    kept = _sample(session, "rig", RECENT)
    _point(session, "rig", kept, RECENT)
    assert _prune(session) == retention.PruneResult(0, 0, 0, 0, 0, 0)
    assert session.exec(select(col(MinerSample.id))).all() == [kept]
