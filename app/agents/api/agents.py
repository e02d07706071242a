"""Agents: the compatible list and detail (SPEC §5.1), admin CRUD, status history.

Ingest (heartbeats and events) lives in ingest.py and is mounted by this router.
"""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlmodel import Session

from app.agents import events as event_service
from app.agents import memory as agent_memory_service
from app.agents import service as agent_service
from app.agents.api import ingest as agent_ingest
from app.agents.api.ingest import publish_status
from app.agents.deps import AgentQueryDep, EventFiltersDep
from app.audit.deps import AuditActorDep
from app.auth.deps import AdminPrincipal, AuthFirstRoute, ReadPrincipal
from app.core import downsampling
from app.core.deps import EngineDep, PageDep, ReadCacheDep, SessionDep, SettingsDep
from app.core.pagination import DEFAULT_LIMIT, encode_cursor
from app.core.responses import errors
from app.core.timeutil import UTCDateTime, utcnow
from app.live.deps import PublisherDep
from app.models.agent import (
    AgentCreate,
    AgentDetail,
    AgentId,
    AgentMemorySeries,
    AgentPage,
    AgentPublic,
    AgentUpdate,
    EventPage,
    StatusChangePage,
)

router = APIRouter(tags=["agents"], route_class=AuthFirstRoute)
router.include_router(agent_ingest.router)


@router.get(
    "/api/agents",
    response_model=AgentPage,
    responses=errors(401, 403),
    summary="List agents",
    description="Without `limit` every matching agent is returned (as earlier clients "
    "expect); with `limit` the list is paged and `nextCursor` fetches the next page.",
)
async def list_agents(
    _: ReadPrincipal,
    engine: EngineDep,
    settings: SettingsDep,
    page: PageDep,
    query: AgentQueryDep,
    cache: ReadCacheDep,
) -> Response:
    def render() -> bytes:
        with Session(engine) as session:
            items, next_cursor = agent_service.list_agents(
                session=session,
                query=query,
                offline_after=settings.agent_offline_after,
                limit=page.limit,
                cursor=page.cursor,
            )
        next_page = encode_cursor(next_cursor) if next_cursor else None
        return AgentPage(items=items, next_cursor=next_page).model_dump_json(by_alias=True).encode()

    # Polled by every dashboard and client: the rendered bytes are reused (app/core/read_cache.py),
    # answered on the event loop; only a render goes to the thread pool.
    cursor = encode_cursor(page.cursor) if page.cursor is not None else None
    body = await cache.get(("agents", query, page.limit, cursor), "agent", render)
    return Response(content=body, media_type="application/json")


@router.get(
    "/api/agents/{agent_id}",
    response_model=AgentDetail,
    responses=errors(401, 403, 404),
    summary="One agent with its 10 newest events",
)
def get_agent(
    agent_id: AgentId, _: ReadPrincipal, session: SessionDep, settings: SettingsDep
) -> AgentDetail:
    agent = agent_service.get_agent(session=session, agent_id=agent_id)
    recent = event_service.recent_events(session=session, agent_id=agent_id)
    return AgentDetail(
        agent=agent_service.agent_public(
            agent, now=utcnow(), offline_after=settings.agent_offline_after
        ),
        recent=[event_service.event_public(event) for event in recent],
    )


@router.post(
    "/api/agents",
    response_model=AgentPublic,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 401, 403, 409),
    summary="Register an agent (admin)",
)
def create_agent(
    body: AgentCreate,
    _: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    settings: SettingsDep,
    broadcaster: PublisherDep,
) -> AgentPublic:
    """Audited as `agent.create`."""
    now = utcnow()
    outcome = agent_service.create_agent(
        session=session,
        data=body,
        offline_after=settings.agent_offline_after,
        actor=actor,
        now=now,
    )
    publish_status(broadcaster, outcome)
    return agent_service.agent_public(
        outcome.agent, now=now, offline_after=settings.agent_offline_after
    )


