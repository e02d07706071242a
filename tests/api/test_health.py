"""Probes on a healthy console database: /livez, /healthz, /readyz, /api/health, /health."""

import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app import __version__
from app.core.timeutil import parse_datetime
from app.maindb import create_main_database
from tests.support.waits import WAIT_MS

CHECK_NAMES = {"consoleDb:responseTime", "mainDb:responseTime", "migrations:head", "uptime"}


def test_livez_answers_ok_without_a_token(anon_client: TestClient) -> None:
    for path in ("/livez", "/healthz"):
        response = anon_client.get(path)
        assert response.status_code == 200, path
        assert response.text.strip() == "ok"
        assert response.headers["content-type"].startswith("text/plain")


def test_livez_verbose_lists_its_check(anon_client: TestClient) -> None:
    response = anon_client.get("/livez?verbose")
    assert response.text.splitlines() == ["[+]ping ok", "livez check passed"]


def test_readyz_is_ok_on_a_migrated_database(anon_client: TestClient) -> None:
    response = anon_client.get("/readyz")
    assert response.status_code == 200
    assert response.text.strip() == "ok"


def test_readyz_verbose_lists_each_check_kubernetes_style(anon_client: TestClient) -> None:
    for query in ("?verbose", "?verbose=1", "?verbose="):
        response = anon_client.get("/readyz" + query)
        assert response.status_code == 200
        lines = response.text.splitlines()
        assert lines[0] == "[+]consoleDb ok"
        assert lines[1] == "[+]migrations ok"
        assert lines[2] == "[+]mainDb ok (warning: not configured)"
        assert lines[-1] == "readyz check passed"


def test_api_health_is_health_json_that_passes(anon_client: TestClient, app: FastAPI) -> None:
    response = anon_client.get("/api/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/health+json"
    body = response.json()
    assert body["status"] == "pass"
    assert body["version"] == __version__
    assert body["releaseId"] == __version__
    assert body["serviceId"] == "prism-console"
    assert body["description"]
    assert set(body["checks"]) == CHECK_NAMES
    for entries in body["checks"].values():
        assert len(entries) == 1
        assert isinstance(parse_datetime(entries[0]["time"]), datetime)
        assert entries[0]["time"].endswith("Z")

    [console] = body["checks"]["consoleDb:responseTime"]
    assert console["componentType"] == "datastore"
    assert console["status"] == "pass"
    assert console["observedUnit"] == "ms"
    assert isinstance(console["observedValue"], int | float)
    assert console["observedValue"] >= 0
    assert "output" not in console

    [migrations] = body["checks"]["migrations:head"]
    assert migrations["status"] == "pass"
    assert migrations["observedValue"] == app.state.head_revision

    [main] = body["checks"]["mainDb:responseTime"]
    assert main["status"] == "warn"
    assert main["output"] == "not configured"

    [uptime] = body["checks"]["uptime"]
    assert uptime["observedUnit"] == "s"
    assert uptime["observedValue"] >= 0


def test_health_keeps_the_earlier_keys_with_real_values(anon_client: TestClient) -> None:
    response = anon_client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["db"] == "connected"
    assert body["mocks"] is False
    assert body["version"] == __version__
    assert isinstance(body["uptime"], int | float)
    assert body["uptime"] >= 0
    assert set(body["checks"]) == CHECK_NAMES
    assert body["checks"]["consoleDb:responseTime"][0]["status"] == "pass"


def test_probe_answers_are_never_cached(anon_client: TestClient) -> None:
    for path in ("/livez", "/readyz", "/health", "/api/health", "/metrics"):
        assert anon_client.get(path).headers["cache-control"] == "no-store", path


def test_a_configured_main_database_that_is_down_degrades_but_stays_ready(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(main_db_url="sqlite:////nonexistent-prism-dir/main.db")

    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["db"] == "connected"

    api = client.get("/api/health")
    assert api.status_code == 200
    assert api.json()["status"] == "warn"
    [main] = api.json()["checks"]["mainDb:responseTime"]
    assert main["status"] == "warn"
    assert main["output"] != "not configured"

    ready = client.get("/readyz?verbose")
    assert ready.status_code == 200
    assert any(line.startswith("[+]mainDb ok (warning: ") for line in ready.text.splitlines())
    assert ready.text.splitlines()[-1] == "readyz check passed"


def test_a_reachable_main_database_passes_its_check(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    main_path = tmp_path / "main.db"
    sqlite3.connect(main_path).close()
    # The main database's own deadline has its tests (tests/maindb): a generous one here.
    client = make_client(main_db_url=f"sqlite:///{main_path}", main_db_timeout_ms=WAIT_MS)
    app: FastAPI = client.app  # type: ignore[assignment]
    previous = getattr(app.state, "main_db", None)
    app.state.main_db = create_main_database(app.state.settings)
    try:
        [main] = client.get("/api/health").json()["checks"]["mainDb:responseTime"]
        assert main["status"] == "pass"
        assert main["observedUnit"] == "ms"
        assert main["observedValue"] >= 0
        assert client.get("/health").json()["status"] == "ok"
        assert "[+]mainDb ok" in client.get("/readyz?verbose").text.splitlines()
    finally:
        app.state.main_db.dispose()
        app.state.main_db = previous


def test_an_unreachable_main_database_only_warns(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client(main_db_url=f"sqlite:///{tmp_path / 'missing' / 'main.db'}")
    app: FastAPI = client.app  # type: ignore[assignment]
    previous = getattr(app.state, "main_db", None)
    app.state.main_db = create_main_database(app.state.settings)
    try:
        api = client.get("/api/health")
        assert api.status_code == 200
        assert api.json()["status"] == "warn"
        [main] = api.json()["checks"]["mainDb:responseTime"]
        assert main["status"] == "warn"
        assert main["output"]
        assert client.get("/health").json()["status"] == "degraded"
        assert client.get("/readyz").status_code == 200
    finally:
        app.state.main_db.dispose()
        app.state.main_db = previous
