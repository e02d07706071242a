"""Who is calling: the bearer token or the browser session, its scope, and CSRF.

API routes depend on Scope (ReadPrincipal, IngestPrincipal, AdminPrincipal); pages on
WebUser and WebAdmin, which send a browser without a session to the login page and
check every state-changing form's CSRF token.
"""

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from sqlmodel import Session

from app.auth import tokens
from app.auth.session import (
    COOKIE_NAME,
    CSRF_FORM_FIELD,
    CSRF_HEADER,
    SessionCodec,
    WebSession,
    csrf_refusal,
    principal_for_session,
)
from app.auth.tokens import Principal
from app.auth.verifier import app_verifier
from app.core.config import Settings
from app.core.deps import EngineDep, SessionDep, SettingsDep
from app.core.ratelimit import RateLimitedError, app_limiter
from app.core.single_flight import SharedTasks

logger = logging.getLogger("prism.auth")

_BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Authorization header must be 'Bearer <token>'",
            headers=_BEARER_CHALLENGE,
        )
    return credentials.strip()


def session_principal(request: Request, session: Session, settings: Settings) -> Principal | None:
    """The principal of the browser's session cookie, or None; sets request.state.web_session."""
    codec: SessionCodec | None = getattr(request.app.state, "session_codec", None)
    cookie = request.cookies.get(COOKIE_NAME)
    if codec is None or not cookie:
        return None
    web_session = codec.read(cookie)
    if web_session is None:
        return None
    admin = tokens.configured_admin_token(settings)
    principal = principal_for_session(web_session, session=session, admin_token=admin)
    if principal is not None:
        request.state.web_session = web_session
        request.state.principal = principal
    return principal


def authenticate_request(request: Request, session: Session, settings: Settings) -> Principal:
    """The caller's principal, from the bearer token or the session cookie; 401 when neither."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    plaintext = bearer_token(request)
    if plaintext is None:
        principal = session_principal(request, session, settings)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, detail="Missing token", headers=_BEARER_CHALLENGE
            )
        # A cookie is sent by the browser on its own: state changes must prove intent.
        if request.method not in SAFE_METHODS:
            _require_csrf(request, sent=request.headers.get(CSRF_HEADER))
        return principal
    principal = bearer_principal(request.app, session, settings, plaintext)
    if principal is None:
        raise _invalid_token()
    request.state.principal = principal
    return principal


def bearer_principal(
    app: FastAPI, session: Session, settings: Settings, plaintext: str
) -> Principal | None:
    """Who a bearer token stands for: a console token, else the external verifier's answer."""
    admin = tokens.configured_admin_token(settings)
    principal = tokens.authenticate(session=session, plaintext=plaintext, admin_token=admin)
    if principal is None:
        # Console tokens first; only unknown ones go to the external verifier (if any).
        verifier = app_verifier(app)
        principal = verifier.verify(plaintext) if verifier is not None else None
    return principal


def _require_csrf(request: Request, *, sent: str | None) -> None:
    """403 unless the request comes from this site and echoes its session's CSRF token."""
    refusal = csrf_refusal(request, expected=request.state.web_session.csrf, sent=sent)
    if refusal is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=refusal)


def _invalid_token() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail="Invalid or revoked token", headers=_BEARER_CHALLENGE
    )


def _authenticate_in_thread(request: Request, engine: Engine, settings: Settings) -> Principal:
    with Session(engine, expire_on_commit=False) as session:
        return authenticate_request(request, session, settings)


def _bearer_in_thread(
    app: FastAPI, engine: Engine, settings: Settings, plaintext: str
) -> Principal | None:
    with Session(engine, expire_on_commit=False) as session:
        return bearer_principal(app, session, settings, plaintext)


