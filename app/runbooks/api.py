"""Runbooks: the catalog (compatible §5.1 shapes), admin CRUD, execute and run history."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.audit.deps import AuditActorDep
from app.auth.deps import AdminPrincipal, AuthFirstRoute, OperatePrincipal, ReadPrincipal
from app.core.deps import PageDep, RequestIdDep, SessionDep
from app.core.errors import NotFoundError
from app.core.pagination import DEFAULT_LIMIT, encode_cursor
from app.core.responses import errors
from app.core.validators import SafeId
from app.models.runbook import (
    ExecuteRequest,
    ExecuteResponse,
    RunbookCreate,
    RunbookEnvelope,
    RunbookPage,
    RunbookPublic,
    RunbookUpdate,
    RunPage,
    RunPublic,
)
from app.runbooks import runs
from app.runbooks import service as runbooks
from app.runbooks.deps import GatewayDep

router = APIRouter(tags=["runbooks"], route_class=AuthFirstRoute, strict_content_type=False)

RunbookId = Annotated[SafeId, Path(description="The runbook's id.")]


@router.get(
    "/api/runbooks",
    response_model=RunbookPage,
    responses=errors(401, 403),
    summary="List runbooks by title",
)
def list_runbooks(
    _principal: ReadPrincipal,
    session: SessionDep,
    page: PageDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Text in the title or description.")
    ] = None,
    tag: Annotated[
        str | None, Query(max_length=64, description="Only runbooks with this tag.")
    ] = None,
) -> RunbookPage:
    """Every runbook when no `limit` is given (as existing clients expect), else one page."""
    rows, last = runbooks.list_runbooks(
        session=session, q=q, tag=tag, limit=page.limit, after=page.cursor
    )
    return RunbookPage(
        items=[RunbookPublic.model_validate(row) for row in rows],
        next_cursor=encode_cursor(last) if last else None,
    )


@router.post(
    "/api/runbooks",
    response_model=RunbookEnvelope,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 401, 403, 409),
    summary="Create a runbook",
)
def create_runbook(
    body: RunbookCreate, _principal: AdminPrincipal, actor: AuditActorDep, session: SessionDep
) -> RunbookEnvelope:
    """Audited as `runbook.create`."""
    runbook = runbooks.create_runbook(session=session, data=body, actor=actor)
    return RunbookEnvelope(runbook=RunbookPublic.model_validate(runbook))


@router.get(
    "/api/runbooks/{runbook_id}",
    response_model=RunbookEnvelope,
    responses=errors(401, 403, 404),
    summary="One runbook",
)
def get_runbook(
    runbook_id: RunbookId, _principal: ReadPrincipal, session: SessionDep
) -> RunbookEnvelope:
    runbook = runbooks.get_runbook(session=session, runbook_id=runbook_id)
    return RunbookEnvelope(runbook=RunbookPublic.model_validate(runbook))


@router.patch(
    "/api/runbooks/{runbook_id}",
    response_model=RunbookEnvelope,
    responses=errors(400, 401, 403, 404),
    summary="Change some fields of a runbook",
)
def update_runbook(
    runbook_id: RunbookId,
    body: RunbookUpdate,
    _principal: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
) -> RunbookEnvelope:
    """Audited as `runbook.update`."""
    runbook = runbooks.update_runbook(
        session=session, runbook_id=runbook_id, data=body, actor=actor
    )
    return RunbookEnvelope(runbook=RunbookPublic.model_validate(runbook))


@router.delete(
    "/api/runbooks/{runbook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 404),
    summary="Delete a runbook and its run history",
)
def delete_runbook(
    runbook_id: RunbookId, _principal: AdminPrincipal, actor: AuditActorDep, session: SessionDep
) -> None:
    """Audited as `runbook.delete`."""
    runbooks.delete_runbook(session=session, runbook_id=runbook_id, actor=actor)


@router.post(
    "/api/runbooks/{runbook_id}/execute",
    response_model=ExecuteResponse,
    responses=errors(400, 401, 403, 404, 409),
    summary="Execute a runbook (operate scope: it changes state)",
)
def execute_runbook(
    runbook_id: RunbookId,
    body: ExecuteRequest,
    principal: OperatePrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    request_id: RequestIdDep,
    gateway: GatewayDep,
) -> ExecuteResponse:
    """Validate `input` against the runbook's schema, record the run, send it to the gateway.

    Operate, not read: executing records a run and starts a workflow, a
    change of state. Audited as `runbook.execute` (a repeated idempotency key starts nothing
    and is not audited again).

    The answer is 200 whatever the gateway said, as the earlier service answered: the run is
    recorded either way and `accepted` carries the outcome, while the run history shows the
    gateway's status code and error. A 502 would tell clients the request failed when in
    fact a run exists, inviting retries that a repeated idempotency key then only replays.
    """
    run = runs.execute_runbook(
        session=session,
        runbook_id=runbook_id,
        data=body.input,
        idempotency_key=body.idempotency_key,
        request_id=request_id,
        requested_by=principal.name,
        gateway=gateway,
        actor=actor,
    )
    return ExecuteResponse(run_id=runs.public_run_id(run), accepted=run.accepted)


@router.get(
    "/api/runbooks/{runbook_id}/runs",
    response_model=RunPage,
    responses=errors(401, 403, 404),
    summary="A runbook's runs, newest first",
)
def list_runs(
    runbook_id: RunbookId,
    _principal: ReadPrincipal,
    session: SessionDep,
    page: PageDep,
    run_id: Annotated[
        str | None,
        Query(
            alias="runId",
            max_length=200,
            description="Only the run with this id: the console's or the gateway's.",
        ),
    ] = None,
) -> RunPage:
    rows, last = runs.list_runs(
        session=session,
        runbook_id=runbook_id,
        limit=page.limit or DEFAULT_LIMIT,
        after=page.cursor,
        run_id=run_id,
    )
    return RunPage(
        items=[RunPublic.model_validate(row) for row in rows],
        next_cursor=encode_cursor(last) if last else None,
    )


@router.get(
    "/api/runbooks/{runbook_id}/runs/{run_id}",
    response_model=RunPublic,
    responses=errors(401, 403, 404),
    summary="One run, by the id execute answered (the gateway's) or the console's",
)
def get_run(
    runbook_id: RunbookId,
    run_id: Annotated[str, Path(max_length=200, description="Console or gateway run id.")],
    _principal: ReadPrincipal,
    session: SessionDep,
) -> RunPublic:
    runbooks.get_runbook(session=session, runbook_id=runbook_id)
    run = runs.get_run(session=session, runbook_id=runbook_id, run_id=run_id)
    if run is None:
        raise NotFoundError(runs.RUN_NOT_FOUND)
    return RunPublic.model_validate(run)
