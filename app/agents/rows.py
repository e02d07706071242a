"""The Agents page's rows: every matching agent as a plain tuple to order in Python, and
the rows of the page it shows (app/agents/pages/list_order.py orders them).

GET /api/agents pages through the database instead (service.list_agents, keyset cursors);
the page cannot, since health is judged in Python, not stored.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlmodel import Session, col, select

from app.agents.service import PUBLIC_COLUMNS, AgentQuery, filtered_agents
from app.agents.status import offline_cutoff, shown_status
from app.models import Agent
from app.models.agent import AgentPublic


class AgentRow(NamedTuple):
    """An agent as the list shows it (AgentPublic's fields), as a plain tuple: the Agents
    page orders every matching agent in Python, and 10,000 API models cost it 40 ms."""

    id: str
    name: str
    domain: str
    status: str
    memory_used_mb: float
    last_seen_at: datetime | None
    version: str

    def public(self) -> AgentPublic:
        return AgentPublic.model_construct(**self._asdict())


def list_agent_rows(
    *, session: Session, query: AgentQuery, offline_after: int, now: datetime
) -> list[AgentRow]:
    """Every agent matching the query, in its sort order, with its shown status."""
    statement = filtered_agents(query, now=now, offline_after=offline_after)
    cutoff = offline_cutoff(now, offline_after)
    return [
        AgentRow(agent_id, name, domain, shown_status(status, seen, cutoff), memory, seen, version)
        for agent_id, name, domain, status, memory, seen, version in session.execute(
            statement.with_only_columns(*PUBLIC_COLUMNS)
        )
    ]


def list_agent_ids(
    *, session: Session, query: AgentQuery, offline_after: int, now: datetime
) -> list[str]:
    """The ids of every agent matching the query (what ordering by health needs)."""
    statement = filtered_agents(query, now=now, offline_after=offline_after)
    return list(session.execute(statement.with_only_columns(col(Agent.id))).scalars())


def rows_by_id(
    *, session: Session, agent_ids: Sequence[str], offline_after: int, now: datetime
) -> list[AgentRow]:
    """The rows of these agents, in the order given (a page of them)."""
    if not agent_ids:
        return []
    cutoff = offline_cutoff(now, offline_after)
    statement = select(*PUBLIC_COLUMNS).where(col(Agent.id).in_(list(agent_ids)))
    found = {
        agent_id: AgentRow(
            agent_id, name, domain, shown_status(status, seen, cutoff), memory, seen, version
        )
        for agent_id, name, domain, status, memory, seen, version in session.execute(statement)
    }
    return [found[agent_id] for agent_id in agent_ids if agent_id in found]
