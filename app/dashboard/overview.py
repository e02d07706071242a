"""Read-only views for the overview and agent pages: fleet snapshot, domains, counts, runbooks.

Everything here composes the existing services (agents, events, mobile summary, metrics,
runbooks) and adds only the small aggregates those pages need.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.agents.events import EventQuery, list_events
from app.agents.service import AgentQuery, filtered_agents
from app.dashboard import metric_tiles as dashboard_metrics
from app.dashboard.mobile import fleet_summary
from app.models import Agent, AgentEvent, AgentMemorySample, Metric, Miner, MinerSample, Runbook
from app.models.mobile import FleetSummary
from app.runbooks import service as runbooks

# Runbooks tagged this apply to any agent that no runbook names by domain or id.
GENERAL_RUNBOOK_TAG = "ops"


@dataclass(frozen=True)
class HottestMiner:
    miner_id: str
    temperature_c: float


@dataclass(frozen=True)
class FleetOverview:
    """What the overview page shows, read at one moment."""

    summary: FleetSummary
    metrics: list[Metric]
    hottest: HottestMiner | None
    events: list[AgentEvent]
    agent_names: dict[str, str]


@dataclass(frozen=True)
class MemorySummary:
    """An agent's reported memory over a window: the chart's no-JavaScript fallback."""

    samples: int
    latest: float | None
    minimum: float | None
    maximum: float | None


@dataclass(frozen=True)
class ApplicableRunbooks:
    """Runbooks for an agent; `specific` is False when they are the general fallback."""

    runbooks: list[Runbook]
    specific: bool


def fleet_overview(
    *, session: Session, now: datetime, offline_after: int, recent: int = 10
) -> FleetOverview:
    """Agent counts by shown status, metric tiles, miner totals and the newest events."""
    metrics, _ = dashboard_metrics.list_metrics(session=session)
    events, _ = list_events(session=session, query=EventQuery(), limit=recent)
    return FleetOverview(
        summary=fleet_summary(session=session, now=now, offline_after=offline_after),
        metrics=metrics,
        hottest=hottest_miner(session=session),
        events=events,
        agent_names=agent_names(session=session, agent_ids={event.agent_id for event in events}),
    )


def hottest_miner(*, session: Session) -> HottestMiner | None:
    """The miner whose newest sample reports the highest temperature, if any reports one."""
    row = session.exec(
        select(MinerSample.miner_id, MinerSample.temperature_c)
        .join(Miner, col(Miner.last_sample_id) == col(MinerSample.id))
        .where(col(MinerSample.temperature_c).is_not(None))
        .order_by(col(MinerSample.temperature_c).desc(), col(MinerSample.miner_id))
        .limit(1)
    ).first()
    if row is None or row[1] is None:
        return None
    return HottestMiner(miner_id=row[0], temperature_c=row[1])


def agent_names(*, session: Session, agent_ids: Iterable[str]) -> dict[str, str]:
    """id → name for the given agents (unknown ids are left out)."""
    ids = sorted(set(agent_ids))
    if not ids:
        return {}
    rows = session.exec(select(Agent.id, Agent.name).where(col(Agent.id).in_(ids))).all()
    return {agent_id: name for agent_id, name in rows}


def agent_domains(*, session: Session) -> list[str]:
    """Every domain some agent belongs to, alphabetically (the agent filter's options)."""
    return list(session.exec(select(Agent.domain).distinct().order_by(col(Agent.domain))).all())


def count_agents(*, session: Session, query: AgentQuery, now: datetime, offline_after: int) -> int:
    """How many agents match the query's filters (its sort is irrelevant)."""
    matching = filtered_agents(query, now=now, offline_after=offline_after).order_by(None)
    return session.exec(select(func.count()).select_from(matching.subquery())).one()


def memory_summary(*, session: Session, agent_id: str, since: datetime) -> MemorySummary:
    """Count, min, max and latest memory an agent reported since `since`."""
    in_window = (
        col(AgentMemorySample.agent_id) == agent_id,
        col(AgentMemorySample.recorded_at) >= since,
    )
    count, minimum, maximum = session.exec(
        select(
            func.count(),
            func.min(AgentMemorySample.memory_used_mb),
            func.max(AgentMemorySample.memory_used_mb),
        ).where(*in_window)
    ).one()
    latest = session.exec(
        select(AgentMemorySample.memory_used_mb)
        .where(*in_window)
        .order_by(col(AgentMemorySample.recorded_at).desc(), col(AgentMemorySample.id).desc())
        .limit(1)
    ).first()
    return MemorySummary(samples=count, latest=latest, minimum=minimum, maximum=maximum)


def runbooks_for_agent(*, session: Session, agent: Agent) -> ApplicableRunbooks:
    """Runbooks tagged with the agent's domain or id; else the general `ops` runbooks.

    Tags are how runbooks name what they operate on: a tag equal to a domain (`data`) covers
    every agent of that domain, a tag equal to an agent id covers that agent alone.
    """
    found: dict[str, Runbook] = {}
    for tag in dict.fromkeys((agent.domain, agent.id)):
        for runbook in runbooks.list_runbooks(session=session, tag=tag)[0]:
            found.setdefault(runbook.id, runbook)
    if found:
        ordered = sorted(found.values(), key=lambda runbook: (runbook.title, runbook.id))
        return ApplicableRunbooks(runbooks=ordered, specific=True)
    general, _ = runbooks.list_runbooks(session=session, tag=GENERAL_RUNBOOK_TAG)
    return ApplicableRunbooks(runbooks=general, specific=False)
