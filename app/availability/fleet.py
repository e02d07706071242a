"""Every agent's time over one window in three statements, whatever the fleet size: the
newest status change before the window for each agent (a correlated LIMIT 1 through the
history's (agent_id, at) index), every change inside it, and the silences that meet it."""

from collections import defaultdict
from collections.abc import Iterator, Sequence

from sqlalchemy import select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from app.availability.history import (
    StatusChange,
    SubjectTime,
    agent_intervals,
    maintenance_of,
    silences_within,
)
from app.availability.intervals import Interval
from app.core.timeutil import as_utc
from app.models import Agent, AgentStatusChange


def agents_time(
    session: Session,
    window: Interval,
    offline_after: int,
    agent_ids: Sequence[str] | None = None,
) -> Iterator[tuple[Agent, SubjectTime]]:
    """(agent, its time over `window`) for every agent (or those of `agent_ids`), by id."""
    earlier = aliased(AgentStatusChange)
    before_id = (
        select(col(earlier.id))
        .where(col(earlier.agent_id) == col(Agent.id), col(earlier.at) < window.start)
        .order_by(col(earlier.at).desc(), col(earlier.id).desc())
        .limit(1)
        .correlate(Agent)
        .scalar_subquery()
    )
    last = aliased(AgentStatusChange)
    chosen = select(Agent, col(last.at), col(last.from_status), col(last.to_status)).outerjoin(
        last, col(last.id) == before_id
    )
    changes_inside = select(
        col(AgentStatusChange.agent_id),
        col(AgentStatusChange.at),
        col(AgentStatusChange.from_status),
        col(AgentStatusChange.to_status),
    ).where(col(AgentStatusChange.at) >= window.start, col(AgentStatusChange.at) < window.end)
    if agent_ids is not None:
        chosen = chosen.where(col(Agent.id).in_(list(agent_ids)))
        changes_inside = changes_inside.where(col(AgentStatusChange.agent_id).in_(list(agent_ids)))
    agents = session.execute(chosen.order_by(col(Agent.id))).all()
    inside: dict[str, list[StatusChange]] = defaultdict(list)
    for agent_id, at, from_status, to_status in session.execute(
        changes_inside.order_by(
            col(AgentStatusChange.agent_id), col(AgentStatusChange.at), col(AgentStatusChange.id)
        )
    ):
        inside[agent_id].append(StatusChange(as_utc(at), from_status, to_status))
    silences = silences_within(session, window)
    for agent, at, from_status, to_status in agents:
        changes = inside.get(agent.id, [])
        if at is not None:
            changes = [StatusChange(as_utc(at), from_status, to_status), *changes]
        down, known = agent_intervals(
            changes,
            reported=agent.status,
            last_seen_at=agent.last_seen_at,
            window=window,
            offline_after=offline_after,
        )
        maintenance = maintenance_of(
            silences, window, subject_type="agent", subject=agent.id, domain=agent.domain
        )
        yield agent, SubjectTime(down=down, maintenance=maintenance, known=known)
