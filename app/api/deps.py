"""Typed dependency aliases: route signatures stay short, typed and overridable in tests.

Dependencies that only read app.state are `async def`: FastAPI runs a plain `def`
dependency in the thread pool, and those hops were most of a cached answer's cost.
"""

import logging
import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlmodel import Session

from app.config import Settings
from app.live import Broadcaster
from app.ratelimit import RateLimitedError, app_limiter
from app.read_cache import ReadCache
from app.services import tokens
from app.services.single_flight import SharedTasks
from app.services.tokens import Principal
from app.telemetry import Metrics
from app.verifier import app_verifier
from app.web.session import COOKIE_NAME, SessionCodec, principal_for_session

logger = logging.getLogger("prism.auth")


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


async def get_broadcaster(request: Request) -> Broadcaster:
    broadcaster: Broadcaster = request.app.state.broadcaster
    return broadcaster


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_read_cache(request: Request) -> ReadCache:
    cache: ReadCache = request.app.state.read_cache
    return cache


async def get_request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
BroadcasterDep = Annotated[Broadcaster, Depends(get_broadcaster)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
ReadCacheDep = Annotated[ReadCache, Depends(get_read_cache)]

_BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


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
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
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
        if request.method not in {"GET", "HEAD", "OPTIONS"}:
            sent = request.headers.get("X-CSRF-Token", "")
            if not secrets.compare_digest(sent, request.state.web_session.csrf):
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN, detail="CSRF token missing or invalid"
                )
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
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    principal = tokens.authenticate(session=session, plaintext=plaintext, admin_token=admin)
    if principal is None:
        # Console tokens first; only unknown ones go to the external verifier (if any).
        verifier = app_verifier(app)
        principal = verifier.verify(plaintext) if verifier is not None else None
    return principal


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
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    principal = tokens.bootstrap_principal(plaintext, admin)
    if principal is None:
        return await _shared_bearer_lookup(request, engine, settings, plaintext)
    request.state.principal = principal
    return principal


class Scope:
    """Dependency requiring a token whose scope grants `required` (read, ingest or admin).

    Requests needing `ingest` also spend one of the token's PRISM_INGEST_RATE_LIMIT requests
    per minute (per process); over it, RateLimitedError makes the answer a 429.

    Awaited on the event loop: only a lookup that needs the database (a stored token, a
    session cookie) or the external verifier goes to the thread pool.
    """

    def __init__(self, required: str) -> None:
        self.required = required

    async def __call__(
        self, request: Request, engine: EngineDep, settings: SettingsDep
    ) -> Principal:
        principal = await _authenticate_on_loop(request, engine, settings)
        return self.authorize(request, principal, settings)

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
AdminPrincipal = Annotated[Principal, Depends(Scope("admin"))]
