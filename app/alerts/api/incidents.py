"""Incidents (SPEC §11): history and timeline (read scope); acknowledge and run the rule's
runbook in the incident's context (operate), both on the timeline and in the audit log."""

from typing import Annotated

from fastapi import APIRouter, Path
from sqlmodel import Session

from app.alerts import incidents
from app.alerts.deps import ClockDep, IncidentQueryDep
from app.alerts.schemas import (
    IncidentDetail,
    IncidentPage,
    IncidentRunRequest,
    IncidentRunResponse,
)
from app.audit.deps import AuditActorDep
from app.auth.deps import AuthFirstRoute, OperatePrincipal, ReadPrincipal
from app.core.deps import PageDep, RequestIdDep, SessionDep, SettingsDep
from app.core.pagination import DEFAULT_LIMIT, encode_cursor
from app.core.responses import errors
from app.runbooks.deps import GatewayDep

router = APIRouter(tags=["alerts"], route_class=AuthFirstRoute, strict_content_type=False)

# BIGINT ids: a larger number names no incident (and would overflow the query).
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The incident's id.")]


@router.get(
    "/api/incidents",
    response_model=IncidentPage,
    responses=errors(401, 403),
    summary="Incidents, newest first (by startedAt)",
)
def list_incidents(
    _principal: ReadPrincipal, session: SessionDep, page: PageDep, query: IncidentQueryDep
) -> IncidentPage:
    rows, last = incidents.list_incidents(
        session=session, query=query, limit=page.limit or DEFAULT_LIMIT, cursor=page.cursor
    )
    return IncidentPage(
        items=[incidents.incident_public(row) for row in rows],
        next_cursor=encode_cursor(last) if last else None,
    )


def _detail(session: Session, incident_id: int) -> IncidentDetail:
    incident = incidents.get_incident(session=session, incident_id=incident_id)
    events = incidents.timeline(session=session, incident_id=incident_id)
    return IncidentDetail(
        incident=incidents.incident_public(incident),
        timeline=[incidents.timeline_entry(event) for event in events],
    )


@router.get(
    "/api/incidents/{incident_id}",
    response_model=IncidentDetail,
    responses=errors(401, 403, 404),
    summary="One incident and its timeline (oldest first)",
)
def get_incident(
    incident_id: IncidentId, _principal: ReadPrincipal, session: SessionDep
) -> IncidentDetail:
    return _detail(session, incident_id)


@router.post(
    "/api/incidents/{incident_id}/ack",
    response_model=IncidentDetail,
    responses=errors(401, 403, 404, 409),
    summary="Acknowledge an open incident (operate): reminders stop, channels are told",
    description="409 when it is already acknowledged (the answer says by whom) or resolved.",
)
def acknowledge(
    incident_id: IncidentId,
    principal: OperatePrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> IncidentDetail:
    incidents.acknowledge(
        session,
        incident_id,
        by=principal.name,
        now=clock(),
        group_seconds=settings.alert_group_seconds,
        actor=actor,
    )
    return _detail(session, incident_id)


@router.post(
    "/api/incidents/{incident_id}/run",
    response_model=IncidentRunResponse,
    responses=errors(400, 401, 403, 404, 409),
    summary="Run the incident's runbook (operate), its input filled for the subject",
    description="The rule's `runbookInput` with `{subject}` replaced, unless the body gives "
    "`input`; validated, recorded and sent like POST /api/runbooks/{id}/execute. The run id "
    "goes on the incident's timeline (`runbook_run`). 409 when the incident has no runbook.",
)
def run_runbook(
    incident_id: IncidentId,
    body: IncidentRunRequest,
    principal: OperatePrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    request_id: RequestIdDep,
    gateway: GatewayDep,
    clock: ClockDep,
) -> IncidentRunResponse:
    outcome = incidents.run_runbook(
        session=session,
        incident_id=incident_id,
        input_override=body.input,
        idempotency_key=body.idempotency_key,
        request_id=request_id,
        by=principal.name,
        gateway=gateway,
        actor=actor,
        now=clock(),
    )
    return IncidentRunResponse(
        run_id=outcome.run_id,
        accepted=outcome.run.accepted,
        runbook_id=outcome.runbook_id,
        input=outcome.input,
    )
