"""The notification outbox (SPEC §11 "Delivery"): rows written with the transition they
announce, in the caller's transaction, so a state change and its message commit together.

Grouping: the rows of one rule and event for one channel written within `group_seconds`
are one message. A new row is due at created_at + group_seconds, and until then later
transitions join it (their incident ids appended), so 20 miners going silent within the
window make one message per channel naming all 20; with group_seconds 0 a row is due at
once and joins nothing.

A process's delivery worker wants to know when a row is committed here, to send it without
waiting for its next poll: on_committed() registers such a listener, called after the
commit of any session that enqueued.
"""

import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, cast, exists, func, literal_column, update
from sqlalchemy import event as sa_event
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session, col, select

from app.alerts.apprise_urls import scrub_text
from app.core.pagination import Cursor, newest_first_after
from app.core.timeutil import isoformat
from app.models.alerts import (
    AlertRule,
    Channel,
    Incident,
    IncidentEvent,
    Notification,
    NotificationEvent,
)

# Incident ids per UPDATE ... WHERE id IN (...): well inside every engine's parameter limit.
_ID_CHUNK = 500
_WAKE_KEY = "prism_outbox_wake"

_listeners: list[Callable[[], None]] = []
_listeners_lock = threading.Lock()


def on_committed(listener: Callable[[], None]) -> Callable[[], None]:
    """Call `listener` (from the committing thread) after each commit that enqueued; returns
    the function that unregisters it."""
    with _listeners_lock:
        _listeners.append(listener)

    def remove() -> None:
        with _listeners_lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


def _committed(session: Session) -> None:
    session.info.pop(_WAKE_KEY, None)
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener()


def _wake_after_commit(session: Session) -> None:
    if not session.info.get(_WAKE_KEY):
        session.info[_WAKE_KEY] = True
        sa_event.listen(session, "after_commit", _committed, once=True)


def enabled_channels(session: Session, rule: AlertRule) -> list[Channel]:
    """The rule's channels that exist and are enabled, in the rule's order."""
    wanted = list(dict.fromkeys(rule.channels or []))
    if not wanted:
        return []
    rows = session.exec(
        select(Channel).where(col(Channel.id).in_(wanted), col(Channel.enabled).is_(True))
    ).all()
    by_id = {channel.id: channel for channel in rows}
    return [by_id[channel_id] for channel_id in wanted if channel_id in by_id]


def enqueue(
    session: Session,
    *,
    rule: AlertRule,
    event: NotificationEvent,
    incident_ids: Sequence[int],
    now: datetime,
    group_seconds: float,
) -> list[Notification]:
    """One row per enabled channel of the rule, or the incidents appended to a still-open
    group row of that channel, rule and event. Flushes, never commits."""
    ids = list(dict.fromkeys(int(incident_id) for incident_id in incident_ids))
    if not ids:
        return []
    if event == "firing":
        # Reminders count from the firing message (queue_reminders).
        _set_last_notified(session, ids, now)
    channels = enabled_channels(session, rule)
    if not channels:
        return []
    # The caller's state change goes first: on SQLite its write takes the database's one
    # write lock, so the group rows read below cannot change before this transaction ends.
    session.flush()
    rows = []
    for channel in channels:
        row = _open_group_row(session, channel.id, rule.id, event, now) if group_seconds else None
        if row is None:
            row = Notification(
                id=str(uuid.uuid4()),
                channel_id=channel.id,
                rule_id=rule.id,
                incident_ids=ids,
                event=event,
                status="pending",
                attempts=0,
                next_attempt_at=now + timedelta(seconds=group_seconds),
                created_at=now,
            )
        else:
            # A new list, not an in-place append: the JSON column saves only on assignment.
            row.incident_ids = [*row.incident_ids, *(i for i in ids if i not in row.incident_ids)]
        session.add(row)
        rows.append(row)
    session.flush()
    _wake_after_commit(session)
    return rows


def _open_group_row(
    session: Session, channel_id: str, rule_id: str, event: str, now: datetime
) -> Notification | None:
    """The channel's pending row of this rule and event whose window is still open: not
    due yet, never tried, claimed by no worker. Locked on PostgreSQL until the caller
    commits, so a worker's claim waits for the appended ids (SQLite: the write lock)."""
    statement = (
        select(Notification)
        .where(
            col(Notification.channel_id) == channel_id,
            col(Notification.rule_id) == rule_id,
            col(Notification.event) == event,
            col(Notification.status) == "pending",
            col(Notification.attempts) == 0,
            col(Notification.claimed_until).is_(None),
            col(Notification.next_attempt_at) > now,
        )
        .order_by(col(Notification.created_at).desc())
        .limit(1)
        .with_for_update()
    )
    return session.exec(statement).first()


