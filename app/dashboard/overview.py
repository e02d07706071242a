"""The Overview page's snapshot: the named problems, fleet summary, metric tiles, the hottest
miner, recent events.

It composes the agents', events', mobile summary's and metric tiles' services; what the agent
pages need lives with the agents (counts, domains, memory) and the runbooks (which apply).
"""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col

from app.agents import service as agent_service
from app.agents.events import EventQuery, list_events
from app.alerts.health import judge_fleet, problem_words
from app.alerts.health_schemas import Problem
from app.dashboard import metric_tiles as dashboard_metrics
from app.dashboard.mobile import fleet_summary
from app.miners.fleet import ProfileTotal, miner_rows, profile_totals
from app.miners.queries import fleet_columns, newest_sample_select
from app.models import AgentEvent, Metric, MinerSample
from app.models.mobile import FleetSummary

# What problem_words() says of a subject that is down: it stopped answering altogether.
DOWN_WORDS = frozenset({"offline", "not reporting"})


@dataclass(frozen=True)
class NamedProblem:
    """A problem as the Overview names it: "offline", "not reporting" or "critical"."""

    problem: Problem
    words: str


@dataclass(frozen=True)
class HottestMiner:
    miner_id: str
    temperature_c: float


@dataclass(frozen=True)
class FleetOverview:
    """What the overview page shows, read at one moment."""

    summary: FleetSummary
    # Every agent and miner whose health is not ok, worst first, then oldest (SPEC §11).
    problems: list[Problem]
    # Those of them that are down or critical, in the same order: the page's first lines.
    down: list[NamedProblem]
    metrics: list[Metric]
    hottest: HottestMiner | None
    events: list[AgentEvent]
    agent_names: dict[str, str]
    # Hashrate per profile: one algorithm's units each, never summed across (issue 13).
    profiles: list[ProfileTotal]


def fleet_overview(
    *, session: Session, now: datetime, offline_after: int, recent: int = 10
) -> FleetOverview:
    """The problems, agent counts by shown status, metric tiles, miner totals and the newest
    events; one judgement of the fleet for both the problems and the counts."""
    metrics, _ = dashboard_metrics.list_metrics(session=session)
    events, _ = list_events(session=session, query=EventQuery(), limit=recent)
    judgement = judge_fleet(session, now=now)
    return FleetOverview(
        summary=fleet_summary(
            session=session, now=now, offline_after=offline_after, judgement=judgement
        ),
        problems=judgement.problems,
        down=down_or_critical(judgement.problems),
        metrics=metrics,
        hottest=hottest_miner(session=session),
        events=events,
        agent_names=agent_service.agent_names(
            session=session, agent_ids={event.agent_id for event in events}
        ),
        # The Miners page's totals, from the same rows (health plays no part in them).
        profiles=profile_totals(
            miner_rows(
                fleet_columns(session=session),
                healths={},
                problems=[],
                now=now,
                stale_after=offline_after,
            )
        ),
    )


def down_or_critical(problems: list[Problem]) -> list[NamedProblem]:
    """The problems whose subject is down (offline, not reporting) or critical, in order."""
    named = (NamedProblem(problem, problem_words(problem)) for problem in problems)
    return [item for item in named if item.words in DOWN_WORDS or item.problem.health == "critical"]


def hottest_miner(*, session: Session) -> HottestMiner | None:
    """The miner whose newest sample reports the highest temperature, if any reports one."""
    row = session.execute(
        newest_sample_select(MinerSample.miner_id, MinerSample.temperature_c, sampled_only=True)
        .where(col(MinerSample.temperature_c).is_not(None))
        .order_by(col(MinerSample.temperature_c).desc(), col(MinerSample.miner_id))
        .limit(1)
    ).first()
    if row is None or row[1] is None:
        return None
    return HottestMiner(miner_id=row[0], temperature_c=row[1])
