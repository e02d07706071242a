"""What rules that stopped judging left behind (run first in each evaluator cycle)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlmodel import Session, col

from app.live.broadcaster import Message
from app.models import AlertRule, AlertState, Incident, IncidentEvent


def sweep_stopped_rules(
    session: Session, rules: Sequence[AlertRule], *, now: datetime
) -> tuple[int, list[Message]]:
    """Rules that stopped judging hold no state and no open incident: what a disabled rule
    left behind is removed, and every open incident of a rule disabled or deleted resolves,
    without a notification. The rules API does the same when it
    disables or deletes; this catches what reached the database another way."""
    messages: list[Message] = []
    disabled = {rule.id: rule for rule in rules if not rule.enabled}
    if disabled:
        left = session.execute(
            select(col(AlertState.rule_id), col(AlertState.subject)).where(
                col(AlertState.rule_id).in_(list(disabled))
            )
        ).all()
        if left:
            session.execute(delete(AlertState).where(col(AlertState.rule_id).in_(list(disabled))))
            for rule_id, subject in left:
                severity = disabled[rule_id].severity
                data = {"ruleId": rule_id, "subject": subject, "state": "ok", "severity": severity}
                messages.append({"type": "alert", "data": data})
    # Only the evaluator opens incidents, each with its state: an open incident of an
    # enabled rule has one; those of other rules are left over.
    enabled = [rule.id for rule in rules if rule.enabled]
    orphans = session.execute(
        select(col(Incident.id), col(Incident.rule_id)).where(
            col(Incident.resolved_at).is_(None), col(Incident.rule_id).not_in(enabled)
        )
    ).all()
    if orphans:
        known = {rule.id for rule in rules}
        session.execute(
            update(Incident)
            .where(col(Incident.id).in_([row.id for row in orphans]))
            .values(resolved_at=now)
        )
        session.execute(
            insert(IncidentEvent),
            [
                {
                    "incident_id": row.id,
                    "at": now,
                    "type": "resolved",
                    "detail": {
                        "reason": "rule disabled" if row.rule_id in known else "rule deleted"
                    },
                }
                for row in orphans
            ],
        )
    session.commit()
    return len(orphans), messages
