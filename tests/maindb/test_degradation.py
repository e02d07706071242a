"""A missing, unreachable, slow or partial main database degrades only the main panels."""

import threading
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.maindb import MainDatabase, create_main_database
from app.maindb.reader import MainDbReader
from tests.support.maindb_fixtures import MainTarget, make_table_slow, run_admin
from tests.support.waits import WAIT, WAIT_MS

PANELS = [
    "/api/main/reconciliation",
    "/api/main/agents/agent-1/logs",
    "/api/main/users",
    "/api/main/users/1",
    "/api/main/users/1/transactions",
    "/api/main/tasks",
    "/api/main/timeline",
    "/api/main/roadchain",
    "/api/main/roadchain/receipts",
    "/api/main/roadchain/merkle-roots",
    "/api/main/roadchain/webhooks",
]
# The table each panel cannot do without (the first one it looks for).
NEEDS = {
    "/api/main/reconciliation": "agents",
    "/api/main/agents/agent-1/logs": "agents",
    "/api/main/users": "users",
    "/api/main/users/1": "users",
    "/api/main/users/1/transactions": "users",
    "/api/main/tasks": "tasks",
    "/api/main/timeline": "timeline_events",
    "/api/main/roadchain": "roadchain_receipts",
    "/api/main/roadchain/receipts": "roadchain_receipts",
    "/api/main/roadchain/merkle-roots": "roadchain_merkle_roots",
    "/api/main/roadchain/webhooks": "roadchain_webhook_log",
}


def test_without_a_main_database_every_panel_says_not_configured(
    api_for: Callable[[MainDatabase | None], TestClient],
) -> None:
    client = api_for(None)
    for url in PANELS:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.json() == {
            "available": False,
            "reason": "PRISM_MAIN_DB_URL is not configured",
        }, url
    assert client.get("/api/main/status").json() == {
        "configured": False,
        "ok": False,
        "latencyMs": None,
        "error": "PRISM_MAIN_DB_URL is not configured",
        "timeoutMs": None,
        "tables": {},
        "replication": None,
    }


def test_an_unreachable_main_database_degrades_every_panel_with_the_reason(
    api_for: Callable[[MainDatabase | None], TestClient],
) -> None:
    settings = Settings(main_db_url="postgresql://u:pw@127.0.0.1:1/main", _env_file=None)
    main_db = create_main_database(settings)
    assert main_db is not None
    try:
        client = api_for(main_db)
        for url in PANELS:
            body = client.get(url).json()
            assert body["available"] is False, url
            assert body["reason"].startswith("cannot connect to the main database: "), body
        status = client.get("/api/main/status").json()
        assert status["configured"] is True and status["ok"] is False
    finally:
        main_db.dispose()


def test_missing_tables_hide_each_panel_with_a_note(
    api_for: Callable[[MainDatabase | None], TestClient],
    make_main: Callable[..., MainTarget],
    opened: Callable[..., MainDatabase],
) -> None:
    client = api_for(opened(make_main(omit=frozenset(NEEDS.values()) | {"commits"})))
    for url, table in NEEDS.items():
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.json()
        assert body["available"] is False, url
        assert body["reason"].startswith(f"table {table} not found in the main database"), url
    assert client.get("/api/main/status").json()["ok"] is True


def test_a_missing_column_a_filter_needs_hides_the_panel_with_a_note(
    api_for: Callable[[MainDatabase | None], TestClient],
    make_main: Callable[..., MainTarget],
    opened: Callable[..., MainDatabase],
) -> None:
    client = api_for(opened(make_main(tasks="project")))
    assert client.get("/api/main/tasks", params={"q": "Deploy"}).json()["available"] is True
    body = client.get("/api/main/roadchain/receipts", params={"kind": "usage"}).json()
    assert body["available"] is True
    target = make_main()
    run_admin(target, "ALTER TABLE users DROP COLUMN role")
    client = api_for(opened(target))
    assert client.get("/api/main/users", params={"role": "admin"}).json() == {
        "available": False,
        "reason": "column users.role not found in the main database",
    }
    unfiltered = client.get("/api/main/users").json()
    assert unfiltered["available"] is True
    assert {user["role"] for user in unfiltered["items"]} == {None}


def test_a_slow_table_degrades_only_its_panels_within_the_timeout(
    api_for: Callable[[MainDatabase | None], TestClient],
    make_main: Callable[..., MainTarget],
    opened: Callable[..., MainDatabase],
) -> None:
    target = make_main()
    make_table_slow(target, "users")
    main_db = opened(target, main_db_timeout_ms=300)
    client = api_for(main_db)
    for url in ("/api/main/users", "/api/main/users/1"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.json() == {
            "available": False,
            "reason": "the main database did not answer within 300 ms",
        }, url
    # The other panels of the same database keep answering. Their own deadline is not what
    # this test is about: a generous one, so a busy machine cannot make them late.
    # (PostgreSQL keeps the statement_timeout its connections were opened with.)
    main_db.timeout_ms = WAIT_MS
    assert client.get("/api/main/tasks").json()["available"] is True
    assert client.get("/api/main/roadchain").json()["available"] is True
    assert client.get("/api/agents").status_code == 200  # the console itself is unaffected


def test_a_hung_driver_call_answers_at_the_deadline(
    api_for: Callable[[MainDatabase | None], TestClient],
    main_target: MainTarget,
    opened: Callable[..., MainDatabase],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = api_for(opened(main_target, main_db_timeout_ms=200))
    release = threading.Event()
    original = MainDbReader.rows

    def hanging_rows(self: MainDbReader, statement: object) -> object:
        release.wait(WAIT)  # a network read that never returns
        return original(self, statement)  # type: ignore[arg-type]

    monkeypatch.setattr(MainDbReader, "rows", hanging_rows)
    try:
        body = client.get("/api/main/users").json()
    finally:
        release.set()
    assert body == {
        "available": False,
        "reason": "the main database did not answer within 200 ms",
    }
