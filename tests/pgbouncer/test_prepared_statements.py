"""The bouncer really pools by transaction: psycopg's automatic server-side prepares break
through it, and the console's `prepare_threshold=none` (or a listen URL) keeps them off."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from app.core.db import api_database_target, create_db_engine
from tests.support.db import require_postgres
from tests.support.pgbouncer import PgBouncer, running_pgbouncer

pytestmark = pytest.mark.postgres

# psycopg prepares a statement on the server once it ran prepare_threshold (5) times.
REPETITIONS = 12


@pytest.fixture(scope="module")
def single_server_bouncer() -> Iterator[PgBouncer]:
    """One server connection: two clients' transactions always share one server session."""
    with running_pgbouncer(require_postgres(), pool_size=1) as running:
        yield running


def alternate_the_same_statement(engine: Engine) -> None:
    """Two pooled connections take turns running one statement, one transaction each."""
    with engine.connect() as first, engine.connect() as second:
        for turn in range(REPETITIONS):
            for conn in (first, second):
                assert conn.execute(text("SELECT CAST(:n AS integer) + 1"), {"n": turn}).scalar()
                conn.commit()


def engine_through(bouncer: PgBouncer, query: str = "", listen_url: str | None = None) -> Engine:
    url = bouncer.url_for(require_postgres()) + query
    return create_db_engine(api_database_target(url, listen_url))


def test_without_the_option_a_repeated_statement_fails_through_the_bouncer(
    single_server_bouncer: PgBouncer,
) -> None:
    engine = engine_through(single_server_bouncer)
    try:
        with pytest.raises(DBAPIError, match="prepared statement"):
            alternate_the_same_statement(engine)
    finally:
        engine.dispose()


def test_prepare_threshold_none_in_the_url_runs_it_every_time(
    single_server_bouncer: PgBouncer,
) -> None:
    engine = engine_through(single_server_bouncer, "?prepare_threshold=none")
    try:
        alternate_the_same_statement(engine)
    finally:
        engine.dispose()


def test_a_listen_url_turns_server_side_prepares_off(single_server_bouncer: PgBouncer) -> None:
    engine = engine_through(single_server_bouncer, listen_url=require_postgres())
    try:
        alternate_the_same_statement(engine)
    finally:
        engine.dispose()
