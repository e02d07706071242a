"""Demo data: the earlier seed's recognisable fleet, runbooks and metrics, plus a day of miners.

Values follow SPEC Appendix A "Seed" so screenshots and client tests written against the earlier
service still recognise them. Everything random comes from one seeded generator: two seeds of
the same moment produce the same rows.

The fleet also has a past worth reporting on (SPEC §13, §14): agents' status histories go back
30 days with a few outages (one inside a maintenance window), a miner stopped reporting for
47 minutes, another hashed 0 H/s for 25 minutes while still reporting, and one ASIC runs hot
and inefficient (87 °C, 80 % of its expected hashrate, 45 J/TH beside its twin's 34).
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select

from app.core.timeutil import utcnow
from app.miners.fold import fold_all
from app.miners.ingest import record_samples
from app.models import (
    Agent,
    AgentEvent,
    AgentMemorySample,
    AgentStatusChange,
    Metric,
    Miner,
    MinerSample,
    Runbook,
    RunbookRun,
    Setting,
    Silence,
)
from app.ops.seed_miners import DEMO_MINERS, demo_samples, describe_miners

Progress = Callable[[str], None]

DOMAINS = ("infrastructure", "data", "security", "ops", "finance")
AGENT_COUNT = 8
RUNBOOK_COUNT = 6
DEGRADED_AGENT = "agent-5"
OFFLINE_AGENT = "agent-8"
HISTORY_DAYS = 30  # how far back the agents' status histories go
# Past outages of agents, as (agent, days ago it started, minutes offline): agent-2's is the
# issue's worked example (2 h 13 min in 30 days: 99.692 %).
AGENT_OUTAGES = (
    ("agent-2", 12, 133),
    ("agent-4", 3, 35),
    ("agent-4", 26, 8),
    ("agent-6", 7, 52),
)
# agent-4's outage of 3 days ago fell inside a planned maintenance window (counted apart).
MAINTENANCE_ID = "demo-maintenance-agent-4"
MEMORY_INTERVAL = timedelta(minutes=5)
RANDOM_SEED = 20_260_105

DEMO_METRICS: tuple[dict[str, str], ...] = (
    {
        "metric_id": "uptime",
        "title": "Platform Uptime",
        "value": "99.95%",
        "caption": "Last 24h",
        "icon": "activity",
        "status": "good",
    },
    {
        "metric_id": "latency",
        "title": "Gateway P99 Latency",
        "value": "420ms",
        "caption": "Last 5m",
        "icon": "zap",
        "status": "warning",
    },
)

DEMO_SETTINGS: dict[str, str] = {
    "org.name": "Prism Demo Fleet",
    "dashboard.refresh_seconds": "15",
    "miners.default_id": "xmrig",
    "ops.oncall": "ops-team@example.com",
}

RUNBOOK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "service": {"type": "string", "title": "Service", "description": "Service to act on"},
        "window": {
            "type": "string",
            "title": "Window",
            "description": "Maintenance window, e.g. 02:00-03:00 UTC",
        },
    },
    "required": ["service"],
}


@dataclass(frozen=True)
class SeedSummary:
    """How many rows of each kind the seed wrote."""

    agents: int
    events: int
    status_changes: int
    memory_samples: int
    runbooks: int
    metrics: int
    settings: int
    miners: int
    samples: int


def demo_agent_ids() -> list[str]:
    return [f"agent-{n}" for n in range(1, AGENT_COUNT + 1)]


def demo_runbook_ids() -> list[str]:
    return [f"runbook-{n}" for n in range(1, RUNBOOK_COUNT + 1)]


def has_data(*, session: Session) -> bool:
    """Whether any agent, runbook, metric or miner sample exists (the seed's "non-empty")."""
    for model in (Agent, Runbook, Metric, MinerSample):
        if session.exec(select(func.count()).select_from(model)).one():
            return True
    return False


def seed_demo(
    *, session: Session, now: datetime | None = None, progress: Progress | None = None
) -> SeedSummary:
    """Write the demo fleet, replacing earlier demo rows (same ids) and keeping all others."""
    now = (now or utcnow()).replace(microsecond=0)
    report = progress or (lambda _message: None)
    rng = random.Random(RANDOM_SEED)  # noqa: S311  (demo data, not security)

    report("removing earlier demo rows")
    _remove_demo_rows(session)
    report("writing agents, events, status history and memory samples")
    agents = _agents(rng, now)
    events = [event for agent in agents for event in _events(rng, agent, now)]
    changes = [change for agent in agents for change in _status_history(agent, now)]
    memory = [point for agent in agents for point in _memory(rng, agent, now)]
    session.add_all(agents)
    session.flush()  # parents first: events and history reference the agents
    session.add_all([*events, *changes, *memory])
    report("writing runbooks, metrics and settings")
    runbooks = _runbooks()
    metrics = [Metric.model_validate(values) for values in DEMO_METRICS]
    settings = [
        Setting(key=key, value=value, updated_at=now) for key, value in DEMO_SETTINGS.items()
    ]
    session.add_all([*runbooks, *metrics, *settings, _maintenance(now)])
    session.commit()

    end = now.replace(second=0)
    samples = 0
    for index, miner in enumerate(DEMO_MINERS, start=1):
        report(f"writing a day of samples for {miner.miner_id} ({index}/{len(DEMO_MINERS)})")
        samples += record_samples(session=session, rows=demo_samples(rng, miner, end))
    report("folding the samples into the rollups")
    engine = session.get_bind()
    if isinstance(engine, Engine):  # the service's fold job would do it within seconds
        fold_all(engine)
    describe_miners(session)
    return SeedSummary(
        agents=len(agents),
        events=len(events),
        status_changes=len(changes),
        memory_samples=len(memory),
        runbooks=len(runbooks),
        metrics=len(metrics),
        settings=len(settings),
        miners=len(DEMO_MINERS),
        samples=samples,
    )


def _remove_demo_rows(session: Session) -> None:
    # Children explicitly: ON DELETE CASCADE only fires where SQLite's foreign_keys is on.
    agent_ids = demo_agent_ids()
    runbook_ids = demo_runbook_ids()
    miner_ids = [miner.miner_id for miner in DEMO_MINERS]
    session.exec(delete(AgentEvent).where(col(AgentEvent.agent_id).in_(agent_ids)))
    session.exec(delete(AgentStatusChange).where(col(AgentStatusChange.agent_id).in_(agent_ids)))
    session.exec(delete(AgentMemorySample).where(col(AgentMemorySample.agent_id).in_(agent_ids)))
    session.exec(delete(Agent).where(col(Agent.id).in_(agent_ids)))
    session.exec(delete(RunbookRun).where(col(RunbookRun.runbook_id).in_(runbook_ids)))
    session.exec(delete(Runbook).where(col(Runbook.id).in_(runbook_ids)))
    metric_ids = [values["metric_id"] for values in DEMO_METRICS]
    session.exec(delete(Metric).where(col(Metric.metric_id).in_(metric_ids)))
    session.exec(delete(Setting).where(col(Setting.key).in_(list(DEMO_SETTINGS))))
    session.exec(delete(Silence).where(col(Silence.id) == MAINTENANCE_ID))
    session.exec(delete(Miner).where(col(Miner.miner_id).in_(miner_ids)))
    session.exec(delete(MinerSample).where(col(MinerSample.miner_id).in_(miner_ids)))
    session.flush()


def _maintenance(now: datetime) -> Silence:
    """The planned window agent-4's outage of 3 days ago fell in (an hour, from 10 min before)."""
    _agent, days_ago, _minutes = AGENT_OUTAGES[1]
    start = now - timedelta(days=days_ago) - timedelta(minutes=10)
    return Silence(
        id=MAINTENANCE_ID,
        matchers={"subjectType": "agent", "subject": "agent-4"},
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        comment="Kernel upgrade and reboot (demo)",
        created_by="seed",
        created_at=start - timedelta(days=1),
    )


def _agents(rng: random.Random, now: datetime) -> list[Agent]:
    agents = []
    for number, agent_id in enumerate(demo_agent_ids(), start=1):
        status, last_seen = "online", now - timedelta(seconds=rng.randint(2, 45))
        if agent_id == DEGRADED_AGENT:
            status = "degraded"
        elif agent_id == OFFLINE_AGENT:
            status, last_seen = "offline", now - timedelta(hours=6, minutes=12)
        agents.append(
            Agent(
                id=agent_id,
                name=f"Ops Agent {number}",
                domain=DOMAINS[(number - 1) % len(DOMAINS)],
                status=status,
                memory_used_mb=round(rng.uniform(384, 3_584), 1),
                last_seen_at=last_seen,
                version="1.5.0" if number % 3 else "1.4.2",
            )
        )
    return agents


def _events(rng: random.Random, agent: Agent, now: datetime) -> list[AgentEvent]:
    """A day of one agent's life: a start, heartbeats every two hours, a warning, a result."""
    start = now - timedelta(hours=23, minutes=rng.randint(0, 50))
    timeline: list[tuple[datetime, str, str]] = [
        (start, "started", f"Agent started (version {agent.version})")
    ]
    last = agent.last_seen_at or now
    beat = start + timedelta(hours=2)
    while beat < last:
        memory = round(agent.memory_used_mb * rng.uniform(0.85, 1.05))
        timeline.append((beat, "heartbeat", f"Heartbeat OK, {memory} MB in use"))
        beat += timedelta(hours=2, minutes=rng.randint(-10, 10))
    middle = start + (last - start) / 2
    timeline.append((middle, "warn", "Memory above 80% of the configured limit"))
    task = ("nightly sync", "certificate rotation", "log compaction", "backup check")
    if agent.id in (DEGRADED_AGENT, OFFLINE_AGENT):
        timeline.append(
            (last - timedelta(minutes=3), "error", "Task failed: upstream timeout after 30s")
        )
    else:
        name = task[rng.randrange(len(task))]
        timeline.append((last - timedelta(minutes=20), "completed", f"Task completed: {name}"))
    timeline.sort()
    return [
        AgentEvent(id=f"evt-{agent.id}-{index:03d}", agent_id=agent.id, kind=kind, at=at, message=m)
        for index, (at, kind, m) in enumerate(timeline, start=1)
    ]


def _status_history(agent: Agent, now: datetime) -> list[AgentStatusChange]:
    start = now - timedelta(days=HISTORY_DAYS)
    history = [AgentStatusChange(agent_id=agent.id, from_status=None, to_status="online", at=start)]
    for agent_id, days_ago, minutes in AGENT_OUTAGES:
        if agent_id == agent.id:
            down = now - timedelta(days=days_ago)
            history += [
                AgentStatusChange(
                    agent_id=agent.id, from_status="online", to_status="offline", at=down
                ),
                AgentStatusChange(
                    agent_id=agent.id,
                    from_status="offline",
                    to_status="online",
                    at=down + timedelta(minutes=minutes),
                ),
            ]
    history.sort(key=lambda change: change.at)
    if agent.id == DEGRADED_AGENT:
        history.append(
            AgentStatusChange(
                agent_id=agent.id,
                from_status="online",
                to_status="degraded",
                at=now - timedelta(hours=3),
            )
        )
    if agent.id == OFFLINE_AGENT:
        went_quiet = agent.last_seen_at or now
        history += [
            AgentStatusChange(
                agent_id=agent.id,
                from_status="online",
                to_status="degraded",
                at=went_quiet - timedelta(hours=2),
            ),
            AgentStatusChange(
                agent_id=agent.id, from_status="degraded", to_status="offline", at=went_quiet
            ),
        ]
    return history


def _memory(rng: random.Random, agent: Agent, now: datetime) -> list[AgentMemorySample]:
    """What the agent's heartbeats reported over the day, ending at its current memory."""
    last = agent.last_seen_at or now
    moments = []
    at = last
    while at > now - timedelta(hours=24):
        moments.append(at)
        at -= MEMORY_INTERVAL
    points, memory = [], agent.memory_used_mb
    for at in moments:  # newest first: walk back from today's value
        points.append(AgentMemorySample(agent_id=agent.id, recorded_at=at, memory_used_mb=memory))
        memory = round(max(64.0, memory + rng.gauss(0, 0.01 * agent.memory_used_mb)), 1)
    return points[::-1]


def _runbooks() -> list[Runbook]:
    return [
        Runbook(
            id=f"runbook-{n}",
            title=f"Operational Task {n}",
            description=f"Standard operational procedure #{n}: checks, action, verification.",
            tags=["ops", "standard"],
            inputs_schema=RUNBOOK_SCHEMA,
            linked_workflow=f"roadglitch.workflow.{n}",
        )
        for n in range(1, RUNBOOK_COUNT + 1)
    ]
