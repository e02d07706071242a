"""The event log across agents: filters and keyset pages, newest first."""

from fastapi import APIRouter

from app.agents import events as event_service
from app.agents.deps import EventQueryDep
from app.auth.deps import ReadPrincipal
from app.core.deps import PageDep, SessionDep
from app.core.pagination import DEFAULT_LIMIT, encode_cursor
from app.core.responses import errors
from app.models.agent import EventPage

router = APIRouter(tags=["events"])


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
