"""An agent's reported memory over time, downsampled like the miner charts."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from app.agents.service import get_agent
from app.core.downsampling import SeriesStats, bucketed, more_rows_than, plan_buckets
from app.models import AgentMemorySample
from app.models.agent import AgentMemorySeries

SERIES_NAME = "memoryUsedMB"


def memory_series(
    *, session: Session, agent_id: str, since: datetime, until: datetime, points: int
) -> AgentMemorySeries:
    """At most `points` min/max/avg points over [since, until); 404 for unknown agents."""
    get_agent(session=session, agent_id=agent_id)
    in_window = and_(
        col(AgentMemorySample.agent_id) == agent_id,
        col(AgentMemorySample.recorded_at) >= since,
        col(AgentMemorySample.recorded_at) < until,
    )
    bucket_seconds: int | None = None
    if not more_rows_than(
        session, id_column=col(AgentMemorySample.id), where=in_window, limit=points
    ):
        rows = session.exec(
            select(AgentMemorySample.recorded_at, AgentMemorySample.memory_used_mb)
            .where(in_window)
            .order_by(col(AgentMemorySample.recorded_at))
        ).all()
        t = [round(recorded_at.timestamp(), 6) for recorded_at, _ in rows]
        values: list[float | None] = [memory for _, memory in rows]
        series = {SERIES_NAME: SeriesStats(min=values, max=values, avg=values)}
    else:
        plan = plan_buckets(since, until, points)
        bucket_seconds = plan.seconds
        t, series = bucketed(
            session,
            time_column=col(AgentMemorySample.recorded_at),
            metrics=[(SERIES_NAME, col(AgentMemorySample.memory_used_mb))],
            where=in_window,
            plan=plan,
        )
    return AgentMemorySeries(
        agent_id=agent_id,
        since=since,
        until=until,
        bucket_seconds=bucket_seconds,
        points=len(t),
        t=t,
        series=series,
    )


@dataclass(frozen=True)
class MemorySummary:
    """An agent's reported memory over a window: the chart's no-JavaScript fallback."""

    samples: int
    latest: float | None
    minimum: float | None
    maximum: float | None


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
