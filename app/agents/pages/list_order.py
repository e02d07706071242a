"""The orders of the Agents page: every column sorts, worst health first by default.

Health is judged from alert states and silences in Python (app/alerts/health.py), never
stored, so the database cannot order by it nor seek past it: the page orders the filtered
agents here, from the agents' problems (a judgement that reads only the alert states, not
every agent), and shows them a numbered page at a time.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from app.agents.rows import AgentRow
from app.alerts.health import PROBLEM_RANK
from app.alerts.health_schemas import Problem
from app.availability.service import Uptime

SortOrder = Literal["asc", "desc"]
# Page sort key -> the direction of its first click: problems, sizes and times start with
# what an operator looks for first (worst health, lowest uptime, biggest, newest).
PAGE_SORTS: dict[str, SortOrder] = {
    "health": "asc",
    "id": "asc",
    "name": "asc",
    "domain": "asc",
    "status": "asc",
    "uptime": "asc",
    "memoryUsedMB": "desc",
    "version": "asc",
    "lastSeenAt": "desc",
}
DEFAULT_PAGE_SORT = "health"
# The API's own sorts (GET /api/agents, the exports): what an export link can carry along.
API_SORTS = frozenset({"id", "name", "domain", "memoryUsedMB", "lastSeenAt"})
# Ascending status goes from down to up, like health.
STATUS_ORDER: dict[str, int] = {"offline": 0, "degraded": 1, "online": 2}


@dataclass(frozen=True)
class AgentFacts:
    """What the order needs beyond an agent's row: the agents' problems (health not ok nor
    maintenance, app/alerts/health.py) by id, and their uptime when ordering by it."""

    problems: Mapping[str, Problem]
    uptimes: Mapping[str, Uptime]


SortValue = Callable[[AgentRow, AgentFacts], Any]


def _version_key(version: str) -> tuple[tuple[int, int | str], ...] | None:
    # "1.10.0" after "1.9.2": the numbers compare as numbers, the rest as text.
    if not version:
        return None
    parts = re.findall(r"\d+|[^\d.]+", version)
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts)


def _health_key(agent: AgentRow, facts: AgentFacts) -> tuple[Any, ...]:
    return _health_key_of(agent.id, facts)


def _health_key_of(agent_id: str, facts: AgentFacts) -> tuple[Any, ...]:
    problem = facts.problems.get(agent_id)
    if problem is None:
        # Healthy or under maintenance (put there on purpose): after every problem, by id.
        return (len(PROBLEM_RANK), True, datetime.min)
    # Then the oldest problem: the one that has waited longest for someone.
    return (PROBLEM_RANK[problem.health], problem.since is None, problem.since or datetime.min)


def _uptime_key(agent: AgentRow, facts: AgentFacts) -> float | None:
    uptime = facts.uptimes.get(agent.id)
    return None if uptime is None else uptime.month.uptime_percent


SORT_VALUES: dict[str, SortValue] = {
    "health": _health_key,
    "id": lambda agent, _facts: agent.id,
    "name": lambda agent, _facts: (agent.name.casefold(), agent.name),
    "domain": lambda agent, _facts: agent.domain,
    "status": lambda agent, _facts: STATUS_ORDER.get(agent.status, len(STATUS_ORDER)),
    "uptime": _uptime_key,
    "memoryUsedMB": lambda agent, _facts: agent.memory_used_mb,
    "version": lambda agent, _facts: _version_key(agent.version),
    "lastSeenAt": lambda agent, _facts: agent.last_seen_at,
}


def ordered(
    agents: Sequence[AgentRow], *, sort: str, order: SortOrder, facts: AgentFacts
) -> list[AgentRow]:
    """The agents in this column's order; ties by id, and agents without a value (never
    seen, no version, no uptime yet) last in either direction."""
    value_of = SORT_VALUES[sort]
    valued = [(value_of(agent, facts), agent) for agent in sorted(agents, key=_agent_id)]
    present = [pair for pair in valued if pair[0] is not None]
    # A stable sort, reversed or not, keeps equal values in id order.
    present.sort(key=_first, reverse=order == "desc")
    return [agent for _, agent in present] + [agent for value, agent in valued if value is None]


def health_ordered(agent_ids: Sequence[str], *, order: SortOrder, facts: AgentFacts) -> list[str]:
    """ordered(sort="health") of bare ids: the default order needs no other column, so the
    page reads only the ids of a large fleet, then the rows of the page it shows."""
    keyed = sorted((_health_key_of(agent_id, facts), agent_id) for agent_id in set(agent_ids))
    if order == "desc":
        # Worst last, ties still by id (as ordered(): a stable sort of the id order, reversed
        # on the key only).
        keyed.sort(key=_first, reverse=True)
    return [agent_id for _, agent_id in keyed]


def _agent_id(agent: AgentRow) -> str:
    return agent.id


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]
