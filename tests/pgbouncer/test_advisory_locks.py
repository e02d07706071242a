"""A scheduled job's session-level advisory lock is taken on PRISM_API_DB_LISTEN_URL: through
the bouncer, the lock would stay on a pooled server session after the run, held for good."""

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine

from app.core.db import DatabaseTarget, api_database_target, create_db_engine
from app.live.pg_fanout import libpq_url
from app.ops.scheduler import RETENTION_LOCK_KEY, retention_schedule
from tests.pgbouncer.conftest import pooled_settings

pytestmark = pytest.mark.postgres

# Advisory locks belong to one database: without the database filter, a test in another
# worker (its own database, the same key) is counted as a holder here.
HOLDERS = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND ((classid::bigint << 32) | objid::bigint) = %s"
)


def lock_holders(direct_url: str) -> list[int]:
    target = api_database_target(direct_url, None)
    with psycopg.connect(libpq_url(target), autocommit=True) as conn:
        return [row[0] for row in conn.execute(HOLDERS, (RETENTION_LOCK_KEY,)).fetchall()]


def run_retention_once(target: DatabaseTarget, pooled_url: str, direct_url: str) -> None:
    engine: Engine = create_db_engine(target)
    try:
        job = retention_schedule(
            engine, target, pooled_settings(pooled_url, direct_url), interval=3600
        )
        assert job is not None
        assert job.run_once()
    finally:
        engine.dispose()


@pytest.fixture
def no_leaked_lock(direct_url: str) -> Iterator[None]:
    """Ends any session left holding the retention lock (the bouncer's, in the control test)."""
    yield
    with psycopg.connect(libpq_url(api_database_target(direct_url, None)), autocommit=True) as c:
        for pid in lock_holders(direct_url):
            c.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_with_a_listen_url_the_lock_is_released_when_the_run_ends(
    pooled_url: str, direct_url: str, no_leaked_lock: None
) -> None:
    run_retention_once(api_database_target(pooled_url, direct_url), pooled_url, direct_url)
    assert lock_holders(direct_url) == []


def test_through_the_bouncer_the_lock_would_outlive_the_run(
    pooled_url: str, direct_url: str, no_leaked_lock: None
) -> None:
    # The control: what the listen URL prevents (and proof the bouncer pools by transaction).
    pooled_only = api_database_target(f"{pooled_url}?prepare_threshold=none", None)
    run_retention_once(pooled_only, pooled_url, direct_url)
    assert len(lock_holders(direct_url)) == 1
