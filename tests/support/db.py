"""Database helpers for tests: throwaway PostgreSQL databases, migrating, fast table wiping."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

import app.models  # noqa: F401
from app.core.db import create_db_engine, parse_database_url
from app.models import metadata
from app.ops import migrations
from tests.support.waits import WAIT

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def pg_admin_url() -> str:
    return os.environ.get("PRISM_TEST_PG_URL", DEFAULT_PG_URL)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def require_postgres() -> str:
    """The admin URL of a reachable server; skips loudly, or fails when CI=true."""
    url = pg_admin_url()
    try:
        # A server that is not running refuses at once; a busy one may take a while to answer.
        with psycopg.connect(_libpq(url), connect_timeout=int(WAIT)):
            pass
    except psycopg.Error as exc:
        reason = f"PostgreSQL not reachable at {make_url(url).render_as_string()}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


@contextmanager
def temporary_pg_database(prefix: str = "prism_test") -> Iterator[str]:
    """CREATE a uniquely named database, yield its URL, DROP it afterwards."""
    admin_url = require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def engine_for(url: str, **options: Any) -> Iterator[Engine]:
    """An engine on `url` (`options` as create_db_engine's), disposed afterwards."""
    engine = create_db_engine(parse_database_url(url), **options)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def migrated_engine(url: str, revision: str = "head", **options: Any) -> Iterator[Engine]:
    """`engine_for(url)` once the database is upgraded to `revision`."""
    with engine_for(url, **options) as engine:
        migrations.upgrade(engine, revision)
        yield engine


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision` (the one way tests migrate by hand)."""
    with migrated_engine(url, revision):
        pass


def wipe(engine: Engine) -> None:
    """Empty every console table (the schema stays), between tests."""
    # The rollup watermark's row is part of the schema (migration 0012): it goes back to 0,
    # as the sample ids start again from 1.
    tables = [
        table.name for table in reversed(metadata.sorted_tables) if table.name != "rollupwatermark"
    ]
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("UPDATE rollupwatermark SET folded_through = 0"))
