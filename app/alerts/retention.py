"""Retention of alert history: resolved incidents (with their timelines) and finished
notifications older than the cutoff (PRISM_RETENTION_EVENTS_DAYS, SPEC §11).

Open incidents and pending notifications are never pruned, whatever their age: the first is
still happening, the second is still owed to a channel. Each batch is its own transaction,
like the rest of retention (app/ops/retention.py).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from app.core.batched_delete import delete_in_batches
from app.models.alerts import Incident, IncidentEvent, Notification

# Called after each batch with the table's label and the rows deleted from it so far.
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class AlertHistoryPruned:
    incidents: int
    notifications: int


def prune_alert_history(
    *, session: Session, cutoff: datetime, batch_size: int, progress: Progress
) -> AlertHistoryPruned:
    """Delete incidents resolved before `cutoff` (timeline first) and sent or failed
    notifications created before it."""
    return AlertHistoryPruned(
        incidents=_prune_incidents(session, cutoff, batch_size, progress),
        notifications=_prune_notifications(session, cutoff, batch_size, progress),
    )


def _prune_incidents(
    session: Session, cutoff: datetime, batch_size: int, progress: Progress
) -> int:
    total = 0
    while True:
        ids = list(
            session.exec(
                select(col(Incident.id))
                .where(col(Incident.resolved_at).is_not(None), col(Incident.resolved_at) < cutoff)
                .order_by(col(Incident.id))
                .limit(batch_size)
            ).all()
        )
        if ids:
            # Explicitly, not by ON DELETE CASCADE: a database adopted without foreign-key
            # enforcement (SQLite's default) must not keep orphaned timeline rows.
            session.exec(delete(IncidentEvent).where(col(IncidentEvent.incident_id).in_(ids)))
            session.exec(delete(Incident).where(col(Incident.id).in_(ids)))
            session.commit()
            total += len(ids)
            progress("resolved incidents", total)
        if len(ids) < batch_size:
            return total


def _prune_notifications(
    session: Session, cutoff: datetime, batch_size: int, progress: Progress
) -> int:
    return delete_in_batches(
        session,
        col(Notification.id),
        col(Notification.status).in_(("sent", "failed")),
        col(Notification.created_at) < cutoff,
        batch_size=batch_size,
        on_batch=lambda total: progress("notifications", total),
    )
