"""Incident pages: the history with filters and keyset pages, and one incident with its
timeline and what an operator does about it: acknowledge, run the rule's runbook filled for
the subject, silence the subject for a while (SPEC §11, issue 12 points 6 and 7).

Every action is a plain form post answered 303 with the incident page (the outcome named in
its query), so it works without JavaScript; htmx follows the redirect and swaps the page.
A refusal (409 resolved already, 422 a field) is the incident page with the reason.
"""

import copy
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app.alerts import health, incidents, rules, silences
from app.alerts.deps import ClockDep
from app.alerts.incidents import IncidentQuery
from app.alerts.pages.common import FormDep, not_found_page, quoted, url
from app.alerts.schemas import IncidentState, Matchers, SilenceCreate
from app.audit.deps import AuditActorDep
from app.auth.deps import WebOperate, WebRead
from app.core.deps import RequestIdDep, SessionDep, SettingsDep
from app.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    UnprocessableError,
)
from app.core.pagination import decode_cursor, encode_cursor
from app.core.templating import render
from app.core.timeutil import datetime_local, isoformat, parse_datetime
from app.models import Incident, Runbook, RunbookRun
from app.models.alerts import SEVERITIES
from app.runbooks import runs
from app.runbooks import service as runbooks
from app.runbooks.deps import GatewayDep
from app.runbooks.schema_form import FormField, form_fields, initial_values, parse_submission

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
STATES: tuple[IncidentState, ...] = ("all", "open", "resolved")
# "Silence this subject for": the buttons of the incident page, in hours.
SILENCE_HOURS = {"1": "1 h", "4": "4 h", "24": "1 day"}
LIST_PARTIALS = {"incidents-results": "partials/alerts/incidents_results.html"}
IncidentIdText = Annotated[str, Path(max_length=20)]
Text = Annotated[str, Query(max_length=128)]
TimeText = Annotated[str, Query(max_length=64)]


