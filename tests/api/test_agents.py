"""GET /api/agents and /api/agents/{id}: order, shown status, filters, sorts and keyset pages."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.timeutil import isoformat, utcnow
from tests.support.factories import add_agent, add_events

AGENT_KEYS = {"id", "name", "domain", "status", "memoryUsedMB", "lastSeenAt", "version"}


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def _walk(client: TestClient, params: dict[str, Any]) -> list[str]:
    """Every id of a paged list, following nextCursor to the end."""
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        extra = {"cursor": cursor} if cursor else {}
        page = client.get("/api/agents", params={**params, **extra}).json()
        seen.extend(item["id"] for item in page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination never ended")


def test_the_list_shows_the_most_recently_seen_first_and_never_seen_last(
    client: TestClient, db_session: Session
) -> None:
    now = utcnow()
    add_agent(db_session, "old", last_seen_at=now - timedelta(seconds=30))
    add_agent(db_session, "never-b", last_seen_at=None)
    add_agent(db_session, "new", last_seen_at=now)
    add_agent(db_session, "never-a", last_seen_at=None)
    add_agent(db_session, "tie-b", last_seen_at=now - timedelta(seconds=10))
    add_agent(db_session, "tie-a", last_seen_at=now - timedelta(seconds=10))
    response = client.get("/api/agents")
    assert _ids(response) == ["new", "tie-a", "tie-b", "old", "never-a", "never-b"]
    body = response.json()
    assert body["nextCursor"] is None
    assert set(body["items"][0]) == AGENT_KEYS


def test_agents_are_shown_with_the_exact_keys_and_utc_times(
    client: TestClient, db_session: Session
) -> None:
    seen = utcnow().replace(microsecond=0)
    add_agent(
        db_session,
        "agent-1",
        name="Ops Agent 1",
        domain="data",
        status="degraded",
        memory_used_mb=512.5,
        last_seen_at=seen,
        version="2.0.1",
    )
    item = client.get("/api/agents").json()["items"][0]
    assert item == {
        "id": "agent-1",
        "name": "Ops Agent 1",
        "domain": "data",
        "status": "degraded",
        "memoryUsedMB": 512.5,
        "lastSeenAt": isoformat(seen),
        "version": "2.0.1",
    }
    assert item["lastSeenAt"].endswith("Z")


def test_an_agent_silent_past_the_threshold_shows_offline(
    client: TestClient, db_session: Session
) -> None:
    now = utcnow()
    add_agent(db_session, "silent", status="online", last_seen_at=now - timedelta(seconds=301))
    add_agent(db_session, "fresh", status="degraded", last_seen_at=now)
    add_agent(db_session, "never", status="online", last_seen_at=None)
    statuses = {item["id"]: item["status"] for item in client.get("/api/agents").json()["items"]}
    assert statuses == {"silent": "offline", "fresh": "degraded", "never": "offline"}
    detail = client.get("/api/agents/silent").json()
    assert detail["agent"]["status"] == "offline"


def test_the_offline_threshold_comes_from_the_settings(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    strict = make_client(agent_offline_after=5)
    add_agent(db_session, "a", status="online", last_seen_at=utcnow() - timedelta(seconds=60))
    assert strict.get("/api/agents").json()["items"][0]["status"] == "offline"
    lenient = make_client(agent_offline_after=3600)
    assert lenient.get("/api/agents").json()["items"][0]["status"] == "online"


def test_the_status_filter_uses_the_shown_status(client: TestClient, db_session: Session) -> None:
    now = utcnow()
    add_agent(db_session, "up", status="online", last_seen_at=now)
    add_agent(db_session, "stale", status="online", last_seen_at=now - timedelta(hours=1))
    add_agent(db_session, "sick", status="degraded", last_seen_at=now)
    add_agent(db_session, "down", status="offline", last_seen_at=now)
    assert _ids(client.get("/api/agents", params={"status": "online"})) == ["up"]
    offline = client.get("/api/agents", params={"status": "offline", "sort": "id"})
    assert _ids(offline) == ["down", "stale"]
    assert _ids(client.get("/api/agents", params={"status": "degraded"})) == ["sick"]


def test_domain_and_search_filters(client: TestClient, db_session: Session) -> None:
    add_agent(db_session, "db-1", name="Postgres Watcher", domain="data")
    add_agent(db_session, "net-1", name="Edge Router", domain="infrastructure")
    add_agent(db_session, "net-2", name="Edge_Cache 100%", domain="infrastructure")
    by_domain = client.get("/api/agents", params={"domain": "infrastructure", "sort": "id"})
    assert _ids(by_domain) == ["net-1", "net-2"]
    assert _ids(client.get("/api/agents", params={"q": "POSTGRES"})) == ["db-1"]
    assert _ids(client.get("/api/agents", params={"q": "NET-", "sort": "-id"})) == [
        "net-2",
        "net-1",
    ]
    # LIKE wildcards in the search are literal characters.
    assert _ids(client.get("/api/agents", params={"q": "_cache 100%"})) == ["net-2"]
    assert _ids(client.get("/api/agents", params={"q": "%"})) == ["net-2"]


def test_sorts_by_name_id_domain_and_memory(client: TestClient, db_session: Session) -> None:
    add_agent(db_session, "a", name="Charlie", domain="ops", memory_used_mb=30)
    add_agent(db_session, "b", name="Alpha", domain="data", memory_used_mb=10)
    add_agent(db_session, "c", name="Bravo", domain="ops", memory_used_mb=20)
    assert _ids(client.get("/api/agents", params={"sort": "name"})) == ["b", "c", "a"]
    assert _ids(client.get("/api/agents", params={"sort": "-name"})) == ["a", "c", "b"]
    assert _ids(client.get("/api/agents", params={"sort": "-id"})) == ["c", "b", "a"]
    assert _ids(client.get("/api/agents", params={"sort": "domain"})) == ["b", "a", "c"]
    assert _ids(client.get("/api/agents", params={"sort": "-memoryUsedMB"})) == ["a", "c", "b"]


def test_an_unknown_sort_or_status_is_422_naming_the_parameter(client: TestClient) -> None:
    for params, name in (({"sort": "color"}, "sort"), ({"status": "sleepy"}, "status")):
        response = client.get("/api/agents", params=params)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", name]


@pytest.mark.parametrize(
    "sort",
    ["-lastSeenAt", "lastSeenAt", "name", "-name", "id", "-id", "domain", "-memoryUsedMB"],
)
def test_keyset_pages_cover_every_row_once_in_every_sort(
    client: TestClient, db_session: Session, sort: str
) -> None:
    now = utcnow()
    for index in range(11):
        add_agent(
            db_session,
            f"agent-{index:02d}",
            name=f"Name {index % 4}",  # duplicate names: ties are broken by id
            domain=("ops", "data")[index % 2],
            memory_used_mb=float(index % 3),
            last_seen_at=None if index % 5 == 0 else now - timedelta(seconds=index % 3),
        )
    everything = _ids(client.get("/api/agents", params={"sort": sort}))
    assert len(everything) == 11
    assert _walk(client, {"sort": sort, "limit": 3}) == everything


def test_a_page_carries_a_cursor_until_the_last_one(
    client: TestClient, db_session: Session
) -> None:
    for index in range(3):
        add_agent(db_session, f"a{index}")
    first = client.get("/api/agents", params={"limit": 2, "sort": "id"}).json()
    assert [item["id"] for item in first["items"]] == ["a0", "a1"]
    second = client.get(
        "/api/agents", params={"limit": 2, "sort": "id", "cursor": first["nextCursor"]}
    ).json()
    assert [item["id"] for item in second["items"]] == ["a2"]
    assert second["nextCursor"] is None


def test_a_cursor_of_another_sort_or_garbage_is_422(
    client: TestClient, db_session: Session
) -> None:
    for index in range(3):
        add_agent(db_session, f"a{index}")
    cursor = client.get("/api/agents", params={"limit": 1, "sort": "id"}).json()["nextCursor"]
    mismatched = client.get("/api/agents", params={"cursor": cursor, "sort": "name"})
    assert mismatched.status_code == 422
    assert mismatched.json()["detail"].startswith("cursor:")
    garbage = client.get("/api/agents", params={"cursor": "not-a-cursor!"})
    assert garbage.status_code == 422
    assert garbage.json()["detail"].startswith("cursor:")


def test_limit_is_bounded(client: TestClient) -> None:
    for limit in (0, 1001):
        response = client.get("/api/agents", params={"limit": limit})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_detail_has_the_ten_newest_events_newest_first(
    client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "agent-1")
    add_agent(db_session, "other")
    events = add_events(db_session, "agent-1", 12)
    add_events(db_session, "other", 3, start=utcnow())
    body = client.get("/api/agents/agent-1").json()
    assert body["agent"]["id"] == "agent-1"
    assert [event["id"] for event in body["recent"]] == [e.id for e in reversed(events)][:10]
    first = body["recent"][0]
    assert first == {
        "id": events[-1].id,
        "agentId": "agent-1",
        "kind": "heartbeat",
        "at": isoformat(events[-1].at),
        "message": "message 11",
    }


def test_an_unknown_agent_is_404_with_the_earlier_detail(client: TestClient) -> None:
    response = client.get("/api/agents/nobody")
    assert (response.status_code, response.json()) == (404, {"detail": "Agent not found"})


def test_reads_need_a_token_and_a_read_scope(
    anon_client: TestClient, token_for: Callable[[str], dict[str, str]], db_session: Session
) -> None:
    add_agent(db_session, "a")
    assert anon_client.get("/api/agents").status_code == 401
    assert anon_client.get("/api/agents/a").status_code == 401
    ingest = token_for("ingest")
    assert anon_client.get("/api/agents", headers=ingest).status_code == 403
    assert anon_client.get("/api/agents/a", headers=ingest).status_code == 403
    read = token_for("read")
    assert _ids(anon_client.get("/api/agents", headers=read)) == ["a"]
    assert anon_client.get("/api/agents/a", headers=read).status_code == 200
