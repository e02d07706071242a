"""A rule's planned transitions written in the caller's transaction: states, incidents and
their timelines, and the outbox rows (app.alerts.outbox), in statements whose number does
not grow with the fleet; returns the live messages to publish after the commit."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, update
from sqlmodel import Session, col

from app.alerts import outbox
from app.alerts.targets import Match
from app.alerts.transitions import StoredState, Transitions, promoted
from app.live.broadcaster import Message
from app.models import AlertRule, AlertState, Incident, IncidentEvent
from app.models.alerts import NotificationEvent


class _RuleWrites:
    """The rows one rule's transitions write, gathered, then sent in a few statements."""

    def __init__(self, rule: AlertRule, subject_type: str, now: datetime) -> None:
        self.rule = rule
        self.subject_type = subject_type
        self.now = now
        self.messages: list[Message] = []
        self.events: list[dict[str, Any]] = []
        self.state_updates: list[dict[str, Any]] = []
        self.incident_updates: list[dict[str, Any]] = []
        self.gone: list[int] = []
        self.notify: dict[NotificationEvent, list[int]] = {"firing": [], "resolved": []}

    def message(self, subject: str, state: str) -> None:
        rule = self.rule
        data = {"ruleId": rule.id, "subject": subject, "state": state, "severity": rule.severity}
        self.messages.append({"type": "alert", "data": data})

    def event(self, incident_id: int, at: datetime, kind: str, **detail: Any) -> None:
        self.events.append({"incident_id": incident_id, "at": at, "type": kind, "detail": detail})

    def opened(self, match: Match, fired_at: datetime, silenced: bool, incident_id: int) -> None:
        self.event(incident_id, fired_at, "fired", value=match.value)
        if silenced:
            self.event(incident_id, fired_at, "silenced")
        else:
            self.notify["firing"].append(incident_id)
        self.message(match.subject, "firing")

    def kept(
        self,
        state: StoredState,
        match: Match,
        fired_at: datetime | None,
        silenced: bool,
        incident_id: int | None,
    ) -> None:
        """A state whose condition still holds (it may fire now): value and silence kept
        current; `incident_id` is its incident, just opened if it fires now. An unchanged
        state is not rewritten (evaluated_at is when the evaluator last changed it)."""
        state_name = "pending" if fired_at is None else "firing"
        unchanged = (state_name, fired_at, match.value, silenced, incident_id) == (
            state.state,
            state.fired_at,
            state.value,
            state.silenced,
            state.incident_id,
        )
        if unchanged:
            return
        self.state_updates.append(
            {
                "id": state.id,
                "state": state_name,
                "fired_at": fired_at,
                "value": match.value,
                "silenced": silenced,
                "incident_id": incident_id,
                "evaluated_at": self.now,
            }
        )
        if state.state != "firing" or incident_id is None:
            return
        self.incident_updates.append(
            {
                "id": incident_id,
                "last_value": match.value,
                "silenced": silenced,
                "resolved_at": None,
            }
        )
        if silenced and not state.silenced:
            self.event(incident_id, self.now, "silenced")
        elif state.silenced and not silenced:
            # The silence ended while it still fires: the message it held back goes now.
            self.notify["firing"].append(incident_id)

    def ended(self, state: StoredState) -> None:
        """A state whose condition cleared: deleted, its incident (if it fired) resolved."""
        self.gone.append(state.id)
        self.message(state.subject, "ok")
        incident_id = state.incident_id
        if state.state != "firing" or incident_id is None:
            return
        self.incident_updates.append(
            {
                "id": incident_id,
                "last_value": state.value,
                "silenced": state.silenced,
                "resolved_at": self.now,
            }
        )
        self.event(incident_id, self.now, "resolved", value=state.value)
        if not state.silenced:
            self.notify["resolved"].append(incident_id)


def write_transitions(
    session: Session,
    rule: AlertRule,
    subject_type: str,
    plan: Transitions,
    *,
    now: datetime,
    group_seconds: float,
) -> list[Message]:
    """Write a rule's transitions; its outbox rows join the same transaction."""
    writes = _RuleWrites(rule, subject_type, now)
    # Incidents first: the states that fire point at theirs.
    opening = [(m, at, silenced) for m, _, at, silenced in plan.new if at is not None]
    opening += [
        (m, at, silenced)
        for state, m, at, silenced in plan.kept
        if at is not None and promoted(state, at)
    ]
    incident_ids = _open_incidents(session, rule, subject_type, opening)
    incident_of: dict[str, int] = {}
    for (m, opened_at, silenced), incident_id in zip(opening, incident_ids, strict=True):
        incident_of[m.subject] = incident_id
        writes.opened(m, opened_at, silenced, incident_id)

    new_states = []
    for m, since, fired_at, silenced in plan.new:
        if fired_at is None:
            writes.message(m.subject, "pending")
        new_states.append(
            {
                "rule_id": rule.id,
                "subject_type": subject_type,
                "subject": m.subject,
                "state": "pending" if fired_at is None else "firing",
                "since": since,
                "fired_at": fired_at,
                "value": m.value,
                "silenced": silenced,
                "incident_id": incident_of.get(m.subject),
                "evaluated_at": now,
            }
        )
    for state, m, kept_fired_at, silenced in plan.kept:
        writes.kept(
            state, m, kept_fired_at, silenced, incident_of.get(m.subject, state.incident_id)
        )
    for state in (*plan.resolved, *plan.cleared):
        writes.ended(state)

    if new_states:
        session.execute(insert(AlertState), new_states)
    if writes.state_updates:
        session.execute(update(AlertState), writes.state_updates)
    if writes.incident_updates:
        session.execute(update(Incident), writes.incident_updates)
    if writes.gone:
        session.execute(delete(AlertState).where(col(AlertState.id).in_(writes.gone)))
    if writes.events:
        session.execute(insert(IncidentEvent), writes.events)
    for notification, ids in writes.notify.items():
        if ids:
            outbox.enqueue(
                session,
                rule=rule,
                event=notification,
                incident_ids=ids,
                now=now,
                group_seconds=group_seconds,
            )
    return writes.messages


def _open_incidents(
    session: Session,
    rule: AlertRule,
    subject_type: str,
    opening: Sequence[tuple[Match, datetime, bool]],
) -> list[int]:
    """Insert one incident per firing subject (one statement); their ids in that order."""
    if not opening:
        return []
    rows = [
        {
            "rule_id": rule.id,
            "rule_name": rule.name,
            "kind": rule.kind,
            "severity": rule.severity,
            "subject_type": subject_type,
            "subject": m.subject,
            "started_at": fired_at,
            "silenced": silenced,
            "value": m.value,
            "last_value": m.value,
            "runbook_id": rule.runbook_id,
        }
        for m, fired_at, silenced in opening
    ]
    # Matched back by subject (one per rule's batch), not by the order of RETURNING: asking
    # SQLAlchemy for the parameters' order makes it insert row by row on SQLite.
    statement = insert(Incident).returning(col(Incident.id), col(Incident.subject))
    ids = {subject: int(incident_id) for incident_id, subject in session.execute(statement, rows)}
    return [ids[m.subject] for m, _, _ in opening]
