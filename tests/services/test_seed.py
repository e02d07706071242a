"""The demo seed: the earlier seed's recognisable values, a day of samples, determinism."""

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app.agents.status import effective_status
from app.models import (
    Agent,
    AgentEvent,
    AgentMemorySample,
    AgentStatusChange,
    Metric,
    Miner,
    MinerSample,
    Runbook,
)
from app.models.agent import EVENT_KINDS
from app.ops import seed
from tests.support.db import wipe
from tests.support.factories import make_agent

NOW = datetime(2026, 1, 5, 10, 0, 30, tzinfo=UTC)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    wipe(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def seeded(session: Session) -> seed.SeedSummary:
    return seed.seed_demo(session=session, now=NOW)


def _count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_an_empty_database_has_no_data_and_a_seeded_one_has(session: Session) -> None:
    assert not seed.has_data(session=session)
    seed.seed_demo(session=session, now=NOW)
    assert seed.has_data(session=session)


@pytest.mark.parametrize("model", [Agent, Runbook, Metric, MinerSample])
def test_any_agent_runbook_metric_or_sample_counts_as_data(session: Session, model: type) -> None:
    rows = {
        Agent: make_agent("a", name="A", domain="ops"),
        Runbook: Runbook(id="r", title="R"),
        Metric: Metric(metric_id="m", title="M"),
        MinerSample: MinerSample(miner_id="x", recorded_at=NOW),
    }
    session.add(rows[model])
    session.commit()
    assert seed.has_data(session=session)


def test_agents_keep_the_earlier_seeds_names_and_domains(
    session: Session, seeded: seed.SeedSummary
) -> None:
    agents = {agent.id: agent for agent in session.exec(select(Agent)).all()}
    assert sorted(agents) == [f"agent-{n}" for n in range(1, 9)]
    assert seeded.agents == 8
    domains = ["infrastructure", "data", "security", "ops", "finance"]
    for n in range(1, 9):
        agent = agents[f"agent-{n}"]
        assert agent.name == f"Ops Agent {n}"
        assert agent.domain == domains[(n - 1) % 5]
        assert agent.memory_used_mb > 0
        assert agent.version


def test_most_agents_are_online_one_degraded_one_long_silent(
    session: Session, seeded: seed.SeedSummary
) -> None:
    shown = {
        agent.id: effective_status(agent, NOW, 300) for agent in session.exec(select(Agent)).all()
    }
    assert sorted(shown.values()).count("online") == 6
    assert shown["agent-5"] == "degraded"
    assert shown["agent-8"] == "offline"
    silent = session.get(Agent, "agent-8")
    assert silent is not None and silent.last_seen_at is not None
    assert NOW - silent.last_seen_at > timedelta(hours=1)


def test_status_histories_go_back_30_days_with_a_few_outages(
    session: Session, seeded: seed.SeedSummary
) -> None:
    changes = sorted(session.exec(select(AgentStatusChange)).all(), key=_at)
    assert min(change.at for change in changes) == NOW.replace(microsecond=0) - timedelta(days=30)
    offline = [
        (change.agent_id, change.at)
        for change in changes
        if change.to_status == "offline" and change.agent_id != "agent-8"
    ]
    assert sorted(agent for agent, _ in offline) == ["agent-2", "agent-4", "agent-4", "agent-6"]


def test_events_and_status_history_cover_the_last_day(
    session: Session, seeded: seed.SeedSummary
) -> None:
    events = session.exec(select(AgentEvent)).all()
    assert len(events) == seeded.events
    assert {event.kind for event in events} == set(EVENT_KINDS)
    assert all(NOW - timedelta(days=1) <= event.at <= NOW for event in events)
    assert {event.agent_id for event in events} == {f"agent-{n}" for n in range(1, 9)}
    changes = session.exec(select(AgentStatusChange)).all()
    assert len(changes) == seeded.status_changes
    last_change = {change.agent_id: change.to_status for change in sorted(changes, key=_at)}
    assert last_change["agent-5"] == "degraded"
    assert last_change["agent-8"] == "offline"
    assert last_change["agent-1"] == "online"


def test_each_agent_has_a_day_of_memory_ending_at_its_current_value(
    session: Session, seeded: seed.SeedSummary
) -> None:
    points = session.exec(
        select(AgentMemorySample).order_by(col(AgentMemorySample.recorded_at))
    ).all()
    assert len(points) == seeded.memory_samples
    for agent in session.exec(select(Agent)).all():
        mine = [point for point in points if point.agent_id == agent.id]
        assert len(mine) > 10
        assert mine[-1].memory_used_mb == agent.memory_used_mb
        assert mine[-1].recorded_at == agent.last_seen_at
        assert all(NOW - timedelta(days=1) < point.recorded_at <= NOW for point in mine)


def _at(change: AgentStatusChange) -> datetime:
    return change.at


def test_metrics_are_the_earlier_seeds_tiles(session: Session, seeded: seed.SeedSummary) -> None:
    metrics = {metric.metric_id: metric for metric in session.exec(select(Metric)).all()}
    uptime, latency = metrics["uptime"], metrics["latency"]
    assert (uptime.title, uptime.value, uptime.caption, uptime.icon, uptime.status) == (
        "Platform Uptime",
        "99.95%",
        "Last 24h",
        "activity",
        "good",
    )
    assert (latency.title, latency.value, latency.caption, latency.icon, latency.status) == (
        "Gateway P99 Latency",
        "420ms",
        "Last 5m",
        "zap",
        "warning",
    )


def test_runbooks_require_a_service_and_accept_a_window(
    session: Session, seeded: seed.SeedSummary
) -> None:
    runbooks = {runbook.id: runbook for runbook in session.exec(select(Runbook)).all()}
    assert sorted(runbooks) == [f"runbook-{n}" for n in range(1, 7)]
    for n in range(1, 7):
        runbook = runbooks[f"runbook-{n}"]
        assert runbook.title == f"Operational Task {n}"
        assert runbook.tags == ["ops", "standard"]
        assert runbook.linked_workflow == f"roadglitch.workflow.{n}"
    validator = jsonschema.Draft202012Validator(runbooks["runbook-1"].inputs_schema)
    assert validator.is_valid({"service": "api"})
    assert validator.is_valid({"service": "api", "window": "02:00-03:00"})
    assert not validator.is_valid({})
    assert not validator.is_valid({"service": 5})
    assert not validator.is_valid({"service": "api", "window": 3})


def test_several_miners_get_a_day_of_samples_one_a_minute_but_for_an_outage(
    session: Session, seeded: seed.SeedSummary
) -> None:
    per_miner = dict(
        session.exec(
            select(MinerSample.miner_id, func.count()).group_by(col(MinerSample.miner_id))
        ).all()
    )
    assert "xmrig" in per_miner
    assert len(per_miner) >= 3
    # xmrig-edge was silent for 47 minutes; every other miner reported every minute.
    assert per_miner.pop("xmrig-edge") == 1440 - 47
    assert set(per_miner.values()) == {1440}
    assert seeded.samples == sum(per_miner.values()) + 1440 - 47
    times = session.exec(
        select(MinerSample.recorded_at)
        .where(MinerSample.miner_id == "xmrig")
        .order_by(col(MinerSample.recorded_at))
    ).all()
    assert times[-1] - times[0] == timedelta(minutes=1439)
    assert times[-1] <= NOW
    steps = {later - earlier for earlier, later in itertools.pairwise(times)}
    assert steps == {timedelta(minutes=1)}


def test_samples_look_like_a_working_miner(session: Session, seeded: seed.SeedSummary) -> None:
    samples = session.exec(
        select(MinerSample)
        .where(MinerSample.miner_id == "xmrig")
        .order_by(col(MinerSample.recorded_at))
    ).all()
    rates = [sample.hashrate_1m or 0 for sample in samples]
    assert min(rates) > 0
    assert len(set(rates)) > 100  # a random walk, not a constant
    temperatures = [sample.temperature_c or 0 for sample in samples]
    assert 40 < min(temperatures) < max(temperatures) < 100
    accepted = [sample.shares_accepted for sample in samples]
    assert accepted == sorted(accepted) and accepted[-1] > accepted[0]  # running totals


def test_every_demo_miner_points_at_its_newest_sample(
    session: Session, seeded: seed.SeedSummary
) -> None:
    for miner in session.exec(select(Miner)).all():
        newest = session.exec(
            select(MinerSample)
            .where(MinerSample.miner_id == miner.miner_id)
            .order_by(col(MinerSample.recorded_at).desc())
        ).first()
        assert newest is not None
        assert miner.last_sample_id == newest.id
        assert miner.last_recorded_at == newest.recorded_at


def test_seeding_again_replaces_demo_rows_and_keeps_the_others(session: Session) -> None:
    first = seed.seed_demo(session=session, now=NOW)
    xmrig_before = _xmrig_series(session)
    session.add(make_agent("my-agent", name="Mine", domain="ops"))
    session.commit()
    again = seed.seed_demo(session=session, now=NOW)
    assert again == first
    assert _count(session, Agent) == 9
    assert session.get(Agent, "my-agent") is not None
    assert _count(session, MinerSample) == first.samples
    assert _count(session, AgentEvent) == first.events
    assert _xmrig_series(session) == xmrig_before  # same seed, same moment: same data


def _xmrig_series(session: Session) -> list[tuple[datetime, float | None, float | None]]:
    rows = session.exec(
        select(MinerSample)
        .where(MinerSample.miner_id == "xmrig")
        .order_by(col(MinerSample.recorded_at))
    ).all()
    return [(row.recorded_at, row.hashrate_1m, row.temperature_c) for row in rows]
