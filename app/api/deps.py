"""Typed dependency aliases: route signatures stay short, typed and overridable in tests.

Dependencies that only read app.state are `async def`: FastAPI runs a plain `def`
dependency in the thread pool, and those hops were most of a cached answer's cost.
"""

import asyncio
import contextlib
import contextvars
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import Engine, event
from sqlmodel import Session

from app.config import Settings
from app.db import RequestSession
from app.live import Broadcaster, Message, Publisher
from app.ratelimit import RateLimitedError, app_limiter
from app.read_cache import ReadCache
from app.services import tokens
from app.services.single_flight import SharedTasks
from app.services.tokens import Principal
from app.telemetry import Metrics
from app.verifier import app_verifier
from app.web.session import (
    COOKIE_NAME,
    CSRF_HEADER,
    SessionCodec,
    WebSession,
    csrf_refusal,
    principal_for_session,
)

logger = logging.getLogger("prism.auth")


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


# Commits and rollbacks of request sessions run here, not in the request thread pool. A
# session that flushed holds SQLite's write lock until it commits: if its commit had to wait
# for a pool thread while every pool thread was a request waiting on that lock, no commit
# would run until the busy timeout (50 concurrent writers did exactly that). Finishing never
# waits on another request's lock, so these few threads are never held up for long.
_FINISHERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="prism-commit")


async def _finish_off_the_pool(step: Callable[[], None]) -> None:
    context = contextvars.copy_context()  # the request id, for the slow-query log
    await asyncio.get_running_loop().run_in_executor(_FINISHERS, context.run, step)


# Requests that may write, running at once per process. A request that flushed holds its
# locks (SQLite's one write lock, PostgreSQL row locks) until its commit, after the answer
# is serialized; FastAPI serializes a plain `def` endpoint's answer in the thread pool. With
# every pool thread taken by writers waiting on that lock, the holder could never serialize
# and commit (50 concurrent writers deadlocked until the busy timeout). Few writers in
# flight leave the pool free for the holder; the others wait here, on the event loop, and a
# database serializes writes anyway.
WRITE_SLOTS = 8
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_write_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _write_slot(method: str) -> contextlib.AbstractAsyncContextManager[Any]:
    if method in _SAFE_METHODS:
        return contextlib.nullcontext()
    loop = asyncio.get_running_loop()  # a semaphore belongs to one loop (tests run several)
    slots = _write_slots.get(loop)
    if slots is None:
        slots = _write_slots[loop] = asyncio.Semaphore(WRITE_SLOTS)
    return slots


async def get_session(
    request: Request, engine: Annotated[Engine, Depends(get_engine)]
) -> AsyncIterator[Session]:
    """The request's session: committed after the answer is serialized, else rolled back.

    Scope "function" (SessionDep): the commit comes after serialization but before the
    answer is sent, so a client never sees a success that was not committed, nor an error
    that was (app/db.py RequestSession). An exception that is an answer rather than a
    failure (`keeps_writes`, such as the redirect to sign in) commits too. The endpoint
    uses the session in the thread pool; the commit and close run in _FINISHERS, and a
    request that may write holds one of WRITE_SLOTS until then.
    """
    async with _write_slot(request.method):
        session = RequestSession(engine, expire_on_commit=False)
        try:
            try:
                yield session
            except Exception as exc:
                if getattr(exc, "keeps_writes", False):
                    await _finish_off_the_pool(session.finish)
                raise  # anything else: closing the session below rolls it back
            await _finish_off_the_pool(session.finish)
        finally:
            await _finish_off_the_pool(session.close)


async def get_broadcaster(request: Request) -> Broadcaster:
    broadcaster: Broadcaster = request.app.state.broadcaster
    return broadcaster


class CommittedPublisher:
    """The live stream as a request's writes see it: messages go out once the request's
    transaction has committed, and never when it rolls back.

    The request session commits after the answer is serialized (RequestSession), so a
    message published by the endpoint would otherwise describe a row that other readers
    cannot see yet, or one that is never committed at all.
    """

    def __init__(self, broadcaster: Broadcaster, session: Session) -> None:
        self._broadcaster = broadcaster
        self._session = session
        self._pending: list[Message] = []

    @property
    def has_audience(self) -> bool:
        return self._broadcaster.has_audience

    def publish(self, message: Message) -> None:
        if not (isinstance(self._session, RequestSession) and self._session.deferring):
            self._broadcaster.publish(message)
            return
        if not self._pending:
            event.listen(self._session, "after_commit", self._release, once=True)
        self._pending.append(message)

    def _release(self, _session: Session) -> None:
        pending, self._pending = self._pending, []
        for message in pending:
            self._broadcaster.publish(message)


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
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
BroadcasterDep = Annotated[Broadcaster, Depends(get_broadcaster)]


async def get_publisher(broadcaster: BroadcasterDep, session: SessionDep) -> Publisher:
    return CommittedPublisher(broadcaster, session)


PublisherDep = Annotated[Publisher, Depends(get_publisher)]
"""For routes that write: what they publish reaches the stream after their commit."""
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
            refusal = csrf_refusal(
                request,
                expected=request.state.web_session.csrf,
                sent=request.headers.get(CSRF_HEADER),
            )
            if refusal is not None:
                raise HTTPException(status.HTTP_403_FORBIDDEN, detail=refusal)
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
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None

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
