"""Who an audited request acts as (AuditActorDep), and the live stream of its audit rows.

A route that writes takes `actor: AuditActorDep` next to its scope dependency and passes
the actor to its service, which calls app.audit.service.record() in the same transaction.
Rows a request recorded are announced on the ops stream once its transaction commits.
"""

from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, event
from sqlmodel import Session

from app.audit.queries import AuditQuery, check_time_range
from app.audit.service import PENDING_KEY, Actor
from app.auth.deps import bearer_principal, bearer_token, session_principal
from app.auth.tokens import Principal
from app.core.config import Settings
from app.core.deps import EngineDep, SessionDep, SettingsDep
from app.core.middleware import client_ip
from app.core.timeutil import UTCDateTime
from app.live.broadcaster import Broadcaster
from app.live.deps import BroadcasterDep

ANONYMOUS = "anonymous"
_WATCHED_KEY = "prism_audit_watched"


def actor_for(request: Request, principal: Principal | None) -> Actor:
    """The actor of a request made by `principal` (None: a client not signed in)."""
    request_id = getattr(request.state, "request_id", None)
    return Actor(
        name=principal.name if principal is not None else ANONYMOUS,
        actor_id=principal.token_id if principal is not None else None,
        scope=principal.scope if principal is not None else None,
        ip=client_ip(request),
        request_id=str(request_id) if request_id else None,
    )


def watch_session(session: Session, broadcaster: Broadcaster) -> None:
    """Publish {"type": "audit", "data": {"id"}} for each row `session` commits.

    Only the id: the ops stream is open to read tokens, the rows are for admins, who
    fetch them (the Audit page asks for the rows after the last one it shows).
    """
    if session.info.get(_WATCHED_KEY):
        return
    session.info[_WATCHED_KEY] = True

    def committed(_session: Session) -> None:
        pending: list[int] = session.info.pop(PENDING_KEY, [])
        for event_id in pending:
            broadcaster.publish({"type": "audit", "data": {"id": event_id}})

    def rolled_back(_session: Session) -> None:
        session.info.pop(PENDING_KEY, None)

    event.listen(session, "after_commit", committed)
    event.listen(session, "after_rollback", rolled_back)


def _principal_in_thread(request: Request, engine: Engine, settings: Settings) -> Principal | None:
    with Session(engine, expire_on_commit=False) as session:
        plaintext = bearer_token(request)
        if plaintext is not None:
            return bearer_principal(request.app, session, settings, plaintext)
        return session_principal(request, session, settings)


async def audit_actor(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    session: SessionDep,
    broadcaster: BroadcasterDep,
) -> Actor:
    """The actor of an authenticated request; its scope is the route's own dependency's job.

    The scope dependency (or AuthFirstRoute) has normally identified the caller already;
    otherwise the caller is looked up here the same way, without a CSRF or scope check.
    """
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        principal = await run_in_threadpool(_principal_in_thread, request, engine, settings)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="Missing token",
                headers={"WWW-Authenticate": "Bearer"},
            )
    watch_session(session, broadcaster)
    return actor_for(request, principal)


async def client_actor(request: Request, session: SessionDep, broadcaster: BroadcasterDep) -> Actor:
    """The actor of a request that may come from nobody signed in (sign-in, sign-out)."""
    watch_session(session, broadcaster)
    return actor_for(request, getattr(request.state, "principal", None))


AuditActorDep = Annotated[Actor, Depends(audit_actor)]
ClientActorDep = Annotated[Actor, Depends(client_actor)]


_TIME_FORMS = "ISO-8601 (Z or offset; naive = UTC), a date, or unix seconds"


async def audit_query(
    actor: Annotated[
        str | None, Query(max_length=200, description="Actor name: a token's, cli:USER, rule:ID.")
    ] = None,
    actor_id: Annotated[
        str | None, Query(alias="actorId", max_length=64, description="The acting token's id.")
    ] = None,
    action: Annotated[
        str | None,
        Query(
            max_length=64,
            description="An action (token.create), or a family of them ending in .* (token.*).",
        ),
    ] = None,
    target_type: Annotated[
        str | None, Query(alias="targetType", max_length=64, description="agent, token, ...")
    ] = None,
    target_id: Annotated[str | None, Query(alias="targetId", max_length=256)] = None,
    since: Annotated[
        UTCDateTime | None, Query(description=f"Rows at or after this time: {_TIME_FORMS}.")
    ] = None,
    until: Annotated[
        UTCDateTime | None, Query(description=f"Rows before this time: {_TIME_FORMS}.")
    ] = None,
) -> AuditQuery:
    """The audit filters, shared by the list, the page's live rows and the export."""
    check_time_range(since, until)
    return AuditQuery(
        actor=actor or None,
        actor_id=actor_id or None,
        action=action or None,
        target_type=target_type or None,
        target_id=target_id or None,
        since=since,
        until=until,
    )


AuditQueryDep = Annotated[AuditQuery, Depends(audit_query)]
