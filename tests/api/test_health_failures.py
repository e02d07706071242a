"""Probes when the console database is down, behind the migration head, failed to migrate,
or hangs: each answers (never hangs) with a failure naming the reason."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.db import create_db_engine, parse_database_url
from app.main import create_app
from tests.conftest import ADMIN_TOKEN
from tests.support.db import migrate, temporary_pg_database
from tests.support.waits import wait_until

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "api_db_url": url,
        "admin_token": ADMIN_TOKEN,
        "secret_key": "test-secret-key-for-health-probes",
        "auto_migrate": False,
        "log_level": "CRITICAL",
    }
    values.update(overrides)
    return Settings(**values, _env_file=None)


@contextmanager
def _client(url: str, **overrides: Any) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(url, **overrides))) as client:
        yield client


@pytest.fixture(params=ENGINES)
def blank_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own on each engine (no tables, no version)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
    else:
        with temporary_pg_database() as url:
            yield url


def _execute(url: str, statement: str) -> None:
    engine = create_db_engine(parse_database_url(url))
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////nonexistent-prism-dir/sub/console.db",
        pytest.param("postgresql://postgres@127.0.0.1:1/prism", id="postgresql-closed-port"),
    ],
)
def test_an_unreachable_console_database_fails_every_probe_but_liveness(url: str) -> None:
    with _client(url) as client:
        assert client.get("/livez").status_code == 200

        ready = client.get("/readyz")
        assert ready.status_code == 503
        lines = ready.text.splitlines()
        assert lines[0].startswith("[-]consoleDb failed: ")
        assert lines[-1] == "readyz check failed"

        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "down"
        assert health.json()["db"] == "disconnected"
        assert health.json()["mocks"] is False

        api = client.get("/api/health")
        assert api.status_code == 503
        assert api.headers["content-type"] == "application/health+json"
        assert api.json()["status"] == "fail"
        [console] = api.json()["checks"]["consoleDb:responseTime"]
        assert console["status"] == "fail"
        assert console["output"]


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////nonexistent-prism-dir/sub/console.db",
        pytest.param("postgresql://postgres@127.0.0.1:1/prism", id="postgresql-closed-port"),
    ],
)
def test_a_database_outage_leaves_metrics_up_with_a_scrape_error(url: str) -> None:
    with _client(url) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert "prism_fleet_scrape_error 1.0" in response.text.splitlines()
    assert "prism_build_info{" in response.text
    assert "prism_agents{" not in response.text


def test_a_database_behind_the_head_is_not_ready(blank_db_url: str) -> None:
    migrate(blank_db_url, "0001_baseline")
    with _client(blank_db_url) as client:
        head = client.app.state.head_revision  # type: ignore[attr-defined]
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert f"[-]migrations failed: database at 0001_baseline, head is {head}" in ready.text
        assert "[+]consoleDb ok" in ready.text

        api = client.get("/api/health").json()
        assert api["status"] == "fail"
        [check] = api["checks"]["migrations:head"]
        assert check["status"] == "fail"
        assert check["observedValue"] == "0001_baseline"

        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "down"
        assert health.json()["db"] == "connected"


def test_a_database_never_migrated_is_not_ready(blank_db_url: str) -> None:
    with _client(blank_db_url) as client:
        ready = client.get("/readyz?verbose")
    assert ready.status_code == 503
    assert "[-]migrations failed: database at no revision" in ready.text


def test_a_failed_start_up_migration_is_not_ready_and_says_why(blank_db_url: str) -> None:
    # A table in the way of revision 0002, with other columns: the upgrade must fail.
    _execute(blank_db_url, "CREATE TABLE apitoken (token_id INTEGER PRIMARY KEY, junk TEXT)")
    with _client(blank_db_url, auto_migrate=True) as client:
        reason = client.app.state.migration_error  # type: ignore[attr-defined]
        assert reason
        assert "apitoken" in reason

        ready = client.get("/readyz?verbose")
        assert ready.status_code == 503
        assert f"[-]migrations failed: migration failed at start-up: {reason}" in ready.text
        assert ready.text.splitlines()[-1] == "readyz check failed"

        # Without ?verbose the failing check is listed too, as Kubernetes does.
        assert reason in client.get("/readyz").text

        [check] = client.get("/api/health").json()["checks"]["migrations:head"]
        assert check["status"] == "fail"
        assert reason in check["output"]
        assert client.get("/health").json()["status"] == "down"


class _Hold:
    """Every console-DB check blocks until release(): an exclusive SQLite lock (in rollback
    journal mode: WAL would let readers through), or a PostgreSQL table lock."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            sqlite_db = sqlite3.connect(str(parsed.database), isolation_level=None)
            # Leaving WAL needs no other connection open: the caller holds before any server
            # starts (a running one's background workers may always hold one).
            assert sqlite_db.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
            sqlite_db.execute("BEGIN EXCLUSIVE")
            self._release = lambda: (sqlite_db.execute("ROLLBACK"), sqlite_db.close())
        else:
            libpq = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            pg = psycopg.connect(libpq)
            pg.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
            self._release = lambda: (pg.rollback(), pg.close())

    def release(self) -> None:
        self._release()


def test_a_hanging_database_fails_the_probes_instead_of_hanging(
    blank_db_url: str, real_probe_budget: None
) -> None:
    migrate(blank_db_url)
    on_sqlite = make_url(blank_db_url).get_backend_name() == "sqlite"
    # SQLite: held before the server starts (see _Hold); PostgreSQL: once it runs, so its
    # start-up is not what waits.
    hold = _Hold(blank_db_url) if on_sqlite else None
    # A busy timeout far above the probes' budget: only the probe's own limit can answer.
    with _client(blank_db_url, db_timeout=10) as client:
        hold = hold or _Hold(blank_db_url)
        try:
            ready = client.get("/readyz?verbose")
            api = client.get("/api/health")
            health = client.get("/health")
        finally:
            hold.release()

        assert ready.status_code == 503
        assert "[-]consoleDb failed: timed out after" in ready.text
        assert api.status_code == 503
        assert api.json()["checks"]["consoleDb:responseTime"][0]["output"].startswith(
            "timed out after"
        )
        assert health.status_code == 503
        assert health.json()["db"] == "disconnected"

        # Once the lock is gone, the stuck check finishes and the service is ready again.
        wait_until(lambda: client.get("/readyz").status_code == 200, "readiness coming back")
