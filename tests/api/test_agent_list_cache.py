"""GET /api/agents answers from a short cache: writes through this process drop it at once,
writes from elsewhere show within PRISM_READ_CACHE_SECONDS (app/core/read_cache.py)."""

from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.core import read_cache
from app.core.db import create_db_engine, parse_database_url
from tests.support.waits import wait_until


@pytest.fixture
def other_process_engine(engine: Engine) -> Iterator[Engine]:
    """Another engine on the same database: what another worker, replica or script writes."""
    url = engine.url.render_as_string(hide_password=False)
    other = create_db_engine(parse_database_url(url))
    yield other
    other.dispose()


def _statuses(client: TestClient) -> dict[str, str]:
    response = client.get("/api/agents")
    assert response.status_code == 200, response.text
    return {item["id"]: item["status"] for item in response.json()["items"]}


def _register(client: TestClient, agent_id: str) -> None:
    heartbeat = {"name": agent_id, "domain": "ops", "status": "online"}
    assert client.post(f"/api/agents/{agent_id}/heartbeat", json=heartbeat).status_code == 201


def test_a_heartbeat_shows_in_the_very_next_list(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(read_cache_seconds=60)
    _register(client, "agent-1")
    assert _statuses(client) == {"agent-1": "online"}
    degraded = client.post("/api/agents/agent-1/heartbeat", json={"status": "degraded"})
    assert degraded.status_code == 200
    assert _statuses(client) == {"agent-1": "degraded"}


def test_admin_writes_show_in_the_very_next_list(make_client: Callable[..., TestClient]) -> None:
    client = make_client(read_cache_seconds=60)
    _register(client, "agent-1")
    assert client.get("/api/agents").json()["items"][0]["name"] == "agent-1"
    assert client.patch("/api/agents/agent-1", json={"name": "Renamed"}).status_code == 200
    assert client.get("/api/agents").json()["items"][0]["name"] == "Renamed"
    assert client.delete("/api/agents/agent-1").status_code == 204
    assert client.get("/api/agents").json()["items"] == []


def test_a_write_from_another_process_shows_once_the_cache_time_passes(
    make_client: Callable[..., TestClient],
    other_process_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The cache's clock is the test's: the cache time passes when the test says so, not
    # sooner because the machine is busy.
    now = [1000.0]
    monkeypatch.setattr(read_cache, "time", SimpleNamespace(monotonic=lambda: now[0]))
    client = make_client(read_cache_seconds=60)
    _register(client, "agent-1")
    assert _statuses(client) == {"agent-1": "online"}
    with other_process_engine.begin() as conn:
        conn.execute(text("UPDATE agent SET status = 'degraded'"))
    # This process did not see the write: the answer it rendered stands until its time is up.
    now[0] += 59
    assert _statuses(client) == {"agent-1": "online"}
    now[0] += 2
    # Past it, the old answer is handed out once more while the new one renders.
    assert _statuses(client) == {"agent-1": "online"}
    wait_until(lambda: _statuses(client) == {"agent-1": "degraded"}, "the list rendered again")


def test_with_no_cache_time_every_list_reads_the_database(
    make_client: Callable[..., TestClient], other_process_engine: Engine
) -> None:
    client = make_client(read_cache_seconds=0)
    _register(client, "agent-1")
    assert _statuses(client) == {"agent-1": "online"}
    with other_process_engine.begin() as conn:
        conn.execute(text("UPDATE agent SET status = 'degraded'"))
    assert _statuses(client) == {"agent-1": "degraded"}


def test_each_filter_sort_and_page_has_its_own_answer(client: TestClient) -> None:
    for agent_id in ("agent-a", "agent-b"):
        _register(client, agent_id)
    by_id = client.get("/api/agents", params={"sort": "id"}).json()["items"]
    by_id_desc = client.get("/api/agents", params={"sort": "-id"}).json()["items"]
    assert [item["id"] for item in by_id] == ["agent-a", "agent-b"]
    assert [item["id"] for item in by_id_desc] == ["agent-b", "agent-a"]
    first = client.get("/api/agents", params={"sort": "id", "limit": 1}).json()
    second = client.get(
        "/api/agents", params={"sort": "id", "limit": 1, "cursor": first["nextCursor"]}
    ).json()
    assert [first["items"][0]["id"], second["items"][0]["id"]] == ["agent-a", "agent-b"]
    assert client.get("/api/agents", params={"q": "agent-b"}).json()["items"][0]["id"] == "agent-b"
