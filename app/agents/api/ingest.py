"""What agents send (ingest scope): heartbeats and events. Mounted by agents.py."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response, status
from pydantic import Discriminator, Tag

from app.agents import events as event_service
from app.agents import service as agent_service
from app.agents.service import StatusOutcome
from app.auth.deps import AuthFirstRoute, IngestPrincipal
from app.core.deps import MetricsDep, SessionDep, SettingsDep
from app.core.responses import errors
from app.core.timeutil import utcnow
from app.live.broadcaster import Publisher
from app.live.deps import PublisherDep
from app.models.agent import (
    MAX_EVENTS_PER_REQUEST,
    AgentId,
    AgentPublic,
    EventBatch,
    EventIn,
    EventsAccepted,
    Heartbeat,
)

router = APIRouter(tags=["ingest"], route_class=AuthFirstRoute)


def publish_status(broadcaster: Publisher, outcome: StatusOutcome) -> None:
    """Tell the ops stream when the status an operator sees has changed."""
    if outcome.shown_status_changed:
        broadcaster.publish(
            {
                "type": "agent_status",
                "data": {"agentId": outcome.agent.id, "status": outcome.shown_status},
            }
        )


def _event_body_shape(value: Any) -> str:
    # An object with "events" is a batch; anything else is validated as one event.
    return "batch" if isinstance(value, dict) and "events" in value else "event"


EventsBody = Annotated[
    Annotated[EventIn, Tag("event")] | Annotated[EventBatch, Tag("batch")],
    Discriminator(_event_body_shape),
    Body(
        description=f'One event, or {{"events": [...]}} with 1 to {MAX_EVENTS_PER_REQUEST} '
        "events, stored all or nothing."
    ),
]


@router.post(
    "/api/agents/{agent_id}/heartbeat",
    response_model=AgentPublic,
    responses={
        201: {"model": AgentPublic, "description": "An unknown agent was registered"},
        **errors(400, 401, 403, 404, 429, 503),
    },
    summary="Report that an agent is alive, with its status and figures",
    description="Sets lastSeenAt to now and the fields given. An unknown agent is registered "
    "(201) when name and domain are given; otherwise 404. Each change of reported status is "
    "recorded in the status history.",
)
def heartbeat(
    agent_id: AgentId,
    response: Response,
    _: IngestPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    broadcaster: PublisherDep,
    metrics: MetricsDep,
    body: Annotated[Heartbeat | None, Body(description="May be left out entirely.")] = None,
) -> AgentPublic:
    now = utcnow()
    outcome = agent_service.record_heartbeat(
        session=session,
        agent_id=agent_id,
        report=body or Heartbeat(),
        offline_after=settings.agent_offline_after,
        now=now,
    )
    metrics.count_ingest("heartbeat")
    if outcome.registered:
        response.status_code = status.HTTP_201_CREATED
    publish_status(broadcaster, outcome)
    return agent_service.agent_public(
        outcome.agent, now=now, offline_after=settings.agent_offline_after
    )


@router.post(
    "/api/agents/{agent_id}/events",
    response_model=EventsAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(400, 401, 403, 404, 413, 429, 503),
    summary="Record one event or a batch of events of an agent",
)
def ingest_events(
    agent_id: AgentId,
    body: EventsBody,
    _: IngestPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    broadcaster: PublisherDep,
    metrics: MetricsDep,
) -> EventsAccepted:
    is_batch = isinstance(body, EventBatch)
    events = body.events if isinstance(body, EventBatch) else [body]
    rows = event_service.ingest_events(
        session=session,
        agent_id=agent_id,
        events=events,
        max_skew_seconds=settings.max_clock_skew_seconds,
        batch=is_batch,
    )
    metrics.count_ingest("event", len(rows))
    for row in rows:
        broadcaster.publish(
            {
                "type": "agent_event",
                "data": event_service.event_public(row).model_dump(mode="json", by_alias=True),
            }
        )
    return EventsAccepted(count=len(rows), ids=[row.id for row in rows])
