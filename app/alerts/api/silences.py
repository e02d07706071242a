"""Silences and maintenance windows (SPEC §11): read scope lists them, operate creates and
ends them (each audited); ending one keeps it in the history."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from app.alerts import silences
from app.alerts.deps import ClockDep
from app.alerts.schemas import SilenceCreate, SilencePage, SilencePublic, SilenceStatusFilter
from app.audit.deps import AuditActorDep
from app.auth.deps import AuthFirstRoute, OperatePrincipal, ReadPrincipal
from app.core.deps import PageDep, SessionDep
from app.core.pagination import DEFAULT_LIMIT, encode_cursor
from app.core.responses import errors
from app.core.validators import SafeId

router = APIRouter(tags=["alerts"], route_class=AuthFirstRoute, strict_content_type=False)

SilenceId = Annotated[SafeId, Path(description="The silence's id.")]


@router.get(
    "/api/silences",
    response_model=SilencePage,
    responses=errors(401, 403),
    summary="Silences, newest first",
)
def list_silences(
    _principal: ReadPrincipal,
    session: SessionDep,
    page: PageDep,
    clock: ClockDep,
    status_filter: Annotated[
        SilenceStatusFilter,
        Query(
            alias="status",
            description="active (applies now), upcoming, ended, or all (the default).",
        ),
    ] = "all",
) -> SilencePage:
    now = clock()
    rows, last = silences.list_silences(
        session=session,
        status=status_filter,
        now=now,
        limit=page.limit or DEFAULT_LIMIT,
        cursor=page.cursor,
    )
    return SilencePage(
        items=[silences.silence_public(row, now=now) for row in rows],
        next_cursor=encode_cursor(last) if last else None,
    )


@router.post(
    "/api/silences",
    response_model=SilencePublic,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 401, 403, 409),
    summary="Silence matching subjects, or plan a (weekly) maintenance window (operate)",
    description="While a silence applies, states and incidents are still recorded (marked "
    "silenced) but nothing is sent. `createdBy` is the caller's token name.",
)
def create_silence(
    body: SilenceCreate,
    principal: OperatePrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
) -> SilencePublic:
    now = clock()
    silence = silences.create_silence(
        session=session, data=body, created_by=principal.name, actor=actor, now=now
    )
    return silences.silence_public(silence, now=now)


@router.get(
    "/api/silences/{silence_id}",
    response_model=SilencePublic,
    responses=errors(401, 403, 404),
    summary="One silence",
)
def get_silence(
    silence_id: SilenceId, _principal: ReadPrincipal, session: SessionDep, clock: ClockDep
) -> SilencePublic:
    silence = silences.get_silence(session=session, silence_id=silence_id)
    return silences.silence_public(silence, now=clock())


@router.delete(
    "/api/silences/{silence_id}",
    response_model=SilencePublic,
    responses=errors(401, 403, 404, 409),
    summary="End a silence now (operate); it stays in the history as ended",
)
def end_silence(
    silence_id: SilenceId,
    principal: OperatePrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
) -> SilencePublic:
    now = clock()
    silence = silences.end_silence(
        session=session, silence_id=silence_id, by=principal.name, actor=actor, now=now
    )
    return silences.silence_public(silence, now=now)
