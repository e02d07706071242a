"""The app factory: create_app() builds everything; nothing runs at import time."""

import asyncio
import gc
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import iter_route_contexts
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import Session

from app import __version__
from app.alerts.delivery_worker import DeliveryWorker
from app.alerts.schedule import alert_schedule
from app.auth.deps import LoginRequiredError, login_url
from app.auth.session import SessionCodec
from app.core.allowed_methods import AllowedMethodsMiddleware
from app.core.config import Settings, get_settings
from app.core.db import api_database_target, create_db_engine, parse_database_url
from app.core.errors import PrismError, UnavailableError
from app.core.group_commit import GroupCommitter
from app.core.json_input import LoneSurrogateMiddleware
from app.core.limits import InputLimitsMiddleware
from app.core.logging_setup import configure_logging
from app.core.middleware import ListedOriginsCORSMiddleware, RequestContextMiddleware
from app.core.paths import STATIC_DIR
from app.core.read_cache import ReadCache, TableRevisions
from app.core.single_flight import SharedTasks
from app.core.telemetry import Metrics
from app.core.templating import build_environment, is_fragment_request
from app.live.broadcaster import Broadcaster
from app.live.pg_fanout import start_fanout
from app.maindb import create_main_database
from app.miners.fold_schedule import fold_schedule
from app.ops import migrations
from app.ops.api.docs import install_url_rules
from app.ops.api.docs import router as docs_router
from app.ops.backup_schedule import Backups
from app.ops.restore import hold_serving_lock
from app.ops.scheduler import retention_schedule
from app.routers import API_ROUTERS, WEB_ROUTERS
from app.runbooks.run_metrics import install_run_counter
from app.settings import service as settings_store

