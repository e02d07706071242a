"""Exact availability from histories with known answers, to the second, on both engines:
interval arithmetic over status history and sample gaps, maintenance counted apart."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from app.alerts.silence_match import weekly_windows
from app.availability.compute import availability, segments
from app.availability.history import agent_time, miner_time
from app.availability.intervals import Interval, difference, intersection, normalized
from app.models import Agent, AgentStatusChange, Miner, MinerSample, Silence
from tests.support.db import wipe

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OFFLINE_AFTER = 300
THIRTY_DAYS = Interval(NOW - timedelta(days=30), NOW)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    wipe(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _agent(session: Session, *changes: tuple[datetime, str | None, str]) -> Agent:
    agent = Agent(id="a1", name="A1", domain="ops", status="online", last_seen_at=NOW)
    session.add(agent)
    session.flush()
    session.add_all(
        AgentStatusChange(agent_id="a1", at=at, from_status=before, to_status=after)
        for at, before, after in changes
    )
    session.commit()
    return agent


def _figures(session: Session, agent: Agent, window: Interval = THIRTY_DAYS) -> tuple:
    time = agent_time(session, agent, window, OFFLINE_AFTER)
    result = availability(window, down=time.down, maintenance=time.maintenance, known=time.known)
    return result.uptime_percent, result.downtime_seconds, result.maintenance_seconds


# --- intervals ---------------------------------------------------------------------------


def _at(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


def _span(start: int, end: int) -> Interval:
    return Interval(_at(start), _at(end))


def test_interval_arithmetic_merges_intersects_and_subtracts() -> None:
    assert normalized([_span(5, 10), _span(0, 5), _span(8, 12), _span(20, 20)]) == [_span(0, 12)]
    left = [_span(0, 10), _span(20, 30)]
    right = [_span(5, 25)]
    assert intersection(left, right) == [_span(5, 10), _span(20, 25)]
    assert difference(left, right) == [_span(0, 5), _span(25, 30)]
    assert difference([_span(0, 30)], [_span(5, 10), _span(15, 20)]) == [
        _span(0, 5),
        _span(10, 15),
        _span(20, 30),
    ]


# --- agents --------------------------------------------------------------------------------


def test_an_agent_offline_2_h_13_min_in_30_days_is_up_99_692_percent(session: Session) -> None:
    outage = NOW - timedelta(days=10)
    agent = _agent(
        session,
        (NOW - timedelta(days=40), None, "online"),
        (outage, "online", "offline"),
        (outage + timedelta(hours=2, minutes=13), "offline", "online"),
    )
    assert _figures(session, agent) == (99.692, 7980.0, 0.0)


def test_an_outage_across_the_window_start_counts_only_its_part_inside(session: Session) -> None:
    start = THIRTY_DAYS.start
    agent = _agent(
        session,
        (start - timedelta(hours=1), "online", "offline"),
        (start + timedelta(minutes=30), "offline", "online"),
    )
    uptime, down, _ = _figures(session, agent)
    assert down == 1800.0
    assert uptime == round(100 * (1 - 1800 / THIRTY_DAYS.seconds), 3)


def test_an_agent_silent_now_is_down_from_last_seen_plus_the_threshold(session: Session) -> None:
    agent = _agent(session, (NOW - timedelta(days=40), None, "online"))
    agent.last_seen_at = NOW - timedelta(hours=1)
    session.add(agent)
    session.commit()
    # Offline by silence since 55 minutes, though no one has written it to the history yet.
    assert _figures(session, agent)[1] == 3300.0


def test_maintenance_overlapping_an_outage_is_counted_apart(session: Session) -> None:
    outage = NOW - timedelta(days=3)
    agent = _agent(
        session,
        (NOW - timedelta(days=40), None, "online"),
        (outage, "online", "offline"),
        (outage + timedelta(hours=2), "offline", "online"),
    )
    session.add(
        Silence(
            id="m1",
            matchers={"subject": "a1"},
            starts_at=outage + timedelta(hours=1),
            ends_at=outage + timedelta(hours=3),
            comment="planned",
            created_by="test",
            created_at=outage,
        )
    )
    # A silence of one rule is no maintenance of the subject.
    session.add(
        Silence(
            id="m2",
            matchers={"subject": "a1", "ruleId": "agent-offline"},
            starts_at=outage,
            ends_at=outage + timedelta(hours=2),
            comment="one rule",
            created_by="test",
            created_at=outage,
        )
    )
    session.commit()
    uptime, down, maintenance = _figures(session, agent)
    assert (down, maintenance) == (3600.0, 7200.0)
    assert uptime == round(100 * (1 - 3600 / (THIRTY_DAYS.seconds - 7200)), 3)


def test_before_its_first_recorded_status_an_agent_is_unknown(session: Session) -> None:
    agent = _agent(session, (NOW - timedelta(days=5), None, "online"))
    time = agent_time(session, agent, THIRTY_DAYS, OFFLINE_AFTER)
    result = availability(
        THIRTY_DAYS, down=time.down, maintenance=time.maintenance, known=time.known
    )
    assert result.unknown_seconds == timedelta(days=25).total_seconds()
    assert result.uptime_percent == 100.0


# --- miners -------------------------------------------------------------------------------


def _miner(session: Session, samples: list[tuple[datetime, float]]) -> Miner:
    session.add_all(
        MinerSample(miner_id="rig", recorded_at=at, hashrate_1m=rate, hashrate_15m=rate)
        for at, rate in samples
    )
    miner = Miner(miner_id="rig", first_seen_at=samples[0][0], last_recorded_at=samples[-1][0])
    session.add(miner)
    session.commit()
    return miner


def _every_10_s(start: datetime, end: datetime, rate: float) -> list[tuple[datetime, float]]:
    count = int((end - start).total_seconds() // 10)
    return [(start + timedelta(seconds=10 * n), rate) for n in range(count)]


def test_a_miner_reporting_0_hs_is_down_while_it_still_reports(session: Session) -> None:
    window = Interval(NOW - timedelta(hours=1), NOW)
    zero_from = NOW - timedelta(minutes=30)
    samples = (
        _every_10_s(window.start, zero_from, 100e12)
        + _every_10_s(zero_from, zero_from + timedelta(minutes=5), 0.0)
        + _every_10_s(zero_from + timedelta(minutes=5), NOW, 100e12)
    )
    miner = _miner(session, samples)
    time = miner_time(session, miner, window, OFFLINE_AFTER)
    assert time.down == [Interval(zero_from, zero_from + timedelta(minutes=5))]


def test_a_silent_miner_is_down_from_its_last_sample_plus_the_threshold(
    session: Session,
) -> None:
    window = Interval(NOW - timedelta(hours=1), NOW)
    gap_from = NOW - timedelta(minutes=40)
    back = gap_from + timedelta(minutes=20)
    samples = _every_10_s(window.start, gap_from, 100e12) + _every_10_s(back, NOW, 100e12)
    miner = _miner(session, samples)
    time = miner_time(session, miner, window, OFFLINE_AFTER)
    last = samples[len(_every_10_s(window.start, gap_from, 100e12)) - 1][0]
    assert time.down == [Interval(last + timedelta(seconds=OFFLINE_AFTER), back)]
    result = availability(window, down=time.down, maintenance=[], known=time.known)
    assert result.downtime_seconds == (back - last).total_seconds() - OFFLINE_AFTER


def test_a_miner_silent_across_the_window_start_is_down_from_its_earlier_sample(
    session: Session,
) -> None:
    window = Interval(NOW - timedelta(hours=1), NOW)
    last_before = window.start - timedelta(minutes=10)
    back = window.start + timedelta(minutes=15)
    miner = _miner(session, [(last_before, 100e12), *_every_10_s(back, NOW, 100e12)])
    time = miner_time(session, miner, window, OFFLINE_AFTER)
    result = availability(window, down=time.down, maintenance=[], known=time.known)
    assert result.downtime_seconds == 15 * 60.0


# --- segments and weekly windows ------------------------------------------------------------


def test_ninety_segments_put_the_outage_where_it_happened() -> None:
    window = Interval(NOW - timedelta(days=90), NOW)
    outage = Interval(NOW - timedelta(days=45, hours=12), NOW - timedelta(days=45))
    parts = segments(window, down=[outage], maintenance=[], known=[window])
    assert len(parts) == 90
    assert [part.uptime_percent for part in parts].count(100.0) == 89
    [hit] = [part for part in parts if part.uptime_percent != 100.0]
    assert hit.uptime_percent == 50.0 and hit.window.start == NOW - timedelta(days=46)


def test_weekly_windows_expand_inside_the_span_and_run_past_midnight() -> None:
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    span = Interval(monday, monday + timedelta(days=7))
    found = weekly_windows({"weekdays": [4], "start": "22:00", "end": "02:00"}, *span)
    friday = monday + timedelta(days=4)
    assert found == [(friday + timedelta(hours=22), friday + timedelta(hours=26))]
