"""The fast availability paths pinned to the interval arithmetic they replace, on both
engines: the fleet's agent sums in SQL (app/availability/agent_sums.py) and a miner's down
time read through its minute rollup (app/availability/miner_down.py), against random
histories and the edges that matter (outages across the window's edges, maintenance, 0 H/s
while reporting, gaps across minute boundaries, the newest partial minute)."""

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select
from sqlmodel import Session, SQLModel, col

from app.availability import miner_down as miner_down_module
from app.availability.agent_sums import (
    WindowMicros,
    agent_sums,
    needs_intervals,
    summary_of,
)
from app.availability.compute import Summary, availability, summary
from app.availability.history import agent_time, agents_time, miner_time
from app.availability.intervals import Interval, Intervals
from app.availability.miner_down import miner_down, miner_intervals, miners_down
from app.availability.service import fleet_figures
from app.availability.sql import micros, microseconds
from app.miners.fold import fold_all, fold_step
from app.models import Agent, AgentStatusChange, Miner, Silence
from app.models.rollup import MINER_SAMPLE_ROLLUP
from tests.support.db import wipe

NOW = datetime(2026, 11, 30, 12, 0, 0, 250_000, tzinfo=UTC)  # not on a whole second
OFFLINE_AFTER = 300
WINDOW = Interval(NOW - timedelta(days=30), NOW)
STATUSES = ("online", "offline", "degraded")


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    wipe(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _oracle(session: Session, window: Interval) -> dict[str, Summary]:
    """Every agent by the interval path, as the service computed them before."""
    found = {}
    for agent, time in agents_time(session, window, OFFLINE_AFTER):
        figures = availability(
            window, down=time.down, maintenance=time.maintenance, known=time.known
        )
        found[agent.id] = summary(figures)
    return found


def _same(fast: Summary, exact: Summary) -> None:
    assert fast.uptime_percent == exact.uptime_percent
    assert fast.outage_count == exact.outage_count
    # Sums of integer microseconds against sums of floats: equal to far below a second.
    assert fast.downtime_seconds == pytest.approx(exact.downtime_seconds, abs=1e-6)
    assert fast.maintenance_seconds == pytest.approx(exact.maintenance_seconds, abs=1e-6)
    assert fast.unknown_seconds == pytest.approx(exact.unknown_seconds, abs=1e-6)


# --- agents ---------------------------------------------------------------------------------


def _moment(rng: random.Random, start: datetime, end: datetime, *, whole: bool) -> datetime:
    seconds = rng.uniform(0, (end - start).total_seconds())
    moment = start + timedelta(seconds=seconds)
    return moment.replace(microsecond=0) if whole else moment


def _random_agents(session: Session, rng: random.Random, count: int) -> None:
    """Agents with every shape of history the rules distinguish."""
    for index in range(count):
        agent_id = f"a{index:03}"
        whole = rng.random() < 0.5
        shape = rng.random()
        if shape < 0.55:
            last_seen: datetime | None = NOW - timedelta(seconds=rng.uniform(0, 60))
        elif shape < 0.8:
            last_seen = _moment(rng, WINDOW.start - timedelta(days=5), NOW, whole=whole)
        elif shape < 0.9:
            last_seen = NOW + timedelta(seconds=rng.uniform(0, 60))  # a clock ahead
        else:
            last_seen = None
        session.add(
            Agent(
                id=agent_id,
                name=f"Agent {index}",
                domain=rng.choice(["ops", "lab"]),
                status=rng.choice(STATUSES),
                last_seen_at=last_seen,
            )
        )
        changes: list[datetime] = []
        if rng.random() < 0.7:
            changes.append(
                _moment(rng, WINDOW.start - timedelta(days=20), WINDOW.start, whole=whole)
            )
        for _ in range(rng.choice([0, 0, 1, 2, 4, 8, 12])):
            changes.append(_moment(rng, WINDOW.start, WINDOW.end, whole=whole))
        if rng.random() < 0.2:
            changes.append(WINDOW.start)  # exactly at the window's start
        if rng.random() < 0.15:
            changes.append(_moment(rng, WINDOW.end, WINDOW.end + timedelta(days=2), whole=whole))
        if changes and rng.random() < 0.15:
            changes.append(rng.choice(changes))  # two changes at one moment
        changes.sort()
        previous: str | None = None if rng.random() < 0.5 else rng.choice(STATUSES)
        for at in changes:
            to_status = rng.choice(STATUSES)
            # Mostly a consistent history, sometimes not (the rules read to_status only).
            left = previous if rng.random() < 0.85 else rng.choice([*STATUSES, None])
            session.add(
                AgentStatusChange(agent_id=agent_id, at=at, from_status=left, to_status=to_status)
            )
            previous = to_status
    session.commit()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_agent_sums_equal_the_interval_path_on_random_histories(
    session: Session, seed: int
) -> None:
    _random_agents(session, random.Random(seed), 120)
    exact = _oracle(session, WINDOW)
    window = WindowMicros.of(WINDOW)
    judged = 0
    for sums in agent_sums(session, WINDOW):
        if needs_intervals(sums, window, OFFLINE_AFTER):
            continue
        judged += 1
        _same(summary_of(sums, window), exact[sums.agent_id])
    assert judged > 40  # most agents take the SQL path


@pytest.mark.parametrize("seed", [4, 5])
def test_the_fleet_list_equals_the_interval_path_with_maintenance(
    session: Session, seed: int
) -> None:
    rng = random.Random(seed)
    _random_agents(session, rng, 80)
    for index, matchers in enumerate(
        [
            {"subject": "a003"},
            {"subject": "a010"},
            {"domain": "lab"},
            {"subject": "a020", "ruleId": "x"},
        ]
    ):
        start = _moment(rng, WINDOW.start - timedelta(days=2), WINDOW.end, whole=False)
        session.add(
            Silence(
                id=f"m{index}",
                matchers=matchers,
                starts_at=start,
                ends_at=start + timedelta(hours=rng.uniform(1, 72)),
                comment="planned",
                created_by="test",
                created_at=start,
            )
        )
    session.commit()
    exact = _oracle(session, WINDOW)
    found = fleet_figures(session=session, kind="agent", span=WINDOW, offline_after=OFFLINE_AFTER)
    assert sorted(item.subject for item in found) == sorted(exact)
    for item in found:
        _same(item.figures, exact[item.subject])
    # Worst first, as before.
    order = [
        (item.figures.uptime_percent is None, item.figures.uptime_percent or 0.0, item.subject)
        for item in found
    ]
    assert order == sorted(order)


def _history(
    session: Session, *changes: tuple[datetime, str | None, str], last_seen: datetime = NOW
) -> None:
    session.add(Agent(id="a1", name="A1", domain="ops", status="online", last_seen_at=last_seen))
    session.flush()
    session.add_all(
        AgentStatusChange(agent_id="a1", at=at, from_status=left, to_status=to)
        for at, left, to in changes
    )
    session.commit()


def _both(session: Session) -> tuple[Summary, Summary]:
    [sums] = agent_sums(session, WINDOW)
    window = WindowMicros.of(WINDOW)
    assert not needs_intervals(sums, window, OFFLINE_AFTER)
    agent = session.get(Agent, "a1")
    assert agent is not None
    time = agent_time(session, agent, WINDOW, OFFLINE_AFTER)
    exact = availability(WINDOW, down=time.down, maintenance=time.maintenance, known=time.known)
    return summary_of(sums, window), summary(exact)


def test_an_outage_across_the_window_start_sums_its_part_inside(session: Session) -> None:
    _history(
        session,
        (WINDOW.start - timedelta(days=1), "online", "offline"),
        (WINDOW.start + timedelta(minutes=30), "offline", "offline"),  # still offline
        (WINDOW.start + timedelta(hours=1), "offline", "online"),
    )
    fast, exact = _both(session)
    assert fast == exact
    assert (fast.downtime_seconds, fast.outage_count) == (3600.0, 1)


def test_an_outage_still_open_at_the_window_end_runs_to_it(session: Session) -> None:
    _history(
        session,
        (WINDOW.start - timedelta(days=1), None, "online"),
        (NOW - timedelta(hours=2), "online", "offline"),
    )
    fast, exact = _both(session)
    assert fast == exact
    assert (fast.downtime_seconds, fast.outage_count) == (7200.0, 1)


def test_a_first_change_leaving_offline_counts_the_time_before_it(session: Session) -> None:
    _history(
        session,
        (WINDOW.start + timedelta(hours=3), "offline", "online"),
        (WINDOW.start + timedelta(hours=5), "online", "offline"),
        (WINDOW.start + timedelta(hours=6), "offline", "online"),
    )
    fast, exact = _both(session)
    assert fast == exact
    assert (fast.downtime_seconds, fast.outage_count) == (4 * 3600.0, 2)


def test_a_first_change_naming_nothing_left_starts_the_known_time(session: Session) -> None:
    _history(session, (WINDOW.start + timedelta(days=10), None, "online"))
    fast, exact = _both(session)
    assert fast == exact
    assert fast.unknown_seconds == timedelta(days=10).total_seconds()


def test_an_agent_silent_now_or_with_changes_at_one_moment_takes_the_interval_path(
    session: Session,
) -> None:
    moment = WINDOW.start + timedelta(days=3)
    _history(
        session,
        (moment, "online", "offline"),
        (moment, "offline", "online"),
        last_seen=NOW - timedelta(hours=1),
    )
    [sums] = agent_sums(session, WINDOW)
    window = WindowMicros.of(WINDOW)
    assert needs_intervals(sums, window, OFFLINE_AFTER)
    assert sums.same_moment == 1
    [item] = fleet_figures(session=session, kind="agent", span=WINDOW, offline_after=OFFLINE_AFTER)
    assert item.figures == _oracle(session, WINDOW)["a1"]
    assert item.figures.downtime_seconds == 3600.0 - OFFLINE_AFTER


# --- miners ---------------------------------------------------------------------------------

MINER = "rig"
Sample = tuple[datetime, float | None, float | None]


def _store_samples(engine: Engine, samples: list[Sample], *, rollup: bool = True) -> Miner:
    rows: list[dict[str, Any]] = [
        {"miner_id": MINER, "recorded_at": at, "hashrate_1m": h1, "hashrate_15m": h15}
        for at, h1, h15 in samples
    ]
    with engine.begin() as connection:
        connection.execute(insert(SQLModel.metadata.tables["minersample"]), rows)
    if rollup:  # otherwise the samples stay past the watermark: the fold's backlog
        fold_all(engine)
    times = [at for at, _, _ in samples]
    miner = Miner(miner_id=MINER, first_seen_at=min(times), last_recorded_at=max(times))
    with Session(engine, expire_on_commit=False) as session:
        session.add(miner)
        session.commit()
    return miner


def _zero(h1: float | None, h15: float | None) -> bool:
    baseline = h1 if h1 else (h15 if h15 is not None else h1)
    return baseline == 0


def _reference(samples: list[Sample], window: Interval) -> Intervals:
    """Down time by pairing the samples here, straight from the rules."""
    ordered = sorted(samples)
    before = [item for item in ordered if item[0] < window.start][-1:]
    inside = [item for item in ordered if window.start <= item[0] < window.end]
    after = [item for item in ordered if item[0] >= window.end][:1]
    read = before + inside + after
    rows: list[tuple[datetime | str, datetime | str | None, bool]] = []
    for (at, h1, h15), following in zip(read, [*read[1:], None], strict=True):
        rows.append((at, following[0] if following else None, _zero(h1, h15)))
    return miner_intervals(rows, window=window, offline_after=OFFLINE_AFTER)


def _down_both_ways(
    engine: Engine, window: Interval, offline_after: int = OFFLINE_AFTER
) -> tuple[Intervals, Intervals]:
    """(through the rollup, with the rollup emptied: every sample read)."""
    with Session(engine) as session:
        fast = miner_down(session, MINER, window, offline_after)
    with engine.begin() as connection:
        connection.execute(delete(MINER_SAMPLE_ROLLUP))
    with Session(engine) as session:
        whole = miner_down(session, MINER, window, offline_after)
    return fast, whole


def _every(
    start: datetime, end: datetime, step: float, rate: float | None = 100e12
) -> list[Sample]:
    found, moment = [], start
    while moment < end:
        found.append((moment, rate, rate))
        moment += timedelta(seconds=step)
    return found


def test_a_miner_at_0_hs_while_reporting_is_down_to_the_next_sample(
    session: Session, engine: Engine
) -> None:
    window = Interval(NOW - timedelta(hours=3), NOW)
    zero_from = NOW - timedelta(hours=1, seconds=7)
    samples = (
        _every(window.start - timedelta(minutes=5), zero_from, 10)
        + _every(zero_from, zero_from + timedelta(minutes=4), 10, 0.0)
        + _every(zero_from + timedelta(minutes=4), NOW, 10)
    )
    _store_samples(engine, samples)
    fast, whole = _down_both_ways(engine, window)
    assert fast == whole == _reference(samples, window)
    assert fast == [Interval(zero_from, zero_from + timedelta(minutes=4))]


def test_a_gap_across_a_minute_boundary_is_found_through_the_rollup(
    session: Session, engine: Engine
) -> None:
    window = Interval(NOW - timedelta(hours=3), NOW)
    last = datetime(2026, 11, 30, 10, 13, 59, 900_000, tzinfo=UTC)  # 0.1 s before a minute
    # Half a second over the threshold (SQLite's date functions keep milliseconds).
    back = last + timedelta(seconds=OFFLINE_AFTER + 0.5)
    samples = [*_every(window.start - timedelta(minutes=1), last, 20), (last, 1e12, 1e12)]
    samples += _every(back, NOW, 20)
    _store_samples(engine, samples)
    fast, whole = _down_both_ways(engine, window)
    assert fast == whole == _reference(samples, window)
    assert fast == [Interval(last + timedelta(seconds=OFFLINE_AFTER), back)]


def test_samples_in_the_newest_partial_minute_end_the_silence(
    session: Session, engine: Engine
) -> None:
    window = Interval(NOW - timedelta(hours=1), NOW)
    minute = NOW.replace(second=0, microsecond=0)
    samples = _every(window.start, minute - timedelta(minutes=10), 10)
    samples += [(minute + timedelta(milliseconds=100), 5e12, 5e12)]  # after the silence
    _store_samples(engine, samples)
    fast, whole = _down_both_ways(engine, window)
    assert fast == whole == _reference(samples, window)
    assert fast[-1].end == minute + timedelta(milliseconds=100)


def test_a_miner_silent_across_both_window_edges(session: Session, engine: Engine) -> None:
    window = Interval(NOW - timedelta(hours=2), NOW)
    samples: list[Sample] = [(window.start - timedelta(minutes=30), 1e12, 1e12)]
    samples += _every(window.start + timedelta(minutes=20), NOW - timedelta(minutes=30), 15)
    _store_samples(engine, samples)
    fast, whole = _down_both_ways(engine, window)
    assert fast == whole == _reference(samples, window)
    assert fast[0].start < window.start and fast[-1].end == window.end


def test_a_window_in_the_past_reads_the_sample_after_it(session: Session, engine: Engine) -> None:
    window = Interval(NOW - timedelta(hours=5), NOW - timedelta(hours=2))
    samples = _every(window.start - timedelta(minutes=3), window.end - timedelta(minutes=7), 10)
    samples += _every(window.end + timedelta(minutes=1), NOW, 10)
    _store_samples(engine, samples)
    fast, whole = _down_both_ways(engine, window)
    assert fast == whole == _reference(samples, window)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_miner_read_through_its_rollup_equals_every_sample_read(
    session: Session, engine: Engine, seed: int
) -> None:
    """Random cadence, silences of every length around the threshold, 0 H/s, missing
    hashrates, a 15-minute rate alone at 0."""
    rng = random.Random(seed)
    window = Interval(NOW - timedelta(days=2), NOW)
    samples: list[Sample] = []
    moment = window.start - timedelta(minutes=rng.uniform(0, 20))
    while moment < NOW + timedelta(minutes=5):
        roll = rng.random()
        if roll < 0.01:
            h1, h15 = 0.0, rng.choice([0.0, None, 3e12])
        elif roll < 0.015:
            h1, h15 = None, 0.0
        elif roll < 0.02:
            h1, h15 = None, None
        else:
            h1 = h15 = rng.uniform(50e12, 120e12)
        samples.append((moment, h1, h15))
        if rng.random() < 0.01:
            moment += timedelta(seconds=rng.choice([OFFLINE_AFTER, OFFLINE_AFTER + 0.5, 250, 3600]))
        else:
            moment += timedelta(seconds=rng.uniform(5, 40))
    _store_samples(engine, samples)
    fast, whole = _down_both_ways(engine, window)
    assert fast == whole == _reference(samples, window)
    assert fast  # the history has outages to find


@pytest.mark.parametrize("seed", [3, 4])
def test_samples_the_fold_has_not_reached_are_read_whole(
    session: Session, engine: Engine, seed: int
) -> None:
    """Stored out of time order and folded only in part: the backlog can sit anywhere in the
    window, and the rollup's minutes are trusted only before its oldest sample."""
    rng = random.Random(seed)
    window = Interval(NOW - timedelta(hours=6), NOW)
    samples: list[Sample] = []
    moment = window.start - timedelta(minutes=5)
    while moment < NOW + timedelta(minutes=2):
        samples.append((moment, 0.0 if rng.random() < 0.01 else 80e12, None))
        gap = rng.choice([OFFLINE_AFTER + 1, 900]) if rng.random() < 0.02 else rng.uniform(5, 30)
        moment += timedelta(seconds=gap)
    shuffled = samples[:]
    rng.shuffle(shuffled)
    _store_samples(engine, shuffled, rollup=False)
    fold_step(engine, limit=len(samples) * 3 // 4)
    fast, whole = _down_both_ways(engine, window)
    assert fast == whole == _reference(samples, window)
    assert fast


def test_more_stretches_than_one_statement_holds_are_joined(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(miner_down_module, "MAX_STRETCHES", 3)
    window = Interval(NOW - timedelta(hours=6), NOW)
    samples: list[Sample] = []
    for hour in range(6):
        start = window.start + timedelta(hours=hour)
        samples += _every(start, start + timedelta(minutes=40), 10)  # 20 min silent each hour
    _store_samples(engine, samples)
    fast, whole = _down_both_ways(engine, window)
    assert fast == whole == _reference(samples, window)
    assert len(fast) == 6


def test_a_threshold_under_a_minute_reads_every_sample(session: Session, engine: Engine) -> None:
    window = Interval(NOW - timedelta(hours=1), NOW)
    samples = [*_every(window.start, NOW, 25), (NOW - timedelta(seconds=1), 1e12, 1e12)]
    _store_samples(engine, samples)
    fast, whole = _down_both_ways(engine, window, offline_after=20)
    assert fast == whole
    assert len(fast) > 100


def test_the_miner_report_is_the_same_with_or_without_its_rollup(
    session: Session, engine: Engine
) -> None:
    window = Interval(NOW - timedelta(days=1), NOW)
    samples = _every(window.start, NOW - timedelta(hours=5), 10) + _every(
        NOW - timedelta(hours=4), NOW, 10, 0.0
    )
    miner = _store_samples(engine, samples)
    with Session(engine) as fresh:
        fast = miner_time(fresh, miner, window, OFFLINE_AFTER)
    with engine.begin() as connection:
        connection.execute(delete(MINER_SAMPLE_ROLLUP))
    with Session(engine) as fresh:
        whole = miner_time(fresh, miner, window, OFFLINE_AFTER)
    assert fast == whole


def test_stored_moments_read_as_exact_microseconds(session: Session) -> None:
    moments = [
        datetime(2026, 11, 30, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 11, 30, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 11, 30, 12, 0, 0, 999_500, tzinfo=UTC),  # rounds up to a second in ms
        datetime(2026, 11, 30, 12, 0, 0, 500, tzinfo=UTC),
        datetime(2038, 1, 19, 3, 14, 8, 123_456, tzinfo=UTC),
        datetime(2000, 2, 29, 0, 0, tzinfo=UTC),
    ]
    session.add(Agent(id="a1", name="A1", domain="ops", status="online", last_seen_at=NOW))
    session.flush()
    session.add_all(
        AgentStatusChange(agent_id="a1", at=at, from_status=None, to_status="online")
        for at in moments
    )
    session.commit()
    dialect = session.get_bind().dialect.name
    column = col(AgentStatusChange.at)
    read = session.execute(select(micros(column, dialect)).order_by(column)).scalars().all()
    assert read == sorted(microseconds(moment) for moment in moments)


@pytest.mark.parametrize("seed", [21, 22])
def test_several_miners_read_together_equal_each_read_alone(
    session: Session, engine: Engine, seed: int
) -> None:
    """miners_down (a list page's rows: edges and rollup minutes read for all at once)."""
    rng = random.Random(seed)
    window = Interval(NOW - timedelta(hours=6), NOW)
    rows: list[dict[str, Any]] = []
    miners = [f"rig-{index}" for index in range(6)]
    for miner_id in miners[:-1]:  # the last one has no sample at all
        moment = window.start - timedelta(minutes=rng.uniform(0, 30))
        while moment < NOW + timedelta(minutes=rng.choice([-90, 0, 3])):
            rate = 0.0 if rng.random() < 0.02 else rng.uniform(1e12, 2e12)
            rows.append({"miner_id": miner_id, "recorded_at": moment, "hashrate_1m": rate})
            gap = OFFLINE_AFTER * rng.choice([2, 5]) if rng.random() < 0.02 else 20
            moment += timedelta(seconds=gap)
    with engine.begin() as connection:
        connection.execute(insert(SQLModel.metadata.tables["minersample"]), rows)
        for miner_id in miners:
            connection.execute(
                insert(Miner.__table__),  # type: ignore[attr-defined]
                [{"miner_id": miner_id, "first_seen_at": window.start, "last_recorded_at": NOW}],
            )
    fold_all(engine)
    together = miners_down(session, miners, window, OFFLINE_AFTER)
    alone = {miner_id: miner_down(session, miner_id, window, OFFLINE_AFTER) for miner_id in miners}
    assert together == alone
    assert any(together.values())
