"""Notification channels (SPEC §11, admin): Apprise URLs, write-only. No answer carries a
channel's URL, only `urlMasked`; each change and each test is audited."""

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.alerts import channels
from app.alerts.deps import ClockDep
from app.alerts.schemas import (
    ChannelCreate,
    ChannelPage,
    ChannelPublic,
    ChannelTestResult,
    ChannelUpdate,
)
from app.audit.deps import AuditActorDep
from app.auth.deps import AdminPrincipal, AuthFirstRoute, ReadPrincipal
from app.core.deps import PageDep, SessionDep, SettingsDep
from app.core.pagination import encode_cursor
from app.core.responses import errors
from app.core.validators import SafeId

router = APIRouter(tags=["alerts"], route_class=AuthFirstRoute, strict_content_type=False)

ChannelId = Annotated[SafeId, Path(description="The channel's id.")]


@router.get(
    "/api/channels",
    response_model=ChannelPage,
    responses=errors(401, 403),
    summary="List notification channels by id (URLs masked)",
)
def list_channels(_principal: ReadPrincipal, session: SessionDep, page: PageDep) -> ChannelPage:
    rows, last = channels.list_channels(session=session, limit=page.limit, after=page.cursor)
    return ChannelPage(
        items=[channels.channel_public(row) for row in rows],
        next_cursor=encode_cursor(last) if last else None,
    )


@router.post(
    "/api/channels",
    response_model=ChannelPublic,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 401, 403, 409),
    summary="Create a notification channel (admin)",
    description="`url` is an Apprise URL (json://, mailto://, slack://, ntfy://, ...); one "
    "Apprise cannot read is a 422 naming `url`. It is never shown again: answers carry "
    "`urlMasked`.",
)
def create_channel(
    body: ChannelCreate,
    _principal: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
) -> ChannelPublic:
    channel = channels.create_channel(session=session, data=body, actor=actor, now=clock())
    return channels.channel_public(channel)


@router.get(
    "/api/channels/{channel_id}",
    response_model=ChannelPublic,
    responses=errors(401, 403, 404),
    summary="One notification channel (URL masked)",
)
def get_channel(
    channel_id: ChannelId, _principal: ReadPrincipal, session: SessionDep
) -> ChannelPublic:
    return channels.channel_public(channels.get_channel(session=session, channel_id=channel_id))


@router.put(
    "/api/channels/{channel_id}",
    response_model=ChannelPublic,
    responses=errors(400, 401, 403, 404),
    summary="Change a notification channel (admin); fields left out, `url` included, are kept",
)
def update_channel(
    channel_id: ChannelId,
    body: ChannelUpdate,
    _principal: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
) -> ChannelPublic:
    channel = channels.update_channel(
        session=session, channel_id=channel_id, data=body, actor=actor, now=clock()
    )
    return channels.channel_public(channel)


@router.delete(
    "/api/channels/{channel_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 404),
    summary="Delete a notification channel (admin)",
    description="Rules naming the channel lose it from their `channels` in the same "
    "transaction; its queued and logged notifications go with it.",
)
def delete_channel(
    channel_id: ChannelId,
    _principal: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
) -> None:
    channels.delete_channel(session=session, channel_id=channel_id, actor=actor, now=clock())


@router.post(
    "/api/channels/{channel_id}/test",
    response_model=ChannelTestResult,
    responses=errors(401, 403, 404),
    summary="Send a test message now (admin); the result is kept on the channel",
    description="200 whatever the receiver did: `ok` and `error` (masked) tell, and the "
    "channel's lastSentAt / lastError record it.",
)
def test_channel(
    channel_id: ChannelId,
    _principal: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> ChannelTestResult:
    # A plain `def` route runs in the thread pool: the blocking send is off the event loop.
    ok, error = channels.send_channel_test(
        session=session,
        channel_id=channel_id,
        actor=actor,
        now=clock,
        timeout=settings.notify_timeout_seconds,
    )
    return ChannelTestResult(ok=ok, error=error)
