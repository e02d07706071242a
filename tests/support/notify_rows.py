"""Rows the notification tests arrange: channels, rules and incidents, and an outbox row
enqueued the way a transition writes it.

Tests of the outbox run on a clock far in the future (CLOCK): rows they write are never
due for the delivery worker of the app the suite shares (it reads the real clock), so only
the test's own deliver_due() steps send them.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from app.alerts import outbox
from app.core.timeutil import utcnow
from app.models import Miner
from app.models.alerts import AlertRule, Channel, Incident, IncidentEvent, Notification

CLOCK = datetime(2100, 1, 4, 12, 0, tzinfo=UTC)


def add_channel(session: Session, channel_id: str, url: str, **fields: Any) -> Channel:
    values: dict[str, Any] = {"name": f"Channel {channel_id}", "enabled": True}
    values.update(fields)
    channel = Channel(id=channel_id, url=url, created_at=CLOCK, updated_at=CLOCK, **values)
    session.add(channel)
    session.commit()
    return channel


def add_rule(session: Session, rule_id: str, channels: Sequence[str], **fields: Any) -> AlertRule:
    values: dict[str, Any] = {
        "name": f"Rule {rule_id}",
        "kind": "miner_silent",
        "severity": "critical",
        "params": {},
        "target": {},
    }
    values.update(fields)
    rule = AlertRule(
        id=rule_id, channels=list(channels), created_at=CLOCK, updated_at=CLOCK, **values
    )
    session.add(rule)
    session.commit()
    return rule


def add_incidents(
    session: Session,
    rule: AlertRule,
    subjects: Sequence[str],
    *,
    started_at: datetime = CLOCK,
    **fields: Any,
) -> list[Incident]:
    """One firing incident of `rule` per subject (miners unless the fields say otherwise)."""
    values: dict[str, Any] = {"subject_type": "miner", "value": 600.0}
    values.update(fields)
    incidents = [
        Incident(
            rule_id=rule.id,
            rule_name=rule.name,
            kind=rule.kind,
            severity=rule.severity,
            subject=subject,
            started_at=started_at,
            **values,
        )
        for subject in subjects
    ]
    session.add_all(incidents)
    session.commit()
    return incidents


def fire(
    session: Session,
    rule: AlertRule,
    subjects: Sequence[str],
    *,
    now: datetime = CLOCK,
    group_seconds: float = 0,
    event: str = "firing",
) -> list[Notification]:
    """Incidents for `subjects` and their outbox rows, committed together like a transition."""
    incidents = add_incidents(session, rule, subjects, started_at=now)
    rows = outbox.enqueue(
        session,
        rule=rule,
        event=event,  # type: ignore[arg-type]
        incident_ids=[incident.id for incident in incidents if incident.id is not None],
        now=now,
        group_seconds=group_seconds,
    )
    session.commit()
    return rows


def notification(session: Session, notification_id: str) -> Notification:
    session.expire_all()
    row = session.get(Notification, notification_id)
    assert row is not None
    return row


def timeline(session: Session, incident_id: int) -> list[IncidentEvent]:
    session.expire_all()
    return list(
        session.exec(
            select(IncidentEvent)
            .where(col(IncidentEvent.incident_id) == incident_id)
            .order_by(col(IncidentEvent.at), col(IncidentEvent.id))
        ).all()
    )


def later(seconds: float, start: datetime = CLOCK) -> datetime:
    return start + timedelta(seconds=seconds)


def add_silent_miners(session: Session, miner_ids: Sequence[str], *, silent_for: float) -> None:
    """Miners whose last sample is `silent_for` seconds old (real time: for an evaluator)."""
    last = utcnow() - timedelta(seconds=silent_for)
    session.add_all(
        Miner(miner_id=miner_id, first_seen_at=last, last_recorded_at=last)
        for miner_id in miner_ids
    )
    session.commit()


def add_silence_rules(session: Session, miner_ids: Sequence[str], channel: str) -> None:
    """One miner_silent rule (60 s) per miner, each notifying `channel`: one message each."""
    for miner_id in miner_ids:
        add_rule(
            session,
            f"silent-{miner_id}",
            [channel],
            params={"afterSeconds": 60},
            target={"miners": [miner_id]},
        )
