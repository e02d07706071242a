"""PostgreSQL restarted under load: the service recovers by itself and /readyz tells the truth.

The shared test server cannot be restarted (other tests run against it), so the restart is
played on the test's own database: every backend connection of it is terminated, as a
restart would, and new connections are refused for a while (ALLOW_CONNECTIONS false), as
while the server is down. A light load of reads and ingests runs throughout.
"""

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.db import create_db_engine, parse_database_url
from app.main import create_app
from tests.conftest import ADMIN_TOKEN
from tests.hardening.ingest_support import AUTH
from tests.support.db import pg_admin_url, temporary_pg_database
from tests.support.servers import running_server
from tests.support.waits import HTTP_TIMEOUT, WAIT  # deadlines for polling, never timed asserts

pytestmark = pytest.mark.postgres


class Load:
    """One client reading the agent list and ingesting samples until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: Counter[int] = Counter()
        self.failures: list[str] = []
        self.acknowledged = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, headers=AUTH, timeout=HTTP_TIMEOUT) as http:
            number = 0
            while not self.stop.is_set():
                number += 1
                for response in (
                    http.get("/api/agents"),
                    http.post(
                        "/api/miners/sample", json={"miner_id": "rig-1", "pool": f"{number}"}
                    ),
                ):
                    self.answers[response.status_code] += 1
                    if response.status_code not in (200, 202, 503):
                        self.failures.append(f"{response.status_code} {response.text}")
                    if response.status_code == 202:
                        self.acknowledged += 1
                time.sleep(0.01)

    def wait_for(self, status: int, count: int) -> None:
        """Until the load has had `count` more answers with this status."""
        target = self.answers[status] + count
        deadline = time.monotonic() + WAIT
        while self.answers[status] < target:
            assert time.monotonic() < deadline, f"no {status} answers: {self.answers}"
            time.sleep(0.02)

    @contextmanager
    def running(self) -> Iterator["Load"]:
        self.thread.start()
        try:
            yield self
        finally:
            self.stop.set()
            self.thread.join(timeout=WAIT)


def _admin(sql: str) -> None:
    libpq = make_url(pg_admin_url()).set(drivername="postgresql")
    with psycopg.connect(libpq.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(sql)


def _terminate_backends(database: str) -> None:
    _admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    )


def _readyz_becomes(url: str, status: int) -> None:
    deadline = time.monotonic() + WAIT
    while (answer := httpx.get(f"{url}/readyz", timeout=HTTP_TIMEOUT).status_code) != status:
        assert time.monotonic() < deadline, f"/readyz stayed {answer}, expected {status}"
        time.sleep(0.05)


def test_the_service_rides_out_a_postgresql_restart_under_load() -> None:
    with temporary_pg_database("prism_recovery") as db_url:
        database = make_url(db_url).database
        assert database is not None
        settings = Settings(
            api_db_url=db_url,
            admin_token=ADMIN_TOKEN,
            log_level="CRITICAL",  # the outage is logged at length; it is expected here
            _env_file=None,
        )
        app = create_app(settings)
        with running_server(app) as url, Load(url).running() as load:
            _readyz_becomes(url, 200)
            load.wait_for(200, 10)
            try:
                # The server goes down: connections are cut and new ones refused.
                _admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
                _terminate_backends(database)
                _readyz_becomes(url, 503)
                down = httpx.post(
                    f"{url}/api/miners/sample",
                    json={"miner_id": "rig-2"},
                    headers=AUTH,
                    timeout=HTTP_TIMEOUT,
                )
                assert down.status_code == 503, down.text
                assert down.headers["Retry-After"].isdigit()
                load.wait_for(503, 5)
            finally:
                # ... and comes back. The service is not restarted.
                _admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
            _readyz_becomes(url, 200)
            load.wait_for(200, 10)
            load.wait_for(202, 10)
            after = httpx.post(
                f"{url}/api/miners/sample",
                json={"miner_id": "rig-3"},
                headers=AUTH,
                timeout=HTTP_TIMEOUT,
            )
            assert after.status_code == 202
        assert load.failures == []
        # Every sample acknowledged before, during and after the outage is stored (one cut
        # while committing may be stored and still answered 503: the client retries it).
        engine = create_db_engine(parse_database_url(db_url))
        try:
            with engine.connect() as conn:
                stored = conn.exec_driver_sql(
                    "SELECT count(*) FROM minersample WHERE miner_id = 'rig-1'"
                ).scalar_one()
        finally:
            engine.dispose()
        assert stored >= load.acknowledged


def _backends_of(database: str) -> set[int]:
    """The pids of the client connections to `database`, from another connection."""
    libpq = make_url(pg_admin_url()).set(drivername="postgresql")
    with psycopg.connect(libpq.render_as_string(hide_password=False), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return {pid for (pid,) in rows}


def test_the_first_requests_after_its_pooled_connections_were_cut_are_all_answered() -> None:
    with temporary_pg_database("prism_preping") as db_url:
        database = make_url(db_url).database
        assert database is not None
        settings = Settings(
            api_db_url=db_url,
            admin_token=ADMIN_TOKEN,
            read_cache_seconds=0,  # every read below reaches the database
            retention_interval_minutes=0,
            log_level="CRITICAL",
            _env_file=None,
        )
        app = create_app(settings)
        with (
            running_server(app) as url,
            httpx.Client(base_url=url, headers=AUTH, timeout=HTTP_TIMEOUT) as http,
        ):
            _readyz_becomes(url, 200)
            # Requests at once, so the pool opens (usually several) connections and keeps them.
            with ThreadPoolExecutor(max_workers=4) as pool:
                warm = list(pool.map(lambda _: http.get("/api/agents").status_code, range(20)))
            assert set(warm) == {200}
            assert app.state.engine.pool.checkedin() >= 1  # idle pooled connections exist
            # The server drops every connection of the database (as a restart or a proxy
            # timing idle connections out would), while the pool still holds them.
            cut = _backends_of(database)
            _terminate_backends(database)
            deadline = time.monotonic() + WAIT
            while alive := cut & _backends_of(database):
                assert time.monotonic() < deadline, f"backends {alive} were not terminated"
                time.sleep(0.02)
            answers = [
                http.get("/api/agents").status_code,
                http.get("/readyz").status_code,
                http.post("/api/miners/sample", json={"miner_id": "rig-1"}).status_code,
                http.get("/api/events").status_code,
                http.get("/api/agents").status_code,
            ]
        assert answers == [200, 200, 202, 200, 200]
