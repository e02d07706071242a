"""Notification channels: Apprise URLs, write-only; every answer shows only the masked form.

Deleting a channel that rules use removes it from their `channels` lists in the same
transaction (and drops its queued and logged notifications, which belong to it): a rule
never names a channel that does not exist, and deleting needs no clean-up first.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.alerts import delivery
from app.alerts.apprise_urls import apprise_url_error, mask_url, scrub_text
from app.alerts.schemas import ChannelCreate, ChannelPublic, ChannelUpdate, generated_id
from app.audit import service as audit
from app.audit.service import Actor
from app.core.errors import ConflictError, InvalidCursorError, NotFoundError, UnprocessableError
from app.models.alerts import AlertRule, Channel, Notification

CHANNEL_NOT_FOUND = "Channel not found"
SendTest = Callable[..., tuple[bool, str | None]]


def get_channel(*, session: Session, channel_id: str) -> Channel:
    """The channel, or NotFoundError."""
    channel = session.get(Channel, channel_id)
    if channel is None:
        raise NotFoundError(CHANNEL_NOT_FOUND)
    return channel


def list_channels(
    *, session: Session, limit: int | None = None, after: Sequence[Any] | None = None
) -> tuple[list[Channel], list[Any] | None]:
    """Channels by id; with `limit`, one page and the cursor [id] to continue after."""
    statement = select(Channel).order_by(col(Channel.id))
    if after is not None:
        if len(after) != 1 or not isinstance(after[0], str):
            raise InvalidCursorError()
        statement = statement.where(col(Channel.id) > after[0])
    if limit is None:
        return list(session.exec(statement).all()), None
    rows = list(session.exec(statement.limit(limit + 1)).all())
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], [rows[limit - 1].id]


def channel_public(channel: Channel) -> ChannelPublic:
    """The API shape: the masked URL, and an error text with the URL's secrets masked."""
    return ChannelPublic(
        id=channel.id,
        name=channel.name,
        url_masked=mask_url(channel.url),
        enabled=channel.enabled,
        last_sent_at=channel.last_sent_at,
        last_error=scrub(channel.last_error, channel.url),
        created_at=channel.created_at,
        updated_at=channel.updated_at,
    )


def scrub(text: str | None, url: str) -> str | None:
    """`text` with the URL and its secret fragments masked.

    Delivery errors are masked where they are made; this is the second lock on the door:
    an error text some library built from the URL never reaches an answer unmasked.
    """
    return None if text is None else scrub_text(text, [url])


def _checked_url(url: str) -> str:
    problem = apprise_url_error(url)
    if problem is not None:
        raise UnprocessableError(f"url: {problem}")
    return url


def create_channel(
    *, session: Session, data: ChannelCreate, actor: Actor, now: datetime
) -> Channel:
    """Store a new channel (422 naming `url` unless Apprise reads it; 409 on a taken id)."""
    url = _checked_url(data.url)
    channel_id = data.id or generated_id(data.name)
    if session.get(Channel, channel_id) is not None:
        raise ConflictError(f"Channel {channel_id} already exists")
    channel = Channel(
        id=channel_id,
        name=data.name,
        url=url,
        enabled=data.enabled,
        created_at=now,
        updated_at=now,
    )
    session.add(channel)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()  # created by a concurrent request since the check above
        raise ConflictError(f"Channel {channel_id} already exists") from None
    audit.record(
        session,
        actor=actor,
        action="channel.create",
        target_type="channel",
        target_id=channel.id,
        summary=f"Created channel {channel.id} ({mask_url(url)})",
        detail={"name": channel.name, "url": mask_url(url), "enabled": channel.enabled},
        now=now,
    )
    session.commit()
    return channel


def update_channel(
    *, session: Session, channel_id: str, data: ChannelUpdate, actor: Actor, now: datetime
) -> Channel:
    """Change the fields sent; `url` left out keeps the stored one."""
    channel = get_channel(session=session, channel_id=channel_id)
    changes = data.model_dump(exclude_unset=True)
    if "url" in changes:
        _checked_url(changes["url"])
    detail = {
        key: (mask_url(value) if key == "url" else value)
        for key, value in changes.items()
        if getattr(channel, key) != value
    }
    if "url" in changes and changes["url"] != channel.url:
        channel.last_error = None  # an error of the old URL says nothing about the new one
    channel.sqlmodel_update(changes)
    channel.updated_at = now
    session.add(channel)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="channel.update",
        target_type="channel",
        target_id=channel.id,
        summary=f"Changed channel {channel.id}: {', '.join(detail) or 'nothing'}",
        detail={"changed": detail},
        now=now,
    )
    session.commit()
    return channel


def delete_channel(*, session: Session, channel_id: str, actor: Actor, now: datetime) -> list[str]:
    """Delete the channel, take it off every rule naming it; the ids of those rules."""
    channel = get_channel(session=session, channel_id=channel_id)
    rules = [rule for rule in session.exec(select(AlertRule)).all() if channel_id in rule.channels]
    for rule in rules:
        rule.channels = [other for other in rule.channels if other != channel_id]
        rule.updated_at = now
        session.add(rule)
    # Explicit, not left to ON DELETE CASCADE alone: SQLite enforces it only with the pragma.
    session.exec(delete(Notification).where(col(Notification.channel_id) == channel_id))
    masked = mask_url(channel.url)
    session.delete(channel)
    session.flush()
    rule_ids = [rule.id for rule in rules]
    audit.record(
        session,
        actor=actor,
        action="channel.delete",
        target_type="channel",
        target_id=channel_id,
        summary=f"Deleted channel {channel_id} ({masked})",
        detail={"name": channel.name, "url": masked, "removedFromRules": rule_ids},
        now=now,
    )
    session.commit()
    return rule_ids


def send_channel_test(
    *,
    session: Session,
    channel_id: str,
    actor: Actor,
    now: Callable[[], datetime],
    timeout: float,
    send: SendTest | None = None,
) -> tuple[bool, str | None]:
    """Send a test message now (blocking: call it off the event loop) and record the result
    on the channel: success sets lastSentAt and clears lastError, a failure sets lastError.

    Nothing is written while the message is on its way, so no lock is held meanwhile.
    `now` is read once the send is over: that is when the channel last sent.
    """
    channel = get_channel(session=session, channel_id=channel_id)
    url = channel.url
    ok, error = (send or delivery.send_test)(url, timeout=timeout)
    error = None if ok else scrub(error or "the test message was not delivered", url)
    sent_at = now()
    # Only these columns are written (the unit of work updates what changed), so a rename
    # made while the message was on its way is kept.
    if ok:
        channel.last_sent_at = sent_at
        channel.last_error = None
    else:
        channel.last_error = error
    session.add(channel)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="channel.test",
        target_type="channel",
        target_id=channel.id,
        summary=f"Tested channel {channel.id}: {'sent' if ok else 'failed'}",
        detail={"url": mask_url(url), "ok": ok, "error": error},
        now=sent_at,
    )
    session.commit()
    return ok, error
