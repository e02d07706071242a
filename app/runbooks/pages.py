"""HTML pages of the runbooks area: the catalog, a runbook with its execute form and run history.

The execute form is generated from the runbook's inputsSchema (app/runbooks/schema_form.py) and
posted as a plain form (Post/Redirect/Get), or by htmx into the execute card: invalid input
comes back with an error next to each field and nothing recorded; valid input comes back as a
confirmation (app/runbooks/confirm.py) showing the input as it will be sent and whether a
gateway will receive it; Confirm records the run and redirects to the runbook page, which
shows the run's outcome above the refreshed history.
"""

import json
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app.audit.deps import AuditActorDep
from app.auth.deps import WebOperate, WebRead
from app.core.deps import RequestIdDep, SessionDep
from app.core.errors import ConflictError, InvalidInputError, NotFoundError, UnprocessableError
from app.core.json_input import escape_lone_surrogates
from app.core.pagination import decode_cursor, encode_cursor
from app.core.templating import render
from app.models import Runbook, RunbookRun
from app.runbooks import confirm, runs
from app.runbooks import service as runbooks
from app.runbooks.deps import GatewayDep
from app.runbooks.gateway import WorkflowGateway
from app.runbooks.run_view import run_view
from app.runbooks.schema_form import Submission, form_fields, initial_values, parse_submission

router = APIRouter(include_in_schema=False)

CATALOG_PAGE_SIZE = 60
RUNS_PAGE_SIZE = 20

RunbookId = Annotated[str, Path(max_length=128)]
CursorParam = Annotated[str | None, Query(max_length=1000)]

CATALOG_PARTIALS = {"runbooks-list": "partials/runbooks/list.html"}
DETAIL_PARTIALS = {
    "runs-more": "partials/runbooks/run_rows.html",
    # The form, its errors and its confirmation swap inside the execute card (htmx).
    "runbook-execute": "partials/runbooks/execute.html",
}


async def submitted_form(request: Request) -> dict[str, str]:
    """The posted form's text fields (the first value of each name)."""
    form = await request.form()
    values: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            values.setdefault(key, value)
    return values


FormDep = Annotated[dict[str, str], Depends(submitted_form)]


@router.get("/runbooks", response_class=HTMLResponse)
def catalog(
    request: Request,
    _user: WebRead,
    session: SessionDep,
    q: Annotated[str, Query(max_length=200)] = "",
    tag: Annotated[str, Query(max_length=64)] = "",
    cursor: CursorParam = None,
) -> HTMLResponse:
    """The runbook catalog, searchable by text and tag, by title."""
    q, tag = q.strip(), tag.strip()
    rows: list[Runbook] = []
    last: list[Any] | None = None
    error = None
    try:
        rows, last = runbooks.list_runbooks(
            session=session,
            q=q or None,
            tag=tag or None,
            limit=CATALOG_PAGE_SIZE,
            after=decode_cursor(cursor) if cursor else None,
        )
    except UnprocessableError as exc:
        error = exc.detail
    every_runbook, _ = runbooks.list_runbooks(session=session)
    filters = {key: value for key, value in (("q", q), ("tag", tag)) if value}
    context = {
        "section": "runbooks",
        "page_title": "Runbooks",
        "runbooks": rows,
        "q": q,
        "tag": tag,
        "all_tags": sorted({name for row in every_runbook for name in row.tags}, key=str.lower),
        "error": error,
        "filtered": bool(filters),
        "next_url": _url("/runbooks", {**filters, "cursor": encode_cursor(last)}) if last else None,
        "first_url": _url("/runbooks", filters) if cursor else None,
    }
    status_code = 422 if error else 200
    return render(
        request,
        "pages/runbooks/index.html",
        context,
        partials=CATALOG_PARTIALS,
        status_code=status_code,
    )


@router.get("/runbooks/{runbook_id}", response_class=HTMLResponse)
def detail(
    request: Request,
    runbook_id: RunbookId,
    _user: WebRead,
    session: SessionDep,
    gateway: GatewayDep,
    run: Annotated[str | None, Query(max_length=200)] = None,  # console or gateway run id
    repeat: bool = False,
    runs_cursor: Annotated[str | None, Query(alias="runs", max_length=1000)] = None,
) -> HTMLResponse:
    """One runbook: what it does, the execute form (operate and admin), and its runs."""
    runbook = _find(session, runbook_id)
    if runbook is None:
        return _not_found(request, runbook_id)
    context = _detail_context(session, runbook, gateway, runs_cursor=runs_cursor, shown_run=run)
    context["repeated_key"] = repeat
    return _detail_page(request, context, status_code=422 if context["runs_error"] else 200)


