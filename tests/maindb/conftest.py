"""Fixtures of the cross-service suite: a seeded main DB and a console app per engine.

Each test runs on SQLite and on PostgreSQL: the main database and the console database use
the same engine in one run. The main DB is read through the read-only engine; on
PostgreSQL additionally as a SELECT-only role.
"""

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.core.config import Settings
from app.main import create_app
from app.maindb import MainDatabase, create_main_database
from tests.support.db import migrate, temporary_pg_database, wipe
from tests.support.maindb_fixtures import Dialect, MainTarget, main_database
from tests.support.waits import WAIT_MS

ADMIN_TOKEN = "maindb-admin-token-with-enough-entropy-01"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def dialect(request: pytest.FixtureRequest) -> Dialect:
    """The engine of this run, for the main and the console database alike."""
    value: Dialect = request.param
    return value


@pytest.fixture(scope="session")
def main_target(dialect: Dialect, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MainTarget]:
    """The seeded main database (assignee tasks, every table), shared by read-only tests."""
    with main_database(dialect, tmp_path_factory.mktemp("main")) as target:
        yield target


def open_main(target: MainTarget, **overrides: Any) -> MainDatabase:
    """A MainDatabase on the target's read-only URL (settings overridable).

    Its deadline is generous unless a test sets `main_db_timeout_ms`: tests of the deadline
    set a short one, and no other test may fail because a busy machine answered slowly.
    Its reflected schema never expires unless a test sets `schema_ttl_seconds` (0: never
    kept), so "still cached" cannot depend on how fast the test ran.
    """
    ttl = overrides.pop("schema_ttl_seconds", math.inf)
    overrides.setdefault("main_db_timeout_ms", WAIT_MS)
    settings = Settings(main_db_url=target.url, _env_file=None, **overrides)  # type: ignore[call-arg]
    main_db = create_main_database(settings, schema_ttl_seconds=ttl)
    assert main_db is not None
    return main_db


@pytest.fixture(scope="session")
def main_db(main_target: MainTarget) -> Iterator[MainDatabase]:
    main_db = open_main(main_target)
    yield main_db
    main_db.dispose()


@pytest.fixture
def make_main(dialect: Dialect, tmp_path: Path) -> Iterator[Callable[..., MainTarget]]:
    """Build another main database variant (tasks=..., omit=..., location=..., seeded=...)."""
    from contextlib import ExitStack

    with ExitStack() as stack:

        def make(**variant: Any) -> MainTarget:
            return stack.enter_context(main_database(dialect, tmp_path, **variant))

        yield make


@pytest.fixture
def opened() -> Iterator[Callable[..., MainDatabase]]:
    """open_main() with disposal at teardown."""
    databases: list[MainDatabase] = []

    def make(target: MainTarget, **overrides: Any) -> MainDatabase:
        main_db = open_main(target, **overrides)
        databases.append(main_db)
        return main_db

    yield make
    for main_db in databases:
        main_db.dispose()


@pytest.fixture(scope="session")
def console_url(dialect: Dialect, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated console database on the same engine."""
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'console.db'}"
        migrate(url)
        yield url
        return
    with temporary_pg_database() as url:
        migrate(url)
        yield url


@pytest.fixture(scope="session")
def console_client(console_url: str) -> Iterator[TestClient]:
    """The console app; its lifespan opens no main DB (tests set app.state.main_db)."""
    settings = Settings(
        api_db_url=console_url,
        admin_token=ADMIN_TOKEN,
        auto_migrate=False,
        log_level="WARNING",
        retention_interval_minutes=0,
        alert_interval_seconds=0,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def console_engine(console_client: TestClient) -> Engine:
    app: FastAPI = console_client.app  # type: ignore[assignment]
    engine: Engine = app.state.engine
    return engine


@pytest.fixture
def console_session(console_engine: Engine) -> Iterator[Session]:
    with Session(console_engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def api_for(
    console_client: TestClient, console_engine: Engine
) -> Iterator[Callable[[MainDatabase | None], TestClient]]:
    """The admin client of an empty console whose app reads the given main DB (or none)."""
    app: FastAPI = console_client.app  # type: ignore[assignment]
    wipe(console_engine)

    def use(main_db: MainDatabase | None) -> TestClient:
        app.state.main_db = main_db
        console_client.headers.clear()
        console_client.headers.update(AUTH)
        return console_client

    yield use
    app.state.main_db = None
    console_client.headers.clear()


@pytest.fixture
def api(api_for: Callable[[MainDatabase | None], TestClient], main_db: MainDatabase) -> TestClient:
    """The admin client reading the seeded main database."""
    return api_for(main_db)
