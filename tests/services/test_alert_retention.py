"""Retention of alert history: resolved incidents and finished notifications older than the
events' retention go (timeline too); open incidents and pending notifications stay."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.models.alerts import AlertRule, Incident, IncidentEvent, Notification
from app.ops import retention
from tests.support.db import wipe
from tests.support.notify_rows import add_channel, add_incidents, add_rule

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=100)  # older than the 90 days events are kept
RECENT = NOW - timedelta(days=1)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    wipe(engine)
    with Session(engine, expire_on_commit=False) as session:
        add_channel(session, "ops", "json://127.0.0.1:9/hook")
        yield session


def _incident(session: Session, subject: str, *, resolved_at: datetime | None) -> int:
    rule = session.get(AlertRule, "silent") or add_rule(session, "silent", ["ops"])
    [incident] = add_incidents(session, rule, [subject], started_at=OLD, resolved_at=resolved_at)
    assert incident.id is not None
    session.add_all(
        IncidentEvent(incident_id=incident.id, at=OLD, type=kind, detail={})
        for kind in ("fired", "resolved")
    )
    session.commit()
    return incident.id


def _notification(session: Session, status: str, created_at: datetime) -> str:
    row = Notification(
        id=str(uuid.uuid4()),
        channel_id="ops",
        event="firing",
        status=status,
        next_attempt_at=created_at,
        created_at=created_at,
    )
    session.add(row)
    session.commit()
    return row.id


def _prune(session: Session, batch_size: int = 1000) -> retention.PruneResult:
    return retention.prune(
        session=session, now=NOW, samples_days=7, events_days=90, batch_size=batch_size
    )


def test_resolved_incidents_older_than_the_retention_go_with_their_timeline(
    session: Session,
) -> None:
    gone = [_incident(session, f"rig-{n}", resolved_at=OLD + timedelta(hours=n)) for n in range(3)]
    recent = _incident(session, "rig-recent", resolved_at=RECENT)
    still_open = _incident(session, "rig-open", resolved_at=None)

    # A batch of 2 over 3 rows: the prune goes on until a short batch.
    result = _prune(session, batch_size=2)

    assert result.incidents == 3
    kept = session.exec(select(col(Incident.id)).order_by(col(Incident.id))).all()
    assert kept == [recent, still_open]
    timelines = set(session.exec(select(col(IncidentEvent.incident_id))).all())
    assert timelines == {recent, still_open}
    assert not timelines & set(gone)


def test_only_finished_notifications_older_than_the_retention_go(session: Session) -> None:
    old_sent = _notification(session, "sent", OLD)
    old_failed = _notification(session, "failed", OLD)
    old_pending = _notification(session, "pending", OLD)
    recent_sent = _notification(session, "sent", RECENT)

    result = _prune(session)

    assert result.notifications == 2
    kept = set(session.exec(select(col(Notification.id))).all())
    assert kept == {old_pending, recent_sent}
    assert not kept & {old_sent, old_failed}


def test_an_incident_resolved_just_inside_the_window_stays(session: Session) -> None:
    inside = _incident(session, "rig", resolved_at=NOW - timedelta(days=90, seconds=-1))
    assert _prune(session).incidents == 0
    assert session.exec(select(col(Incident.id))).all() == [inside]