@router.get("/incidents", response_class=HTMLResponse)
def incidents_page(
    request: Request,
    _: WebRead,
    session: SessionDep,
    clock: ClockDep,
    state: Annotated[str, Query(max_length=16)] = "all",
    rule_id: Annotated[str, Query(alias="ruleId", max_length=128)] = "",
    subject: Text = "",
    severity: Annotated[str, Query(max_length=16)] = "",
    since: TimeText = "",
    until: TimeText = "",
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> HTMLResponse:
    """Incidents newest first, 50 a page, filtered by state, rule, subject, severity and when
    they started; only the results for HX-Target "incidents-results"."""
    errors: dict[str, str] = {}
    if state not in STATES:
        errors["state"] = f"Choose one of {', '.join(STATES)}."
    if severity and severity not in SEVERITIES:
        errors["severity"] = f"Choose one of {', '.join(SEVERITIES)}."
    start, end = _time("since", since, errors), _time("until", until, errors)
    if start is not None and end is not None and end <= start:
        errors["until"] = "must be later than since"
    query = IncidentQuery(
        state=state if state in STATES else "all",
        rule_id=rule_id.strip() or None,
        subject=subject.strip() or None,
        severity=severity or None,
        since=start,
        until=end,
    )
    rows: list[Incident] = []
    last = None
    if not errors:
        try:
            rows, last = incidents.list_incidents(
                session=session,
                query=query,
                limit=PAGE_SIZE,
                cursor=decode_cursor(cursor) if cursor else None,
            )
        except UnprocessableError as exc:
            errors["cursor"] = exc.detail
    values = {
        "state": state,
        "ruleId": rule_id,
        "subject": subject,
        "severity": severity,
        "since": since if "since" in errors or start is None else datetime_local(start),
        "until": until if "until" in errors or end is None else datetime_local(end),
    }
    params = {key: value for key, value in values.items() if value and value != "all"}
    page_url = url("/incidents", params)
    known_rules, _rest = rules.list_rules(session=session)
    rule_choices = [(rule.id, rule.name) for rule in known_rules]
    if query.rule_id and query.rule_id not in {rule.id for rule in known_rules}:
        rule_choices.append((query.rule_id, f"{query.rule_id} (deleted)"))
    context = {
        "section": "alerts",
        "page_title": "Incidents",
        "view": "incidents",
        "now": clock(),
        "incidents": rows,
        "errors": errors,
        "values": values,
        "states": STATES,
        "severities": SEVERITIES,
        "rule_choices": rule_choices,
        "filtered": bool(params),
        "page_url": page_url,
        "paged": cursor is not None,
        "next_url": url("/incidents", {**params, "cursor": encode_cursor(last)}) if last else None,
        "first_url": page_url if cursor else None,
        "export_query": "" if errors else url("", _export_params(query)).lstrip("?"),
    }
    return render(
        request,
        "pages/alerts/incidents.html",
        context,
        partials=LIST_PARTIALS,
        status_code=422 if errors else 200,
    )


def _time(name: str, text: str, errors: dict[str, str]) -> datetime | None:
    if not text.strip():
        return None
    try:
        return parse_datetime(text)  # a datetime-local value is UTC, as the form says
    except ValueError:
        errors[name] = "must be a date and time, e.g. 2026-01-05T10:00 (UTC)"
        return None


def _export_params(query: IncidentQuery) -> dict[str, str]:
    return {
        "state": "" if query.state == "all" else query.state,
        "ruleId": query.rule_id or "",
        "subject": query.subject or "",
        "severity": query.severity or "",
        "since": isoformat(query.since) if query.since else "",
        "until": isoformat(query.until) if query.until else "",
    }


# --- one incident --------------------------------------------------------------------------


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(
    request: Request,
    incident_id: IncidentIdText,
    _: WebRead,
    session: SessionDep,
    clock: ClockDep,
    run: Annotated[str, Query(max_length=200)] = "",
    silenced: Annotated[str, Query(max_length=128)] = "",
    done: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    """One incident: facts, timeline (oldest first) and, for operate, its actions."""
    incident = _find(session, incident_id)
    if incident is None:
        return _not_found(request, incident_id)
    context = _detail_context(session, incident, now=clock())
    context.update(
        shown_run=_shown_run(session, context["runbook"], run),
        shown_run_id=run,
        silenced_id=silenced,
        acknowledged_now=done == "acknowledged",
    )
    return _detail_page(request, context, status_code=200)


@router.post("/incidents/{incident_id}/ack", response_class=HTMLResponse, response_model=None)
def acknowledge(
    request: Request,
    incident_id: IncidentIdText,
    principal: WebOperate,
    actor: AuditActorDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> Response:
    """Acknowledge the incident (operate): reminders stop, channels are told; audited."""
    incident = _find(session, incident_id)
    if incident is None:
        return _not_found(request, incident_id)
    now = clock()
    try:
        incidents.acknowledge(
            session,
            int(incident_id),
            by=principal.name,
            now=now,
            group_seconds=settings.alert_group_seconds,
            actor=actor,
        )
    except ConflictError as exc:
        context = _detail_context(session, incident, now=now)
        context["action_error"] = exc.detail
        return _detail_page(request, context, status_code=409)
    return RedirectResponse(url(_incident_url(incident_id), {"done": "acknowledged"}), 303)


@router.post("/incidents/{incident_id}/run", response_class=HTMLResponse, response_model=None)
def run_runbook(
    request: Request,
    incident_id: IncidentIdText,
    principal: WebOperate,
    actor: AuditActorDep,
    session: SessionDep,
    request_id: RequestIdDep,
    gateway: GatewayDep,
    clock: ClockDep,
    form: FormDep,
) -> Response:
    """Run the incident's runbook with the form's input (operate), through the same service
    as POST /api/incidents/{id}/run: validated, recorded, and put on the timeline."""
    incident = _find(session, incident_id)
    if incident is None:
        return _not_found(request, incident_id)
    now = clock()
    context = _detail_context(session, incident, now=now)
    runbook: Runbook | None = context["runbook"]
    if runbook is None or context["schema_problem"]:
        context["action_error"] = (
            context["schema_problem"] or "This incident offers no runbook to run."
        )
        return _detail_page(request, context, status_code=409)
    submission = parse_submission(runbook.inputs_schema, form.first_values())
    status_code = 422
    if submission.ok:
        try:
            outcome = incidents.run_runbook(
                session=session,
                incident_id=int(incident_id),
                input_override=submission.data,
                idempotency_key=submission.idempotency_key or None,
                request_id=request_id,
                by=principal.name,
                gateway=gateway,
                actor=actor,
                now=now,
            )
        except (NotFoundError, ConflictError, InvalidInputError) as exc:
            submission.form_errors.append(exc.detail)
            status_code = exc.status_code if exc.status_code != 404 else 409
        else:
            return RedirectResponse(url(_incident_url(incident_id), {"run": outcome.run_id}), 303)
    context.update(
        run_values=submission.values,
        run_errors=submission.errors,
        run_form_errors=submission.form_errors,
    )
    return _detail_page(request, context, status_code=status_code)


@router.post("/incidents/{incident_id}/silence", response_class=HTMLResponse, response_model=None)
def silence_subject(
    request: Request,
    incident_id: IncidentIdText,
    principal: WebOperate,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
    form: FormDep,
) -> Response:
    """Silence the incident's subject (every rule) for 1 h, 4 h or a day (operate)."""
    incident = _find(session, incident_id)
    if incident is None:
        return _not_found(request, incident_id)
    now = clock()
    hours = form.get("hours")
    if hours not in SILENCE_HOURS:
        context = _detail_context(session, incident, now=now)
        context["action_error"] = f"hours: choose one of {', '.join(SILENCE_HOURS)}"
        return _detail_page(request, context, status_code=422)
    data = SilenceCreate(
        matchers=Matchers.model_validate(
            {"subjectType": incident.subject_type, "subject": incident.subject}
        ),
        ends_at=now + timedelta(hours=int(hours)),
        comment=f"Silenced from incident #{incident.id} ({incident.rule_name})",
    )
    try:
        silence = silences.create_silence(
            session=session, data=data, created_by=principal.name, actor=actor, now=now
        )
    except (ConflictError, UnprocessableError) as exc:
        context = _detail_context(session, incident, now=now)
        context["action_error"] = exc.detail
        return _detail_page(request, context, status_code=exc.status_code)
    return RedirectResponse(url(_incident_url(incident_id), {"silenced": silence.id}), 303)


def _find(session: Session, incident_id: str) -> Incident | None:
    if not incident_id.isdigit() or not 0 < int(incident_id) < 2**63:
        return None
    try:
        return incidents.get_incident(session=session, incident_id=int(incident_id))
    except NotFoundError:
        return None


def _incident_url(incident_id: str | int) -> str:
    return f"/incidents/{quoted(str(incident_id))}"


def _not_found(request: Request, incident_id: str) -> HTMLResponse:
    return not_found_page(
        request,
        title="Incident not found",
        what="incident",
        missing_id=incident_id,
        back_url="/incidents",
        back_label="All incidents",
    )


def _detail_page(request: Request, context: dict[str, Any], *, status_code: int) -> HTMLResponse:
    return render(request, "pages/alerts/incident.html", context, status_code=status_code)


def _detail_context(session: Session, incident: Incident, *, now: datetime) -> dict[str, Any]:
    """Everything the incident page shows, with its forms in their initial state."""
    plan = incidents.runbook_plan(session=session, incident=incident)
    runbook = _runbook(session, plan.runbook_id) if plan is not None else None
    schema_problem = None
    fields: list[FormField] = []
    values: dict[str, str] = {}
    if runbook is not None:
        try:
            runbooks.check_inputs_schema(runbook.inputs_schema)
        except UnprocessableError as exc:
            schema_problem = f"Runbook {runbook.id} cannot run until its input schema is fixed: "
            schema_problem += exc.detail
        fields = form_fields(runbook.inputs_schema)
        values = _prefilled(runbook.inputs_schema, plan.input if plan is not None else {})
    subject_health = _subject_health(session, incident, now)
    return {
        "section": "alerts",
        "page_title": f"Incident #{incident.id}",
        "view": "incidents",
        "now": now,
        "incident": incident,
        "incident_url": _incident_url(incident.id or 0),
        "incident_state": _state(incident),
        "timeline": incidents.timeline(session=session, incident_id=incident.id or 0),
        "rule_exists": _rule_exists(session, incident.rule_id),
        "subject_health": subject_health,
        "plan": plan,
        "runbook": runbook,
        "missing_runbook_id": plan.runbook_id if plan is not None and runbook is None else None,
        "schema_problem": schema_problem,
        "run_fields": fields,
        "run_values": values,
        "run_errors": {},
        "run_form_errors": [],
        "run_idempotency_key": "",
        "silence_hours": SILENCE_HOURS,
        "action_error": None,
        "shown_run": None,
        "shown_run_id": "",
        "silenced_id": "",
        "acknowledged_now": False,
    }


def _state(incident: Incident) -> str:
    if incident.resolved_at is not None:
        return "resolved"
    return "acknowledged" if incident.acknowledged_at is not None else "open"


def _runbook(session: Session, runbook_id: str) -> Runbook | None:
    try:
        return runbooks.get_runbook(session=session, runbook_id=runbook_id)
    except NotFoundError:
        return None


def _rule_exists(session: Session, rule_id: str) -> bool:
    try:
        rules.get_rule(session=session, rule_id=rule_id)
    except NotFoundError:
        return False
    return True


def _subject_health(session: Session, incident: Incident, now: datetime) -> str:
    if incident.subject_type == "agent":
        return health.agent_health(session, now=now, agent_ids=[incident.subject])[incident.subject]
    return health.miner_health(session, now=now, miner_ids=[incident.subject])[incident.subject]


def _prefilled(schema: Any, data: dict[str, Any]) -> dict[str, str]:
    """The run form's values: the rule's runbookInput for the subject where it gives one,
    else each property's default, as the runbook page's form would show them."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return {}
    filled = copy.deepcopy(schema)
    for name, value in data.items():
        prop = filled["properties"].get(name)
        if isinstance(prop, dict):
            prop["default"] = value
    return initial_values(form_fields(filled))


def _shown_run(session: Session, runbook: Runbook | None, run_id: str) -> RunbookRun | None:
    if not run_id or runbook is None:
        return None
    return runs.get_run(session=session, runbook_id=runbook.id, run_id=run_id)
