"""The shown status of an agent: silent for longer than the offline threshold means offline.

One rule, two forms: a Python function for single rows and a SQL expression for filters,
counts and sorting, so a list filtered by status agrees with the status each row shows.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, or_
from sqlmodel import Session, select

from app.core.timeutil import as_utc
from app.models import Agent
from app.models.agent import AGENT_STATUSES


def offline_cutoff(now: datetime, offline_after_seconds: int) -> datetime:
    return as_utc(now) - timedelta(seconds=offline_after_seconds)


def effective_status(agent: Agent, now: datetime, offline_after_seconds: int) -> str:
    """The status an operator sees for this agent at `now`."""
    return shown_status(
        agent.status, agent.last_seen_at, offline_cutoff(now, offline_after_seconds)
    )


def shown_status(reported: str, last_seen_at: datetime | None, cutoff: datetime) -> str:
    """effective_status() from the column values, with the cutoff computed once per list."""
    if last_seen_at is None or last_seen_at < cutoff:
        return "offline"
    return reported


def effective_status_column(now: datetime, offline_after_seconds: int) -> ColumnElement[Any]:
    """SQL for effective_status(), usable in WHERE, GROUP BY and ORDER BY."""
    cutoff = offline_cutoff(now, offline_after_seconds)
    last_seen: Any = Agent.last_seen_at
    return case(
        (or_(last_seen.is_(None), last_seen < cutoff), literal("offline")),
        else_=Agent.status,
    )


def count_by_status(
    *, session: Session, now: datetime, offline_after_seconds: int
) -> dict[str, int]:
    """How many agents show each status at `now`; every known status is present (0 if none)."""
    shown = select(effective_status_column(now, offline_after_seconds).label("shown")).subquery()
    counts = dict.fromkeys(AGENT_STATUSES, 0)
    for status, count in session.exec(select(shown.c.shown, func.count()).group_by(shown.c.shown)):
        counts[str(status)] = int(count)
    return counts
