"""Shared fixtures: every API test runs on a migrated SQLite file and on PostgreSQL.

Each xdist worker migrates one database per engine once, serves it from one app, and
empties the tables before each test (cheaper than migrating per test, and isolated).
"""

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.auth import tokens
from app.core.config import Settings
from app.main import create_app
from app.ops import fleet_gauges, health
from tests.support.db import migrate, temporary_pg_database, wipe
from tests.support.waits import WAIT

ADMIN_TOKEN = "test-admin-token-with-enough-entropy-0001"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(autouse=True)
def _patient_health_probes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Health probes of in-process apps wait up to WAIT s for their checks, not 0.8 s.

    In production a probe answers within a second however slow the database is; in a test
    on a busy machine that budget would turn a healthy database into "timed out". Tests
    about the budget itself ask for `real_probe_budget`.
    """
    if "real_probe_budget" not in request.fixturenames:
        monkeypatch.setattr(health, "check_health", partial(health.check_health, timeout=WAIT))


@pytest.fixture
def real_probe_budget() -> None:
    """The health probes keep their production time limit (see _patient_health_probes)."""


@pytest.fixture(autouse=True)
def _patient_fleet_scrapes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The /metrics fleet gauges of in-process apps wait up to WAIT s for the database, not 3 s.

    An app builds its collector at its first scrape and keeps it, so this holds in every test;
    otherwise a slow scrape on a busy machine would export prism_fleet_scrape_error 1 and no
    fleet gauges. No test is about that time limit itself.
    """
    collector = partial(fleet_gauges.FleetCollector, timeout=WAIT)
    monkeypatch.setattr(fleet_gauges, "FleetCollector", collector)


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty console database on each engine."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "console.db"
        url = f"sqlite:///{path}"
        migrate(url)
        yield url
    else:
        with temporary_pg_database() as url:
            migrate(url)
            yield url


@pytest.fixture(scope="session")
def app_settings(db_url: str) -> Settings:
    return Settings(
        api_db_url=db_url,
        admin_token=ADMIN_TOKEN,
        auto_migrate=False,
        log_level="WARNING",
        # Tests arrange deliberately old rows: the scheduled prune must not race them.
        retention_interval_minutes=0,
        # Tests step the alert evaluator themselves, with their own clock.
        alert_interval_seconds=0,
        # Tests fold the rollup themselves (app/miners/fold.py) when they want it folded.
        rollup_fold_seconds=0,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture(scope="session")
def _shared_client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings)) as client:
        yield client


@pytest.fixture
def app(_shared_client: TestClient) -> FastAPI:
    application: FastAPI = _shared_client.app  # type: ignore[assignment]
    return application


@pytest.fixture
def engine(app: FastAPI) -> Engine:
    engine: Engine = app.state.engine
    return engine


@pytest.fixture
def client(_shared_client: TestClient, engine: Engine) -> Iterator[TestClient]:
    """An admin-authenticated client on an empty database."""
    wipe(engine)
    _shared_client.headers.clear()
    _shared_client.headers.update(AUTH)
    yield _shared_client
    _shared_client.headers.clear()


def lenient_client(app: FastAPI) -> TestClient:
    """An admin client on the shared app whose server errors are answers (5xx), not exceptions.

    Never entered with `with`: that would run the shared app's lifespan again, and its end
    would stop the live relay (and close the loop) every later test on this worker relies on.
    """
    return TestClient(app, raise_server_exceptions=False, headers=AUTH)


@pytest.fixture
def anon_client(client: TestClient, app: FastAPI) -> TestClient:
    """A client with no token, on the same app and the same empty database."""
    return TestClient(app)


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session on the test database, for arranging rows and counting what was written."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def token_for(db_session: Session) -> Callable[[str], dict[str, str]]:
    """Authorization headers for a fresh stored token of the given scope."""

    def make(scope: str) -> dict[str, str]:
        _, plaintext = tokens.create_token(session=db_session, name=f"test-{scope}", scope=scope)
        return {"Authorization": f"Bearer {plaintext}"}

    return make


@pytest.fixture
def make_client(app_settings: Settings, engine: Engine) -> Iterator[Callable[..., TestClient]]:
    """Start another app on the same database with some settings changed."""
    started: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = app_settings.model_copy(update=overrides)
        client = TestClient(create_app(settings))
        client.__enter__()
        client.headers.update(AUTH)
        started.append(client)
        return client

    wipe(engine)
    yield make
    for client in started:
        client.__exit__(None, None, None)