async def _shared_bearer_lookup(
    request: Request, engine: Engine, settings: Settings, plaintext: str
) -> Principal:
    """One database lookup for all the requests bearing this token at the same moment.

    Under load a client's requests overlap: each one took a thread and a query of its own.
    The lookup is keyed by the token's hash and the apitoken table's revision here, so a
    request that follows a revocation made through this process never shares a lookup that
    began before it; one made through another replica is seen by the next lookup, as
    without sharing.
    """
    app = request.app
    revision = app.state.table_revisions.current("apitoken")
    lookups: SharedTasks[Principal | None] = app.state.token_lookups
    principal = await lookups.join(
        (tokens.hash_token(plaintext), revision),
        lambda: run_in_threadpool(_bearer_in_thread, app, engine, settings, plaintext),
    )
    if principal is None:
        raise _invalid_token()
    request.state.principal = principal
    return principal


async def _authenticate_on_loop(request: Request, engine: Engine, settings: Settings) -> Principal:
    """authenticate_request() for the event loop: a thread only when the database is needed."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    plaintext = bearer_token(request)
    if plaintext is None:
        # A session cookie: its token is checked in the database (or a 401 for no cookie).
        return await run_in_threadpool(_authenticate_in_thread, request, engine, settings)
    admin = tokens.configured_admin_token(settings)
    principal = tokens.bootstrap_principal(plaintext, admin)
    if principal is None:
        return await _shared_bearer_lookup(request, engine, settings, plaintext)
    request.state.principal = principal
    return principal


class Scope:
    """Dependency requiring a token whose scope grants `required` (read, ingest, operate, admin).

    Requests needing `ingest` also spend one of the token's PRISM_INGEST_RATE_LIMIT requests
    per minute (per process); over it, RateLimitedError makes the answer a 429.

    Awaited on the event loop: only a lookup that needs the database (a stored token, a
    session cookie) or the external verifier goes to the thread pool. AuthFirstRoute awaits
    it before the body is read; the dependency then reuses that answer.
    """

    def __init__(self, required: str) -> None:
        self.required = required

    async def __call__(
        self, request: Request, engine: EngineDep, settings: SettingsDep
    ) -> Principal:
        granted: dict[str, Principal] = getattr(request.state, "granted_scopes", {})
        if self.required in granted:
            return granted[self.required]
        principal = await _authenticate_on_loop(request, engine, settings)
        principal = self.authorize(request, principal, settings)
        request.state.granted_scopes = {**granted, self.required: principal}
        return principal

    def check(self, request: Request, session: Session, settings: Settings) -> Principal:
        """The same check for code that already runs in a thread and holds a session."""
        return self.authorize(request, authenticate_request(request, session, settings), settings)

    def authorize(self, request: Request, principal: Principal, settings: Settings) -> Principal:
        if not principal.allows(self.required):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"This token's scope ({principal.scope}) does not allow "
                f"{self.required} access",
            )
        if self.required == "ingest":
            limiter = app_limiter(request.app, "ingest", settings.ingest_rate_limit)
            retry_after = limiter.hit(principal.token_id)
            if retry_after:
                logger.warning(
                    "ingest rate limit reached by token %s",
                    principal.token_id,
                    extra={"token_id": principal.token_id, "retry_after": retry_after},
                )
                raise RateLimitedError(retry_after)
        return principal


ReadPrincipal = Annotated[Principal, Depends(Scope("read"))]
IngestPrincipal = Annotated[Principal, Depends(Scope("ingest"))]
OperatePrincipal = Annotated[Principal, Depends(Scope("operate"))]
AdminPrincipal = Annotated[Principal, Depends(Scope("admin"))]


def scopes_of(dependant: Dependant) -> list[Scope]:
    """Every Scope a route depends on, however deeply nested."""
    found = [dependant.call] if isinstance(dependant.call, Scope) else []
    for sub in dependant.dependencies:
        found.extend(scope for scope in scopes_of(sub) if scope not in found)
    return found


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class AuthFirstRoute(APIRoute):
    """An API route whose token and scope are checked before FastAPI reads the body.

    FastAPI parses a JSON body before it solves any dependency, so a malformed body sent
    without a token answered 422 and told an anonymous caller about the route's input. Here
    a protected route with a body answers 401 (or 403) first; the parse comes after.
    """

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        scopes = scopes_of(self.dependant)
        if self.body_field is None or not scopes:
            return handler

        async def authenticated_first(request: Request) -> Response:
            app = request.app
            for scope in scopes:
                await scope(request, app.state.engine, app.state.settings)
            return await handler(request)

        return authenticated_first


def credential_recheck(request: Request, required: str) -> Callable[[], Awaitable[bool]]:
    """For a response that stays open: does the credential that opened it still grant
    `required`?

    Each call asks the database again (no cache of this process), so a token revoked, or
    a session signed out, through any replica is seen at the next call. An error counts as
    "no": the caller ends its response and the client reconnects through the usual checks.
    """
    app = request.app
    engine: Engine = app.state.engine
    settings: Settings = app.state.settings
    plaintext = bearer_token(request)
    web_session: WebSession | None = getattr(request.state, "web_session", None)
    admin = tokens.configured_admin_token(settings)

    def check() -> bool:
        with Session(engine, expire_on_commit=False) as session:
            if plaintext is not None:
                principal = bearer_principal(app, session, settings, plaintext)
            elif web_session is not None:
                principal = principal_for_session(web_session, session=session, admin_token=admin)
            else:
                principal = None
        return principal is not None and principal.allows(required)

    async def recheck() -> bool:
        try:
            return await run_in_threadpool(check)
        except Exception as exc:  # any failure to confirm ends the stream
            logger.warning(
                "credential of an open stream not confirmed (%s); closing it", type(exc).__name__
            )
            return False

    return recheck


class LoginRequiredError(Exception):
    """No valid session: send the browser to the login page, then back here."""

    # An answer (a redirect), not a failure: what the route wrote first is committed
    # (app/auth/deps.py get_session), e.g. the revocation that ended this very session.
    keeps_writes = True

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def login_url(next_url: str) -> str:
    return f"/login?next={quote(next_url, safe='/')}"


def web_principal(request: Request, session: SessionDep, settings: SettingsDep) -> Principal:
    principal = session_principal(request, session, settings)
    if principal is None:
        next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequiredError(next_url if request.method in SAFE_METHODS else "/")
    return principal


async def csrf_protected(
    request: Request, principal: Annotated[Principal, Depends(web_principal)]
) -> Principal:
    """State-changing requests must echo the session's CSRF token (form field or header)."""
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER)
        if sent is None:
            form = await request.form()
            field = form.get(CSRF_FORM_FIELD)
            sent = field if isinstance(field, str) else None
        _require_csrf(request, sent=sent)
    return principal


class WebScope:
    """A page's requirement: a signed-in session whose token grants `required`.

    `required` None: any session (signing out). Checked after the CSRF token, so a forged
    form learns nothing about the session's scope.
    """

    def __init__(self, required: str | None) -> None:
        self.required = required

    async def __call__(self, principal: Annotated[Principal, Depends(csrf_protected)]) -> Principal:
        if self.required is None or principal.allows(self.required):
            return principal
        if principal.scope == "read":
            detail = "Your token is read-only: ask an admin for this change"
        elif principal.allows("read"):
            detail = (
                f"Your token's scope ({principal.scope}) does not allow this change: ask an admin"
            )
        else:
            detail = (
                f"This token's scope ({principal.scope}) does not allow "
                f"{self.required} access to the console's pages"
            )
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=detail)


WebSignedIn = Annotated[Principal, Depends(WebScope(None))]
WebRead = Annotated[Principal, Depends(WebScope("read"))]
WebOperate = Annotated[Principal, Depends(WebScope("operate"))]
WebAdmin = Annotated[Principal, Depends(WebScope("admin"))]
