"""Concurrent ingest on SQLite, and a console database that is locked or gone: 503, never 500."""

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.main import create_app
from tests.conftest import ADMIN_TOKEN
from tests.hardening.ingest_support import AUTH, free_port, row_counts
from tests.support.db import temporary_pg_database
from tests.support.servers import running_server
from tests.support.waits import HTTP_TIMEOUT, WAIT

CLIENTS = 50


def _settings(db_url: str, **overrides: Any) -> Settings:
    return Settings(
        api_db_url=db_url,
        admin_token=ADMIN_TOKEN,
        log_level="WARNING",
        _env_file=None,
        **overrides,
    )


def _one_client(url: str, client: int, barrier: threading.Barrier, answers: list[Any]) -> None:
    """Register an agent, then post single samples, small batches and an event batch."""
    agent = f"agent-{client}"
    requests: list[tuple[str, dict[str, Any]]] = [
        (f"/api/agents/{agent}/heartbeat", {"name": f"Agent {client}", "domain": "ops"}),
        *[
            ("/api/miners/sample", {"miner_id": f"rig-{client}", "hashrate_1m": i})
            for i in range(3)
        ],
        *[
            ("/api/miners/samples", {"samples": [{"miner_id": f"rig-{client}"}] * 10})
            for _ in range(2)
        ],
        (f"/api/agents/{agent}/events", {"events": [{"kind": "heartbeat", "message": "m"}] * 5}),
        (f"/api/agents/{agent}/heartbeat", {"status": "degraded", "memoryUsedMB": 512}),
    ]
    with httpx.Client(base_url=url, headers=AUTH, timeout=HTTP_TIMEOUT) as http:
        barrier.wait()
        for path, body in requests:
            response = http.post(path, json=body)
            answers.append((response.status_code, response.text))


def test_fifty_concurrent_ingest_clients_on_sqlite_are_all_served(tmp_path: Path) -> None:
    # Writers queue for SQLite's lock: on a busy machine the default 30 s wait could run
    # out, and a 503 is not what this test is about (the locked-database tests below are).
    app = create_app(_settings(f"sqlite:///{tmp_path / 'console.db'}", db_timeout=WAIT))
    answers: list[Any] = []
    barrier = threading.Barrier(CLIENTS)
    with running_server(app) as url:
        threads = [
            threading.Thread(target=_one_client, args=(url, client, barrier, answers))
            for client in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=WAIT)
        counts = row_counts(app.state.engine)
    statuses = Counter(status for status, _ in answers)
    assert statuses == {202: CLIENTS * 6, 201: CLIENTS, 200: CLIENTS}, statuses
    assert not [text for _, text in answers if "locked" in text.lower()]
    assert counts["agent"] == CLIENTS
    assert counts["minersample"] == CLIENTS * (3 + 2 * 10)
    assert counts["agentevent"] == CLIENTS * 5
    assert counts["miner"] == CLIENTS


@pytest.fixture
def impatient(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    """An app on a fresh SQLite file that waits at most 0.5 s for a lock."""
    path = tmp_path / "console.db"
    with TestClient(create_app(_settings(f"sqlite:///{path}", db_timeout=0.5))) as client:
        client.headers.update(AUTH)
        yield client, path


def assert_retry_later(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"].isdigit()
    assert response.json() == {"detail": "Console database unavailable; retry shortly"}


def test_a_database_locked_past_the_busy_timeout_is_503_with_retry_after_and_nothing_written(
    impatient: tuple[TestClient, Path],
) -> None:
    client, path = impatient
    registered = client.post("/api/agents/agent-1/heartbeat", json={"name": "A", "domain": "ops"})
    assert registered.status_code == 201
    before = row_counts(client.app.state.engine)  # type: ignore[attr-defined]
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        holder.execute(
            "INSERT INTO setting (key, value, updated_at) VALUES ('x', 'y', '2026-01-01')"
        )
        assert_retry_later(client.post("/api/miners/sample", json={"miner_id": "rig-1"}))
        batch = {"samples": [{"miner_id": f"rig-{i}"} for i in range(100)]}
        assert_retry_later(client.post("/api/miners/samples", json=batch))
        assert_retry_later(client.post("/api/agents/agent-1/heartbeat", json={"version": "2"}))
        event = {"kind": "warn", "message": "disk full"}
        assert_retry_later(client.post("/api/agents/agent-1/events", json=event))
        # WAL: readers are not blocked by the writer.
        assert client.get("/api/agents").status_code == 200
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    assert row_counts(client.app.state.engine) == before  # type: ignore[attr-defined]
    assert client.post("/api/miners/samples", json=batch).status_code == 202


@pytest.mark.parametrize(
    "db_url",
    [
        pytest.param(f"postgresql://postgres@127.0.0.1:{free_port()}/prism", id="postgresql-down"),
        pytest.param("sqlite:////nonexistent-dir/prism/console.db", id="sqlite-unopenable"),
    ],
)
def test_an_unavailable_database_is_503_with_retry_after_never_500(db_url: str) -> None:
    with TestClient(create_app(_settings(db_url)), headers=AUTH) as client:
        assert_retry_later(client.post("/api/miners/sample", json={"miner_id": "rig-1"}))
        assert_retry_later(
            client.post("/api/agents/agent-1/heartbeat", json={"name": "A", "domain": "ops"})
        )
        assert_retry_later(client.get("/api/agents"))
        assert client.get("/readyz").status_code == 503
        assert client.get("/livez").status_code == 200


@pytest.mark.postgres
def test_a_pool_exhausted_behind_a_lock_is_503_with_retry_after() -> None:
    """Every pooled connection waits on a lock: the next request cannot get one in time."""
    with temporary_pg_database("prism_pool") as db_url:
        tiny_pool = f"{db_url}?pool_size=1&max_overflow=0&pool_timeout=0.5"
        with TestClient(create_app(_settings(tiny_pool)), headers=AUTH) as client:
            blocked: list[Any] = []
            waiting = threading.Thread(
                target=lambda: blocked.append(
                    client.post("/api/miners/sample", json={"miner_id": "rig-1"})
                )
            )
            with psycopg.connect(_libpq(db_url)) as holder:
                holder.execute("LOCK TABLE minersample IN ACCESS EXCLUSIVE MODE")
                waiting.start()
                try:
                    _wait_for_lock_waiter(db_url)
                    starved = client.get("/api/agents")
                finally:
                    holder.rollback()
                    waiting.join(timeout=WAIT)
        assert_retry_later(starved)
        assert blocked[0].status_code == 202


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _wait_for_lock_waiter(db_url: str) -> None:
    """Until a backend of the database waits on a lock: the ingest holding the only connection."""
    query = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + WAIT
    # Autocommit: inside a transaction the statistics would stay those of its first read.
    with psycopg.connect(_libpq(db_url), autocommit=True) as watcher:
        while watcher.execute(query).fetchone() == (0,):
            assert time.monotonic() < deadline, "the ingest never waited on the lock"
            time.sleep(0.02)
