"""Incidents: history with filters and keyset pages, the timeline, acknowledgement, and the
rule's runbook run in the incident's context (SPEC §11, issue 12 points 6 and 7).

The evaluator opens and resolves incidents; people acknowledge them and run their runbook.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.agents.events import check_time_range
from app.alerts import outbox
from app.alerts.schemas import IncidentPublic, IncidentState, TimelineEntry
from app.audit import service as audit
from app.audit.service import Actor
from app.core.errors import ConflictError, NotFoundError
from app.core.pagination import Cursor, newest_first_after
from app.core.timeutil import isoformat
from app.models import RunbookRun
from app.models.alerts import AlertRule, Incident, IncidentEvent
from app.runbooks import runs
from app.runbooks.gateway import WorkflowGateway

INCIDENT_NOT_FOUND = "Incident not found"
SUBJECT_PLACEHOLDER = "{subject}"
CHUNK_ROWS = 500
INCIDENT_COLUMNS = tuple(field.alias or name for name, field in IncidentPublic.model_fields.items())


@dataclass(frozen=True)
class IncidentQuery:
    """Filters of the incident list and export; since/until bound `startedAt` [since, until)."""

    state: IncidentState = "all"
    rule_id: str | None = None
    subject: str | None = None
    severity: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def filtered_incidents(query: IncidentQuery) -> SelectOfScalar[Incident]:
    """Incidents matching the query, newest first (started_at desc, id desc)."""
    check_time_range(query.since, query.until)
    statement = select(Incident)
    if query.state == "open":
        statement = statement.where(col(Incident.resolved_at).is_(None))
    elif query.state == "resolved":
        statement = statement.where(col(Incident.resolved_at).is_not(None))
    if query.rule_id is not None:
        statement = statement.where(col(Incident.rule_id) == query.rule_id)
    if query.subject is not None:
        statement = statement.where(col(Incident.subject) == query.subject)
    if query.severity is not None:
        statement = statement.where(col(Incident.severity) == query.severity)
    if query.since is not None:
        statement = statement.where(col(Incident.started_at) >= query.since)
    if query.until is not None:
        statement = statement.where(col(Incident.started_at) < query.until)
    return statement.order_by(col(Incident.started_at).desc(), col(Incident.id).desc())


def list_incidents(
    *, session: Session, query: IncidentQuery, limit: int, cursor: Cursor | None = None
) -> tuple[list[Incident], Cursor | None]:
    """One page of incidents and the cursor of the next page (None on the last one)."""
    statement = filtered_incidents(query)
    if cursor is not None:
        statement = statement.where(
            newest_first_after(Incident.started_at, Incident.id, cursor, int)
        )
    rows = list(session.exec(statement.limit(limit + 1)).all())
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], [isoformat(last.started_at), last.id]


def get_incident(*, session: Session, incident_id: int) -> Incident:
    """The incident, or NotFoundError."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFoundError(INCIDENT_NOT_FOUND)
    return incident


def timeline(*, session: Session, incident_id: int) -> list[IncidentEvent]:
    """The incident's events, oldest first."""
    return list(
        session.exec(
            select(IncidentEvent)
            .where(col(IncidentEvent.incident_id) == incident_id)
            .order_by(col(IncidentEvent.at), col(IncidentEvent.id))
        ).all()
    )


def incident_public(incident: Incident) -> IncidentPublic:
    return IncidentPublic.model_validate(incident)


def timeline_entry(event: IncidentEvent) -> TimelineEntry:
    return TimelineEntry.model_validate(event)


def acknowledge(
    session: Session,
    incident_id: int,
    *,
    by: str,
    now: datetime,
    group_seconds: float,
    actor: Actor,
) -> Incident:
    """Acknowledge an open incident: reminders stop, the timeline and the audit log say who.

    404 unknown; 409 already acknowledged or resolved. One conditional UPDATE decides, so of
    two people acknowledging at once one succeeds and the other is told it was done. The
    "acknowledged" notification goes out unless the incident is silenced (silenced
    incidents send nothing), in the same transaction as the acknowledgement.
    """
    incident = get_incident(session=session, incident_id=incident_id)
    acknowledged = session.exec(
        update(Incident)
        .where(
            col(Incident.id) == incident_id,
            col(Incident.acknowledged_at).is_(None),
            col(Incident.resolved_at).is_(None),
        )
        .values(acknowledged_at=now, acknowledged_by=by)
        .execution_options(synchronize_session=False)
    )
    if acknowledged.rowcount != 1:
        session.refresh(incident)
        if incident.resolved_at is not None:
            raise ConflictError(f"Incident {incident_id} is resolved")
        raise ConflictError(
            f"Incident {incident_id} was already acknowledged by {incident.acknowledged_by}"
        )
    session.refresh(incident)
    session.add(
        IncidentEvent(incident_id=incident_id, at=now, type="acknowledged", detail={"by": by})
    )
    rule = session.get(AlertRule, incident.rule_id)
    if rule is not None and not incident.silenced:
        outbox.enqueue(
            session,
            rule=rule,
            event="acknowledged",
            incident_ids=[incident_id],
            now=now,
            group_seconds=group_seconds,
        )
    audit.record(
        session,
        actor=actor,
        action="incident.ack",
        target_type="incident",
        target_id=str(incident_id),
        summary=f"Acknowledged incident {incident_id} ({incident.rule_id} on {incident.subject})",
        detail={"by": by, "ruleId": incident.rule_id, "subject": incident.subject},
        now=now,
    )
    session.commit()
    return incident


