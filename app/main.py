"""The app factory: create_app() builds everything; nothing runs at import time."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError

from app import __version__, migrations
from app.api.docs import router as docs_router
from app.api.routes import API_ROUTERS
from app.config import Settings, get_settings
from app.db import create_db_engine, parse_database_url
from app.errors import PrismError, UnavailableError
from app.live import Broadcaster
from app.logging_setup import configure_logging
from app.middleware import RequestContextMiddleware
from app.paths import STATIC_DIR
from app.telemetry import Metrics

logger = logging.getLogger("prism.app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    target = parse_database_url(settings.api_db_url)
    engine = create_db_engine(
        target,
        busy_timeout_seconds=settings.db_timeout,
        slow_query_ms=settings.slow_query_ms,
        on_query=app.state.metrics.observe_db_query,
    )
    app.state.engine = engine
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
    app.state.broadcaster.bind(asyncio.get_running_loop())
    app.state.started_at = time.time()
    logger.info("Prism Console %s serving %s", __version__, target.display)
    try:
        yield
    finally:
        engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; the database is opened in the lifespan, not here."""
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    parse_database_url(settings.api_db_url)  # a bad URL fails here, with one clear line
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
    app.state.broadcaster = Broadcaster(settings.stream_queue_size)
    app.state.started_at = time.time()

    _install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)

    for router in API_ROUTERS:
        app.include_router(router)
    app.include_router(docs_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PrismError)
    async def _prism_error(_request: Request, exc: PrismError) -> JSONResponse:
        headers = None
        if isinstance(exc, UnavailableError):
            headers = {"Retry-After": str(exc.retry_after_seconds)}
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(OperationalError)
    async def _database_unavailable(_request: Request, exc: OperationalError) -> JSONResponse:
        # Locked past the busy timeout, or the server is gone: retryable, never a 500.
        logger.warning("console database unavailable: %s", str(exc.orig).splitlines()[0])
        return JSONResponse(
            {"detail": "Console database unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory app.main:app_factory` (reads the environment)."""
    return create_app()