logger = logging.getLogger("prism.app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    target = api_database_target(settings.api_db_url, settings.api_db_listen_url)
    # Before migrating: `prism db restore` sees this server, and it never starts mid-restore.
    app.state.serving_lock = await asyncio.to_thread(hold_serving_lock, target)
    engine = create_db_engine(
        target,
        busy_timeout_seconds=settings.db_timeout,
        slow_query_ms=settings.slow_query_ms,
        on_query=app.state.metrics.observe_db_query,
    )
    app.state.engine = engine
    app.state.table_revisions = TableRevisions(engine, ["agent", "apitoken"])
    app.state.read_cache = ReadCache(app.state.table_revisions, settings.read_cache_seconds)
    app.state.token_lookups = SharedTasks("token lookup")
    app.state.db_display_url = target.display
    app.state.migration_error = None
    app.state.head_revision = migrations.head_revision()
    if settings.auto_migrate:
        try:
            await asyncio.to_thread(migrations.upgrade, engine)
        except Exception as exc:
            # Keep serving the probes so the orchestrator sees why: /readyz answers 503.
            app.state.migration_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            logger.error(
                "migration failed; the service is not ready: %s", app.state.migration_error
            )
    # Opened lazily: an absent or hanging main database only degrades the cross-service views.
    app.state.main_db = create_main_database(settings)
    app.state.session_codec = SessionCodec(await _session_secret_within(app, seconds=5))
    app.state.broadcaster.bind(asyncio.get_running_loop())
    # On PostgreSQL, live updates also reach (and come from) the other replicas.
    app.state.live_fanout = await start_fanout(app.state.broadcaster, target)
    app.state.retention = retention_schedule(engine, target, settings)
    if app.state.retention is not None:
        app.state.retention.start()
    app.state.fold = fold_schedule(engine, target, settings)
    if app.state.fold is not None:
        app.state.fold.start()
    # The evaluator: every PRISM_ALERT_INTERVAL_SECONDS, on one replica at a time.
    app.state.alerts = alert_schedule(
        engine,
        target,
        settings,
        publisher=app.state.broadcaster,
        main_db=app.state.main_db,
    )
    if app.state.alerts is not None:
        app.state.alerts.start()
    app.state.backups = Backups.from_settings(target, settings)
    if app.state.backups is not None:
        app.state.backups.start()
    # The outbox's delivery worker runs on every replica; claims keep them from sending twice.
    app.state.delivery = DeliveryWorker(engine, settings)
    app.state.delivery.start()
    # Single samples, heartbeats and events of concurrent requests: one transaction each group.
    app.state.group_commit = GroupCommitter(engine)
    app.state.group_commit.start()
    app.state.started_at = time.time()
    # What start-up built (routes, models, templates, SQLAlchemy's caches) lives as long as
    # the process: keep it out of the collector's full passes, which otherwise scan it all
    # and stalled every request for tens of milliseconds.
    gc.collect()
    gc.freeze()
    logger.info("Prism Console %s serving %s", __version__, target.display)
    try:
        yield
    finally:
        # First: what is queued is written while everything it needs still runs.
        await app.state.group_commit.stop()
        if app.state.retention is not None:
            await app.state.retention.stop()
        if app.state.fold is not None:
            await app.state.fold.stop()
        if app.state.alerts is not None:
            await app.state.alerts.stop()
        if app.state.backups is not None:
            await app.state.backups.stop()
        await app.state.delivery.stop()
        if app.state.live_fanout is not None:
            await app.state.live_fanout.stop()
        if app.state.main_db is not None:
            await asyncio.to_thread(app.state.main_db.dispose)
        engine.dispose()
        if app.state.serving_lock is not None:
            app.state.serving_lock.release()


async def _session_secret_within(app: FastAPI, *, seconds: float) -> str:
    """The session secret, without letting a locked database hold start-up for long."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(_session_secret, app), timeout=seconds)
    except TimeoutError:
        logger.warning(
            "session secret not read within %ss; browser sessions end at restart", seconds
        )
        return secrets.token_urlsafe(32)


def _session_secret(app: FastAPI) -> str:
    """PRISM_SECRET_KEY, else a secret generated once and kept in the setting table."""
    settings: Settings = app.state.settings
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    try:
        with Session(app.state.engine) as session:
            return settings_store.get_or_create_secret(session=session)
    except SQLAlchemyError as exc:
        # Not migrated or unreachable: sessions signed with this key end at restart,
        # and /readyz already reports why the database is not usable.
        logger.warning(
            "session secret not stored (%s); browser sessions end at restart", type(exc).__name__
        )
        return secrets.token_urlsafe(32)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; the database is opened in the lifespan, not here."""
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    for warning in settings.start_up_warnings():
        logger.warning(warning)
    # A bad URL fails here, with one clear line, before anything is served.
    api_database_target(settings.api_db_url, settings.api_db_listen_url)
    if settings.main_db_url:
        parse_database_url(settings.main_db_url, variable="PRISM_MAIN_DB_URL")
    app = FastAPI(
        title="Prism Console",
        version=__version__,
        description="Operations console for fleets of software agents and crypto miners.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_run_counter(app.state.metrics, engine=lambda: getattr(app.state, "engine", None))
    app.state.broadcaster = Broadcaster(settings.stream_queue_size)
    app.state.jinja = build_environment()
    app.state.started_at = time.time()

    _install_error_handlers(app)
    # Middleware added first runs innermost: the limits' 413 and 422 answers pass through
    # CORS and RequestContextMiddleware, so they carry the request id and security headers.
    app.add_middleware(LoneSurrogateMiddleware)  # reads the body as the route does: innermost
    app.add_middleware(AllowedMethodsMiddleware)
    app.add_middleware(
        InputLimitsMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_read_timeout=settings.body_read_timeout_seconds,
    )
    if settings.cors_origins:
        # With credentials, as the earlier service answered (its browser clients send
        # cookies); never for "*", which would hand any site the caller's session.
        app.add_middleware(
            ListedOriginsCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials="*" not in settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)

    for router in API_ROUTERS:
        app.include_router(router)
    app.include_router(docs_router)
    for web_router in WEB_ROUTERS:
        app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    install_url_rules(app)
    _build_routes_now(app)
    return app


def _build_routes_now(app: FastAPI) -> None:
    """Build every included router's effective routes here, in one thread.

    FastAPI builds them at the first request that reaches each router. Built by many first
    requests at once (50 concurrent actions on a fresh replica), pydantic's schema generation
    for the shared parameter types raced and one request answered 500.
    """
    for _context in iter_route_contexts(app.routes):
        pass
    for route in app.router.routes:
        low_priority = getattr(route, "effective_low_priority_routes", None)
        if callable(low_priority):
            low_priority()


def _json_safe(value: Any) -> Any:
    """Validation errors echo the input; NaN, infinities and exceptions are not JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        # A lone surrogate (JSON "\\ud800") cannot be encoded as UTF-8: escape it.
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own 422 shape, made safe for inputs like NaN that JSON cannot carry.
        return JSONResponse({"detail": _json_safe(exc.errors())}, status_code=422)

    @app.exception_handler(LoginRequiredError)
    async def _login_required(request: Request, exc: LoginRequiredError) -> Response:
        target = login_url(exc.next_url)
        if is_fragment_request(request):
            # htmx follows HX-Redirect with a full navigation to the login page.
            return Response(status_code=200, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(PrismError)
    async def _prism_error(_request: Request, exc: PrismError) -> JSONResponse:
        headers = None
        if isinstance(exc, UnavailableError):
            headers = {"Retry-After": str(exc.retry_after_seconds)}
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeoutError)
    async def _database_unavailable(
        _request: Request, exc: OperationalError | PoolTimeoutError
    ) -> JSONResponse:
        # Locked past the busy timeout, the server gone, or every pooled connection busy
        # past pool_timeout: retryable, never a 500.
        reason = exc.orig if isinstance(exc, OperationalError) else exc
        logger.warning("console database unavailable: %s", str(reason).splitlines()[0])
        return JSONResponse(
            {"detail": "Console database unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory app.main:app_factory` (reads the environment)."""
    return create_app()
