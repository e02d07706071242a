"""What the alerts say about one agent or miner, for its page: its health, the rules whose
condition holds for it, its latest incidents, and the maintenance silences covering it."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from app.alerts import health, incidents, silences
from app.alerts.health import StateRow
from app.alerts.incidents import IncidentQuery
from app.alerts.silence_match import matches
from app.models.alerts import HealthName, Incident, Silence

RECENT_INCIDENTS = 5
# Active silences read to find the ones covering a subject (there are few at a time).
ACTIVE_SILENCES = 500


@dataclass(frozen=True)
class SubjectAlerts:
    health: HealthName
    # Its current states: firing before pending, worst severity first.
    states: list[StateRow]
    incidents: list[Incident]
    # Active silences without a rule that cover it: why its health is maintenance.
    maintenance: list[Silence]


def subject_alerts(
    session: Session, *, subject_type: str, subject: str, domain: str | None, now: datetime
) -> SubjectAlerts:
    """The subject's judgement at `now`, in a handful of queries."""
    if subject_type == "agent":
        judged = health.agent_health(session, now=now, agent_ids=[subject])[subject]
    else:
        judged = health.miner_health(session, now=now, miner_ids=[subject])[subject]
    states = health.load_states(session, subject_type=subject_type, subjects=[subject])
    states.sort(key=lambda state: (state.state != "firing", _rank(state.severity), state.since))
    recent, _ = incidents.list_incidents(
        session=session, query=IncidentQuery(subject=subject), limit=RECENT_INCIDENTS * 2
    )
    active, _ = silences.list_silences(
        session=session, status="active", now=now, limit=ACTIVE_SILENCES
    )
    covering = [
        silence
        for silence in active
        if not (silence.matchers or {}).get("ruleId")
        and matches(silence, rule_id="", subject_type=subject_type, subject=subject, domain=domain)
    ]
    return SubjectAlerts(
        health=judged,
        states=states,
        incidents=[row for row in recent if row.subject_type == subject_type][:RECENT_INCIDENTS],
        maintenance=covering,
    )


def _rank(severity: str) -> int:
    return health.SEVERITY_RANK.get(severity, len(health.SEVERITY_RANK))