def _set_last_notified(session: Session, incident_ids: Sequence[int], now: datetime) -> None:
    for start in range(0, len(incident_ids), _ID_CHUNK):
        chunk = list(incident_ids[start : start + _ID_CHUNK])
        session.execute(
            update(Incident).where(col(Incident.id).in_(chunk)).values(last_notified_at=now)
        )


def queue_reminders(session: Session, *, now: datetime, group_seconds: float) -> int:
    """Enqueue a "reminder" for every firing, unacknowledged, unsilenced incident whose rule
    repeats and whose last message is repeat_minutes old; one message per rule and channel.
    Records a "reminder" timeline entry on each. Flushes, never commits; returns how many."""
    rules = session.exec(
        select(AlertRule)
        .where(col(AlertRule.repeat_minutes) > 0, col(AlertRule.enabled).is_(True))
        .order_by(col(AlertRule.id))
    ).all()
    reminded = 0
    for rule in rules:
        if not enabled_channels(session, rule):
            continue  # nobody to remind: the timeline stays free of reminders never sent
        cutoff = now - timedelta(minutes=rule.repeat_minutes)
        last_message = func.coalesce(Incident.last_notified_at, Incident.started_at)
        due: list[Any] = list(
            session.exec(
                select(Incident.id)
                .where(
                    col(Incident.rule_id) == rule.id,
                    col(Incident.resolved_at).is_(None),
                    col(Incident.acknowledged_at).is_(None),
                    col(Incident.silenced).is_(False),
                    last_message <= cutoff,
                )
                .order_by(col(Incident.id))
            ).all()
        )
        if not due:
            continue
        enqueue(
            session,
            rule=rule,
            event="reminder",
            incident_ids=due,
            now=now,
            group_seconds=group_seconds,
        )
        _set_last_notified(session, due, now)
        session.add_all(
            IncidentEvent(
                incident_id=incident_id,
                at=now,
                type="reminder",
                detail={"repeatMinutes": rule.repeat_minutes},
            )
            for incident_id in due
        )
        reminded += len(due)
    session.flush()
    return reminded


# --- The delivery log ----------------------------------------------------------------------


def list_notifications(
    *,
    session: Session,
    limit: int,
    cursor: Cursor | None = None,
    channel_id: str | None = None,
    status: str | None = None,
    incident_id: int | None = None,
) -> tuple[list[Notification], Cursor | None]:
    """One page of the delivery log, newest first, and the cursor of the next page.

    last_error is masked where it is written; it is scrubbed of its channel's URL again
    here, so no error text some library built from the URL ever reaches an answer.
    """
    statement = select(Notification)
    if channel_id is not None:
        statement = statement.where(col(Notification.channel_id) == channel_id)
    if status is not None:
        statement = statement.where(col(Notification.status) == status)
    if incident_id is not None:
        statement = statement.where(_names_incident(session, incident_id))
    if cursor is not None:
        statement = statement.where(
            newest_first_after(Notification.created_at, Notification.id, cursor, str)
        )
    statement = statement.order_by(
        col(Notification.created_at).desc(), col(Notification.id).desc()
    ).limit(limit + 1)
    rows = list(session.exec(statement).all())
    next_cursor: Cursor | None = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = [isoformat(rows[-1].created_at), rows[-1].id]
    urls = _channel_urls(session, {row.channel_id for row in rows if row.last_error})
    for row in rows:
        if row.last_error and row.channel_id in urls:
            # Expunged first: the scrubbed text is for the answer, not to be saved.
            session.expunge(row)
            row.last_error = scrub_text(row.last_error, [urls[row.channel_id]])
    return rows, next_cursor


def _names_incident(session: Session, incident_id: int) -> ColumnElement[bool]:
    """Rows whose incident_ids list holds `incident_id` (a JSON array on either engine)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(Notification.incident_ids, JSONB).contains([incident_id])
    members = func.json_each(Notification.incident_ids).table_valued("value")
    return exists(
        sa_select(literal_column("1")).select_from(members).where(members.c.value == incident_id)
    )


def _channel_urls(session: Session, channel_ids: set[str]) -> dict[str, str]:
    if not channel_ids:
        return {}
    rows = session.exec(
        select(Channel.id, Channel.url).where(col(Channel.id).in_(sorted(channel_ids)))
    ).all()
    return {channel_id: url for channel_id, url in rows}
