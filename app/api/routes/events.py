"""The event log across agents: filters and keyset pages, newest first."""

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import WithJsonSchema

from app.api.deps import ReadPrincipal, SessionDep
from app.api.pagination import DEFAULT_LIMIT, PageDep, encode_cursor
from app.api.responses import errors
from app.models.agent import EVENT_KINDS, EventPage
from app.services import events as event_service
from app.services.events import EventQuery
from app.timeutil import UTCDateTime

router = APIRouter(tags=["events"])

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


@router.get(
    "/api/events",
    response_model=EventPage,
    responses=errors(401, 403),
    summary="Agent events, newest first",
    description="Keyset pages: pass the previous page's `nextCursor` as `cursor`; events "
    "recorded meanwhile never shift or repeat a page.",
)
def list_events(
    _: ReadPrincipal, session: SessionDep, page: PageDep, query: EventQueryDep
) -> EventPage:
    rows, next_cursor = event_service.list_events(
        session=session, query=query, limit=page.limit or DEFAULT_LIMIT, cursor=page.cursor
    )
    return EventPage(
        items=[event_service.event_public(row) for row in rows],
        next_cursor=encode_cursor(next_cursor) if next_cursor else None,
    )