@router.post("/runbooks/{runbook_id}/execute", response_class=HTMLResponse, response_model=None)
def execute(
    request: Request,
    runbook_id: RunbookId,
    principal: WebOperate,
    actor: AuditActorDep,
    session: SessionDep,
    request_id: RequestIdDep,
    gateway: GatewayDep,
    form: FormDep,
) -> Response:
    """Show the confirmation of valid input, record the confirmed run, or show the form again
    with what to fix (nothing recorded); Edit shows the form with the values sent.

    Operate scope (admin too); audited as runbook.execute with the run."""
    runbook = _find(session, runbook_id)
    if runbook is None:
        return _not_found(request, runbook_id)

    def page(state: dict[str, Any], status_code: int) -> HTMLResponse:
        context = {**_detail_context(session, runbook, gateway), **state}
        return _detail_page(request, context, status_code=status_code)

    try:
        runbooks.check_inputs_schema(runbook.inputs_schema)
    except UnprocessableError:
        # The page explains what is wrong with the schema instead of showing the form.
        return page({}, 409)
    submission = parse_submission(runbook.inputs_schema, form)
    step = confirm.step(form)
    if step == "edit":
        return page(
            {"values": submission.values, "idempotency_key": submission.idempotency_key}, 200
        )
    if not submission.ok:
        return page(_form_state(submission), 422)
    # The digest is what the confirm view showed; a hand-made request sending confirm=1
    # without one has seen no view (the confirmation is for people, CSRF guards the rest).
    promised = form.get(confirm.DIGEST_FIELD)
    changed = promised is not None and promised != confirm.digest(runbook, gateway, submission.data)
    if step == "review" or changed:
        state = _confirm_state(session, runbook, gateway, submission)
        return page({**state, "confirm_changed": changed}, 409 if changed else 200)
    try:
        recorded = runs.execute_runbook(
            session=session,
            runbook_id=runbook.id,
            data=submission.data,
            idempotency_key=submission.idempotency_key or None,
            request_id=request_id,
            requested_by=principal.name,
            gateway=gateway,
            actor=actor,
        )
    except NotFoundError:  # deleted since the lookup above
        return _not_found(request, runbook_id)
    except (InvalidInputError, ConflictError) as exc:
        # The service validates again; the form's own check should have caught this.
        submission.form_errors.append(exc.detail)
        return page(_form_state(submission), exc.status_code)
    params = {"run": recorded.id}
    if recorded.request_id != (request_id or None):
        # The idempotency key was used before: the run shown is the earlier one.
        params["repeat"] = "1"
    return RedirectResponse(_url(_runbook_url(runbook.id), params), status_code=303)


def _find(session: Session, runbook_id: str) -> Runbook | None:
    try:
        return runbooks.get_runbook(session=session, runbook_id=runbook_id)
    except NotFoundError:
        return None


def _not_found(request: Request, runbook_id: str) -> HTMLResponse:
    context = {"section": "runbooks", "page_title": "Runbook not found", "runbook_id": runbook_id}
    return render(request, "pages/runbooks/not_found.html", context, status_code=404)


def _detail_page(request: Request, context: dict[str, Any], *, status_code: int) -> HTMLResponse:
    return render(
        request,
        "pages/runbooks/detail.html",
        context,
        partials=DETAIL_PARTIALS,
        status_code=status_code,
    )


def _detail_context(
    session: Session,
    runbook: Runbook,
    gateway: WorkflowGateway | None,
    *,
    runs_cursor: str | None = None,
    shown_run: str | None = None,
) -> dict[str, Any]:
    """Everything the runbook page shows, with the form in its initial state."""
    schema_problem = None
    try:
        runbooks.check_inputs_schema(runbook.inputs_schema)
    except UnprocessableError as exc:
        schema_problem = exc.detail
    schema = escape_lone_surrogates(runbook.inputs_schema)  # stored before they were refused
    fields = form_fields(schema)
    history: list[RunbookRun] = []
    last: list[Any] | None = None
    runs_error = None
    try:
        history, last = runs.list_runs(
            session=session,
            runbook_id=runbook.id,
            limit=RUNS_PAGE_SIZE,
            after=decode_cursor(runs_cursor) if runs_cursor else None,
        )
    except UnprocessableError as exc:
        runs_error = exc.detail
    base_url = _runbook_url(runbook.id)
    # ?run= takes either id: the console's (our redirect) or the gateway's (execute's answer).
    shown = (
        runs.get_run(session=session, runbook_id=runbook.id, run_id=shown_run)
        if shown_run
        else None
    )
    return {
        "section": "runbooks",
        "page_title": runbook.title,
        "runbook": runbook,
        "runbook_url": base_url,
        "schema_json": json.dumps(schema, indent=2, ensure_ascii=False),
        "schema_problem": schema_problem,
        "fields": fields,
        "values": initial_values(fields),
        "errors": {},
        "form_errors": [],
        "idempotency_key": "",
        "idempotency_error": None,
        "runs": [run_view(row) for row in history],
        "runs_error": runs_error,
        "gateway_configured": gateway is not None,
        "runs_next_url": _url(base_url, {"runs": encode_cursor(last)}) if last else None,
        "runs_first_url": base_url if runs_cursor else None,
        "shown_run_id": shown.id if shown is not None else shown_run,
        "shown_run": run_view(shown) if shown is not None else None,
        "repeated_key": False,
        "confirmation": None,
        "confirm_changed": False,
    }


def _form_state(submission: Submission) -> dict[str, Any]:
    """The form as submitted: the values kept, each error next to its field."""
    return {
        "values": submission.values,
        "errors": submission.errors,
        "form_errors": submission.form_errors,
        "idempotency_key": submission.idempotency_key,
        "idempotency_error": submission.idempotency_error,
    }


def _confirm_state(
    session: Session,
    runbook: Runbook,
    gateway: WorkflowGateway | None,
    submission: Submission,
) -> dict[str, Any]:
    """The confirmation of a valid submission, in place of the form."""
    key = submission.idempotency_key
    repeat_of = (
        runs.find_by_idempotency_key(session=session, runbook_id=runbook.id, key=key)
        if key
        else None
    )
    confirmation = confirm.confirmation(
        runbook=runbook,
        gateway=gateway,
        fields=form_fields(runbook.inputs_schema),
        submission=submission,
        repeat_of=repeat_of,
    )
    return {**_form_state(submission), "confirmation": confirmation}


def _runbook_url(runbook_id: str) -> str:
    return f"/runbooks/{quote(runbook_id, safe='')}"


def _url(path: str, params: dict[str, str]) -> str:
    return f"{path}?{urlencode(params)}" if params else path
