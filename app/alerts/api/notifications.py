"""The delivery log (SPEC §11 "Delivery"): every outbox row, newest first, with its attempts
and its (masked) last error."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from app.alerts import outbox
from app.auth.deps import AuthFirstRoute, ReadPrincipal
from app.core.deps import SessionDep
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from app.core.responses import errors
from app.core.timeutil import UTCDateTime
from app.core.validators import SafeId
from app.models.alerts import NotificationEvent, NotificationStatus
from app.models.base import ApiModel

router = APIRouter(tags=["alerts"], route_class=AuthFirstRoute, strict_content_type=False)


class NotificationFilters(BaseModel):
    """The query of the delivery log; any other parameter is a 422 naming it."""

    model_config = ConfigDict(extra="forbid")

    channel: SafeId | None = Field(default=None, description="Only this channel's messages.")
    status: NotificationStatus | None = Field(
        default=None, description="pending (queued or retrying), sent or failed."
    )
    incident: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="Only messages about this incident."
    )
    limit: int | None = Field(
        default=None, ge=1, le=MAX_LIMIT, description=f"Rows per page (default {DEFAULT_LIMIT})."
    )
    cursor: str | None = Field(
        default=None, max_length=1000, description="nextCursor of the previous page."
    )


class NotificationPublic(ApiModel):
    id: str
    channel_id: str
    rule_id: str | None
    incident_ids: list[int]
    event: NotificationEvent
    status: NotificationStatus
    attempts: int
    next_attempt_at: UTCDateTime
    last_error: str | None
    created_at: UTCDateTime
    sent_at: UTCDateTime | None


class NotificationPage(ApiModel):
    items: list[NotificationPublic]
    next_cursor: str | None = None


@router.get(
    "/api/notifications",
    response_model=NotificationPage,
    responses=errors(401, 403),
    summary="The delivery log: notifications newest first",
    description="Each message the outbox holds for a channel: its event, status (pending "
    "while queued or retrying, then sent or failed), how many attempts were made, when the "
    "next is due and the last error (channel URLs masked). Keyset pages: pass `nextCursor` "
    "as `cursor`.",
)
def list_notifications(
    _principal: ReadPrincipal,
    session: SessionDep,
    filters: Annotated[NotificationFilters, Query()],
) -> NotificationPage:
    rows, last = outbox.list_notifications(
        session=session,
        limit=filters.limit or DEFAULT_LIMIT,
        cursor=decode_cursor(filters.cursor) if filters.cursor else None,
        channel_id=filters.channel,
        status=filters.status,
        incident_id=filters.incident,
    )
    return NotificationPage(
        items=[NotificationPublic.model_validate(row) for row in rows],
        next_cursor=encode_cursor(last) if last else None,
    )
