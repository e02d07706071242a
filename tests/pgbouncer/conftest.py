"""Fixtures for the console behind PgBouncer: one bouncer in transaction pooling mode in front
of the test PostgreSQL, and one migrated database reached both through it and directly."""

from collections.abc import Iterator
from typing import Any

import pytest

from app.core.config import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support.db import migrate, require_postgres, temporary_pg_database
from tests.support.pgbouncer import PgBouncer, running_pgbouncer


@pytest.fixture(scope="session")
def bouncer() -> Iterator[PgBouncer]:
    with running_pgbouncer(require_postgres()) as running:
        yield running


@pytest.fixture(scope="session")
def direct_url() -> Iterator[str]:
    """A migrated database of this directory's own, at its direct (unpooled) URL."""
    with temporary_pg_database("prism_bouncer") as url:
        migrate(url)
        yield url


@pytest.fixture(scope="session")
def pooled_url(bouncer: PgBouncer, direct_url: str) -> str:
    """The same database through PgBouncer."""
    return bouncer.url_for(direct_url)


def pooled_settings(pooled_url: str, direct_url: str, **overrides: Any) -> Settings:
    """A console whose API URL goes through PgBouncer and whose listen URL is direct."""
    options: dict[str, Any] = {
        "api_db_url": pooled_url,
        "api_db_listen_url": direct_url,
        "admin_token": ADMIN_TOKEN,
        "auto_migrate": False,
        "log_level": "WARNING",
        "retention_interval_minutes": 0,
        "alert_interval_seconds": 0,
        **overrides,
    }
    return Settings(**options, _env_file=None)