def record_runbook_run(
    session: Session, incident_id: int, *, run_id: str, runbook_id: str, by: str, now: datetime
) -> None:
    """The incident timeline's `runbook_run` entry: which run, of which runbook, by whom."""
    session.add(
        IncidentEvent(
            incident_id=incident_id,
            at=now,
            type="runbook_run",
            detail={"runId": run_id, "runbookId": runbook_id, "by": by},
        )
    )
    session.flush()


def fill_subject(template: Any, subject: str) -> Any:
    """`template` with `{subject}` replaced in every string, nested values included."""
    if isinstance(template, str):
        return template.replace(SUBJECT_PLACEHOLDER, subject)
    if isinstance(template, dict):
        return {key: fill_subject(value, subject) for key, value in template.items()}
    if isinstance(template, list):
        return [fill_subject(value, subject) for value in template]
    return template


@dataclass(frozen=True)
class RunbookPlan:
    """The runbook an incident offers and its input filled for the subject (pre-filled form)."""

    runbook_id: str
    input: dict[str, Any]


def runbook_plan(*, session: Session, incident: Incident) -> RunbookPlan | None:
    """The incident's runbook (its own, else its rule's current one) and the rule's
    runbookInput filled for the subject; None when neither names a runbook."""
    rule = session.get(AlertRule, incident.rule_id)
    runbook_id = incident.runbook_id or (rule.runbook_id if rule is not None else None)
    if runbook_id is None:
        return None
    template = rule.runbook_input if rule is not None and rule.runbook_id == runbook_id else None
    return RunbookPlan(runbook_id=runbook_id, input=fill_subject(template or {}, incident.subject))


@dataclass(frozen=True)
class IncidentRun:
    run: RunbookRun
    run_id: str
    runbook_id: str
    input: dict[str, Any]


def run_runbook(
    *,
    session: Session,
    incident_id: int,
    input_override: dict[str, Any] | None,
    idempotency_key: str | None,
    request_id: str | None,
    by: str,
    gateway: WorkflowGateway | None,
    actor: Actor,
    now: datetime,
) -> IncidentRun:
    """Run the incident's runbook through the runbook service (validated against its schema,
    recorded, sent to the gateway) and put the run id on the incident's timeline.

    409 when the incident offers no runbook; the runbook service's 404 / 400 otherwise.
    """
    incident = get_incident(session=session, incident_id=incident_id)
    plan = runbook_plan(session=session, incident=incident)
    if plan is None:
        raise ConflictError(f"Incident {incident_id} has no runbook: its rule names none")
    data = plan.input if input_override is None else input_override
    run = runs.execute_runbook(
        session=session,
        runbook_id=plan.runbook_id,
        data=data,
        idempotency_key=idempotency_key,
        request_id=request_id,
        requested_by=by,
        gateway=gateway,
        # The run's audit row is written with the run itself, before the gateway is called.
        actor=actor,
    )
    run_id = runs.public_run_id(run)
    record_runbook_run(
        session, incident_id, run_id=run_id, runbook_id=plan.runbook_id, by=by, now=now
    )
    session.commit()
    return IncidentRun(run=run, run_id=run_id, runbook_id=plan.runbook_id, input=run.input or {})


def resolve_open(session: Session, *, rule_id: str, now: datetime, reason: str) -> int:
    """Resolve the rule's open incidents now (the rule was deleted or disabled); how many.

    No notification: the condition did not clear, the rule stopped judging it; the timeline
    entry says why. The caller commits.
    """
    open_incidents = session.exec(
        select(Incident).where(
            col(Incident.rule_id) == rule_id, col(Incident.resolved_at).is_(None)
        )
    ).all()
    for incident in open_incidents:
        incident.resolved_at = now
        session.add(incident)
        session.add(
            IncidentEvent(
                incident_id=incident.id or 0, at=now, type="resolved", detail={"reason": reason}
            )
        )
    session.flush()
    return len(open_incidents)


def export_incidents(*, engine: Engine, query: IncidentQuery) -> Iterator[dict[str, Any]]:
    """Incidents matching the query, newest first, as API-shaped rows (lazy; own session:
    the rows are read after the request handler returned)."""
    statement = filtered_incidents(query)

    def rows() -> Iterator[dict[str, Any]]:
        with Session(engine) as session:
            for incident in session.exec(statement.execution_options(yield_per=CHUNK_ROWS)):
                yield incident_public(incident).model_dump(mode="json", by_alias=True)

    return rows()
