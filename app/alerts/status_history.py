"""Derived agent status changes: the evaluator writes into the status history what silence
changed (went offline at lastSeenAt + offline_after, came back at lastSeenAt)."""

from datetime import datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from app.agents.status import effective_status_column, offline_cutoff
from app.core.timeutil import as_utc
from app.models import Agent, AgentStatusChange


def record_status_changes(
    session: Session, *, now: datetime, offline_after: int
) -> list[tuple[str, str]]:
    """Write the shown-status changes the heartbeats did not: an agent whose shown status
    (app/agents/status.py) differs from the last status in its history went offline by
    silence at lastSeenAt + offline_after, or came back at lastSeenAt. Returns (agent, new
    status) of each row written (one SELECT, one INSERT, whatever the fleet).

    Heartbeats and admin edits record the reported status when it changes, so only silence
    makes the two differ. A row is never dated before the one it follows (an admin may set
    lastSeenAt back), and an agent never seen has no shown status to record.
    """
    newer = aliased(AgentStatusChange)
    last = aliased(AgentStatusChange)
    newest_id = (
        select(col(newer.id))
        .where(col(newer.agent_id) == col(Agent.id))
        .order_by(col(newer.at).desc(), col(newer.id).desc())
        .limit(1)
        .correlate(Agent)
        .scalar_subquery()
    )
    shown = effective_status_column(now, offline_after).label("shown")
    # An agent with no history yet (adopted from the earlier service) was what it reports.
    previous = func.coalesce(last.to_status, col(Agent.status))
    rows = session.execute(
        select(
            col(Agent.id), shown, col(Agent.last_seen_at), previous.label("previous"), col(last.at)
        )
        .select_from(Agent)
        .outerjoin(last, col(last.id) == newest_id)
        .where(col(Agent.last_seen_at).is_not(None), shown != previous)
    ).all()
    cutoff = offline_cutoff(now, offline_after)
    changes = []
    for agent_id, status, last_seen_at, previous_status, previous_at in rows:
        silent = as_utc(last_seen_at) < cutoff
        at = last_seen_at + timedelta(seconds=offline_after) if silent else last_seen_at
        if previous_at is not None and at < previous_at:
            at = previous_at
        changes.append(
            {"agent_id": agent_id, "from_status": previous_status, "to_status": status, "at": at}
        )
    if changes:
        session.execute(insert(AgentStatusChange), changes)
    return [(change["agent_id"], change["to_status"]) for change in changes]
