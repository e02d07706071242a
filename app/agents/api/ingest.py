"""What agents send (ingest scope): heartbeats and events. Mounted by agents.py.

Both are written by the process's group writer (app/core/group_commit.py): concurrent
requests share one transaction, and each is answered once it is committed.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response, status
from pydantic import Discriminator, Tag
from sqlmodel import Session

from app.agents import events as event_service
from app.agents import service as agent_service
from app.agents.service import StatusOutcome
from app.auth.deps import AuthFirstRoute, IngestPrincipal
from app.core.deps import GroupWriteDep, MetricsDep, SettingsDep
from app.core.group_commit import GroupKind, flushes_held
from app.core.responses import errors
from app.core.telemetry import Metrics
from app.core.timeutil import utcnow
from app.live.broadcaster import Publisher
from app.live.deps import BroadcasterDep
from app.models import AgentEvent
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


@dataclass(frozen=True)
class _HeartbeatWrite:
    agent_id: str
    report: Heartbeat
    now: datetime
    offline_after: int


@dataclass(frozen=True)
class _HeartbeatAnswer:
    outcome: StatusOutcome
    public: AgentPublic


def _write_heartbeat(session: Session, write: _HeartbeatWrite) -> _HeartbeatAnswer:
    outcome = agent_service.record_heartbeat(
        session=session,
        agent_id=write.agent_id,
        report=write.report,
        offline_after=write.offline_after,
        now=write.now,
    )
    # Answered at once: a later heartbeat of the same agent in the group changes this object.
    public = agent_service.agent_public(
        outcome.agent, now=write.now, offline_after=write.offline_after
    )
    return _HeartbeatAnswer(outcome, public)


def _write_heartbeats(
    session: Session, writes: Sequence[_HeartbeatWrite]
) -> list[_HeartbeatAnswer]:
    # In agent order: every writer (replica, worker) locks agent rows in the same order.
    order = sorted(range(len(writes)), key=lambda index: writes[index].agent_id)
    # The group's agents in one query (kept referenced: the identity map holds them weakly);
    # a registration (an unknown agent) flushes at once, as its IntegrityError must show.
    known = agent_service.agents_by_id(session, {write.agent_id for write in writes})
    seen = [index for index in order if writes[index].agent_id in known]
    registering = [index for index in order if writes[index].agent_id not in known]
    with flushes_held(session):
        answers = {index: _write_heartbeat(session, writes[index]) for index in seen}
    answers.update({index: _write_heartbeat(session, writes[index]) for index in registering})
    return [answers[index] for index in range(len(writes))]


@dataclass(frozen=True)
class _EventsWrite:
    agent_id: str
    events: Sequence[EventIn]
    received: datetime


def _write_events(session: Session, write: _EventsWrite) -> list[AgentEvent]:
    return event_service.store_events(
        session=session, agent_id=write.agent_id, events=write.events, received=write.received
    )


def _write_event_groups(session: Session, writes: Sequence[_EventsWrite]) -> list[list[AgentEvent]]:
    return [_write_events(session, write) for write in writes]


# After samples (order 0, app/miners/api.py): locks are taken kind by kind in this order.
HEARTBEATS = GroupKind("heartbeat", 1, _write_heartbeats, _write_heartbeat)
# Events only read-lock their agent's key, which a heartbeat's update leaves free.
EVENTS = GroupKind("event", 2, _write_event_groups, _write_events)


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
async def heartbeat(
    agent_id: AgentId,
    response: Response,
    _: IngestPrincipal,
    settings: SettingsDep,
    broadcaster: BroadcasterDep,
    metrics: MetricsDep,
    writes: GroupWriteDep,
    body: Annotated[Heartbeat | None, Body(description="May be left out entirely.")] = None,
) -> AgentPublic:
    write = _HeartbeatWrite(agent_id, body or Heartbeat(), utcnow(), settings.agent_offline_after)
    answer = await writes.write(HEARTBEATS, write)
    if answer.outcome.registered:
        response.status_code = status.HTTP_201_CREATED

    def committed() -> None:
        metrics.count_ingest("heartbeat")
        publish_status(broadcaster, answer.outcome)

    writes.after_commit(committed)
    return answer.public


@router.post(
    "/api/agents/{agent_id}/events",
    response_model=EventsAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(400, 401, 403, 404, 413, 429, 503),
    summary="Record one event or a batch of events of an agent",
)
async def ingest_events(
    agent_id: AgentId,
    body: EventsBody,
    _: IngestPrincipal,
    settings: SettingsDep,
    broadcaster: BroadcasterDep,
    metrics: MetricsDep,
    writes: GroupWriteDep,
) -> EventsAccepted:
    is_batch = isinstance(body, EventBatch)
    events = body.events if isinstance(body, EventBatch) else [body]
    received = utcnow()
    event_service.check_event_times(
        events, now=received, max_skew_seconds=settings.max_clock_skew_seconds, batch=is_batch
    )
    # A batch is one item of its size: all or nothing, and a group stays bounded in rows.
    rows = await writes.write(EVENTS, _EventsWrite(agent_id, events, received), len(events))
    writes.after_commit(lambda: _announce_events(rows, broadcaster, metrics))
    return EventsAccepted(count=len(rows), ids=[row.id for row in rows])


def _announce_events(rows: Sequence[AgentEvent], broadcaster: Publisher, metrics: Metrics) -> None:
    metrics.count_ingest("event", len(rows))
    for row in rows:
        broadcaster.publish(
            {
                "type": "agent_event",
                "data": event_service.event_public(row).model_dump(mode="json", by_alias=True),
            }
        )
