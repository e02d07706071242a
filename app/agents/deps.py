"""Query dependencies of the agent and event lists, shared by their routes and the exports."""

import dataclasses
from typing import Annotated

from fastapi import Depends, Query
from pydantic import WithJsonSchema

from app.agents import events as event_service
from app.agents.events import EventQuery
from app.agents.service import DEFAULT_SORT, AgentQuery
from app.core.timeutil import UTCDateTime
from app.models.agent import EVENT_KINDS, AgentSort, AgentStatus

StatusFilter = Annotated[
    AgentStatus | None, Query(description="Shown status (silent agents show offline).")
]
DomainFilter = Annotated[str | None, Query(max_length=100, description="Exact domain.")]
MAX_SEARCH = 200
SearchFilter = Annotated[
    str | None, Query(max_length=MAX_SEARCH, description="Case-insensitive search in id and name.")
]
SortParam = Annotated[
    AgentSort,
    Query(
        description="lastSeenAt, name, id, domain or memoryUsedMB; a leading '-' sorts "
        "descending. Default -lastSeenAt (most recently seen first). Never-seen agents come "
        "last in either direction; ties are ordered by id."
    ),
]


async def agent_query(
    status: StatusFilter = None,
    domain: DomainFilter = None,
    q: SearchFilter = None,
    sort: SortParam = DEFAULT_SORT,
) -> AgentQuery:
    """The agent filters, shared by the list and the export."""
    return AgentQuery(status=status, domain=domain, q=q, sort=sort)


AgentQueryDep = Annotated[AgentQuery, Depends(agent_query)]

# A comma list of kinds, blank parts and spaces skipped: what parse_kinds() accepts (and
# refuses with a message naming the kinds), stated in the schema so a conforming client is
# never refused. Unambiguous, so it cannot backtrack: spaces, then maybe a kind and spaces.
_KIND_PART = r" *(?:(?:" + "|".join(EVENT_KINDS) + r") *)?"
_KIND_LIST = rf"^{_KIND_PART}(?:,{_KIND_PART})*$"
_TIME_FORMS = "ISO-8601 (Z or offset; naive = UTC), a date, or unix seconds"


async def event_filters(
    kind: Annotated[
        list[Annotated[str, WithJsonSchema({"type": "string", "pattern": _KIND_LIST})]] | None,
        Query(
            description=f"Event kinds ({', '.join(EVENT_KINDS)}); repeat the parameter "
            "or give a comma list."
        ),
    ] = None,
    since: Annotated[
        UTCDateTime | None, Query(description=f"Events at or after this time: {_TIME_FORMS}.")
    ] = None,
    until: Annotated[
        UTCDateTime | None, Query(description=f"Events before this time: {_TIME_FORMS}.")
    ] = None,
) -> EventQuery:
    """kind / since / until, shared by every event list and the event export."""
    kinds = event_service.parse_kinds(kind)
    event_service.check_time_range(since, until)
    return EventQuery(kinds=kinds, since=since, until=until)


EventFiltersDep = Annotated[EventQuery, Depends(event_filters)]
AgentFilter = Annotated[str | None, Query(max_length=128, description="Only this agent's events.")]


async def event_query(filters: EventFiltersDep, agent: AgentFilter = None) -> EventQuery:
    """Every event filter, the agent included."""
    return dataclasses.replace(filters, agent_id=agent)


EventQueryDep = Annotated[EventQuery, Depends(event_query)]
