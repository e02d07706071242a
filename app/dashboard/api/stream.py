"""The ops stream: every live update of this process as unnamed server-sent events."""

from fastapi import APIRouter, Request

from app.auth.deps import ReadPrincipal, credential_recheck
from app.core.deps import SessionDep, SettingsDep
from app.core.responses import json_errors
from app.core.timeutil import isoformat, utcnow
from app.live.broadcaster import Message
from app.live.deps import BroadcasterDep
from app.live.sse import EventStreamResponse

router = APIRouter(tags=["stream"])

# One server-sent event, as OpenAPI tools read a `text/event-stream` schema: its fields, the
# JSON message carried in `data`. Events are unnamed, so their type is the default `message`;
# the first one also sets `retry` (milliseconds).
SSE_EVENT_SCHEMA = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": 'One JSON object with a "type" (heartbeat, miner.sample, ...).',
        },
        "event": {"type": "string", "enum": ["message"]},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
}


def heartbeat() -> Message:
    return {"type": "heartbeat", "at": isoformat(utcnow())}


@router.get(
    "/api/stream/ops",
    response_class=EventStreamResponse,
    status_code=200,
    summary="Live updates (server-sent events, unnamed `data:` messages)",
    description=(
        "Each message is one JSON object with a `type`: `heartbeat` on connect and every "
        "PRISM_STREAM_HEARTBEAT_SECONDS, then `miner.sample`, `agent_status`, `agent_event` "
        "and `metric_update` as they happen. A client that falls PRISM_STREAM_QUEUE_SIZE "
        "messages behind is disconnected and should reconnect. The stream also ends within "
        "one heartbeat interval of its token being revoked or its browser session ending."
    ),
    responses={
        200: {"content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}}},
        **json_errors(401, 403, 503, validation=False),
    },
)
def ops_stream(
    request: Request,
    _principal: ReadPrincipal,
    session: SessionDep,
    broadcaster: BroadcasterDep,
    settings: SettingsDep,
) -> EventStreamResponse:
    # The token check is done: give its pooled connection back rather than hold it for as
    # long as the stream stays open (hours, for a wall display). Each heartbeat checks the
    # credential again with a connection of its own.
    session.close()
    return EventStreamResponse(
        broadcaster,
        heartbeat=heartbeat,
        heartbeat_seconds=settings.stream_heartbeat_seconds,
        still_allowed=credential_recheck(request, "read"),
    )
