"""Arrange agents, events and status changes directly in the database (tests of the agents area)."""

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, func, select

from app.core.timeutil import utcnow
from app.models import Agent, AgentEvent, AgentStatusChange


def add_agent(session: Session, agent_id: str, **fields: Any) -> Agent:
    """An agent seen now (unless `last_seen_at` is given), reporting online."""
    values: dict[str, Any] = {
        "name": f"Agent {agent_id}",
        "domain": "ops",
        "status": "online",
        "memory_used_mb": 100.0,
        "last_seen_at": utcnow(),
        "version": "1.0.0",
    }
    values.update(fields)
    agent = Agent(id=agent_id, **values)
    session.add(agent)
    session.commit()
    return agent


def add_events(
    session: Session,
    agent_id: str,
    count: int,
    *,
    start: datetime | None = None,
    step: timedelta = timedelta(seconds=1),
    kind: str = "heartbeat",
    prefix: str = "ev",
) -> list[AgentEvent]:
    """`count` events of one agent, one `step` apart from `start` (oldest first)."""
    start = start or utcnow() - step * count
    rows = [
        AgentEvent(
            id=f"{prefix}-{agent_id}-{index:05d}",
            agent_id=agent_id,
            kind=kind,
            at=start + step * index,
            message=f"message {index}",
        )
        for index in range(count)
    ]
    session.add_all(rows)
    session.commit()
    return rows


def count_rows(session: Session, model: type[Any]) -> int:
    """Rows of a table as the database has them now."""
    session.expire_all()
    return int(session.exec(select(func.count()).select_from(model)).one())


def status_changes(session: Session, agent_id: str) -> list[tuple[str | None, str]]:
    """(from, to) of an agent's recorded status changes, oldest first."""
    session.expire_all()
    rows = session.exec(
        select(AgentStatusChange)
        .where(AgentStatusChange.agent_id == agent_id)
        .order_by(AgentStatusChange.at, AgentStatusChange.id)  # type: ignore[arg-type]
    ).all()
    return [(row.from_status, row.to_status) for row in rows]