def _update(
    agent_id: AgentId,
    body: AgentUpdate,
    actor: AuditActorDep,
    session: SessionDep,
    settings: SettingsDep,
    broadcaster: PublisherDep,
) -> AgentPublic:
    now = utcnow()
    outcome = agent_service.update_agent(
        session=session,
        agent_id=agent_id,
        data=body,
        offline_after=settings.agent_offline_after,
        actor=actor,
        now=now,
    )
    publish_status(broadcaster, outcome)
    return agent_service.agent_public(
        outcome.agent, now=now, offline_after=settings.agent_offline_after
    )


@router.patch(
    "/api/agents/{agent_id}",
    response_model=AgentPublic,
    responses=errors(400, 401, 403, 404, 503),
    summary="Update an agent (admin); only the fields sent change",
)
def update_agent(
    agent_id: AgentId,
    body: AgentUpdate,
    _: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    settings: SettingsDep,
    broadcaster: PublisherDep,
) -> AgentPublic:
    """Audited as `agent.update`."""
    return _update(agent_id, body, actor, session, settings, broadcaster)


@router.put(
    "/api/agents/{agent_id}",
    response_model=AgentPublic,
    responses=errors(400, 401, 403, 404, 503),
    summary="Update an agent (admin); same as PATCH: fields left out keep their value",
)
def put_agent(
    agent_id: AgentId,
    body: AgentUpdate,
    _: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    settings: SettingsDep,
    broadcaster: PublisherDep,
) -> AgentPublic:
    """Audited as `agent.update`."""
    return _update(agent_id, body, actor, session, settings, broadcaster)


@router.delete(
    "/api/agents/{agent_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 404),
    summary="Delete an agent with its events and status history (admin)",
)
def delete_agent(
    agent_id: AgentId, _: AdminPrincipal, actor: AuditActorDep, session: SessionDep
) -> Response:
    """Audited as `agent.delete`."""
    agent_service.delete_agent(session=session, agent_id=agent_id, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/api/agents/{agent_id}/status-history",
    response_model=StatusChangePage,
    responses=errors(401, 403, 404),
    summary="Recorded status changes of an agent, newest first",
)
def status_history(
    agent_id: AgentId, _: ReadPrincipal, session: SessionDep, page: PageDep
) -> StatusChangePage:
    items, next_cursor = agent_service.status_history(
        session=session, agent_id=agent_id, limit=page.limit or DEFAULT_LIMIT, cursor=page.cursor
    )
    return StatusChangePage(
        items=items, next_cursor=encode_cursor(next_cursor) if next_cursor else None
    )


@router.get(
    "/api/agents/{agent_id}/events",
    response_model=EventPage,
    responses=errors(401, 403, 404),
    summary="Events of one agent, newest first",
)
def agent_events(
    agent_id: AgentId,
    _: ReadPrincipal,
    session: SessionDep,
    page: PageDep,
    filters: EventFiltersDep,
) -> EventPage:
    rows, next_cursor = event_service.list_agent_events(
        session=session,
        agent_id=agent_id,
        query=filters,
        limit=page.limit or DEFAULT_LIMIT,
        cursor=page.cursor,
    )
    return EventPage(
        items=[event_service.event_public(row) for row in rows],
        next_cursor=encode_cursor(next_cursor) if next_cursor else None,
    )


@router.get(
    "/api/agents/{agent_id}/memory",
    response_model=AgentMemorySeries,
    responses=errors(401, 403, 404),
    summary="Memory an agent reported over time, downsampled for charts",
    description="At most `points` points over [since, until) (default: the last 24 hours), "
    "each with the min, max and average memory of its time bucket; with no more samples "
    "than `points` the raw samples (`bucketSeconds` null). `t` holds unix seconds.",
)
def agent_memory(
    agent_id: AgentId,
    _: ReadPrincipal,
    session: SessionDep,
    since: Annotated[UTCDateTime | None, Query(description="Start (inclusive).")] = None,
    until: Annotated[UTCDateTime | None, Query(description="End (exclusive).")] = None,
    points: Annotated[int, Query(ge=1, le=5000, description="Most points.")] = 500,
) -> AgentMemorySeries:
    since, until = downsampling.resolve_window(since, until, utcnow())
    return agent_memory_service.memory_series(
        session=session, agent_id=agent_id, since=since, until=until, points=points
    )
