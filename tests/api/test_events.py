"""GET /api/events, /api/agents/{id}/events and /status-history: filters and keyset pages."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.timeutil import utcnow
from app.models import AgentStatusChange
from tests.support.factories import add_agent, add_events

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def _walk(client: TestClient, path: str, params: dict[str, Any]) -> list[Any]:
    items: list[Any] = []
    cursor = None
    for _ in range(100):
        extra = {"cursor": cursor} if cursor else {}
        page = client.get(path, params={**params, **extra}).json()
        items.extend(page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination never ended")


def test_events_are_listed_newest_first_across_agents(
    client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "a")
    add_agent(db_session, "b")
    a = add_events(db_session, "a", 2, start=T0, step=timedelta(minutes=2))
    b = add_events(db_session, "b", 2, start=T0 + timedelta(minutes=1), step=timedelta(minutes=2))
    response = client.get("/api/events")
    assert _ids(response) == [b[1].id, a[1].id, b[0].id, a[0].id]
    assert response.json()["nextCursor"] is None
    assert response.json()["items"][0] == {
        "id": b[1].id,
        "agentId": "b",
        "kind": "heartbeat",
        "at": "2026-01-05T10:03:00Z",
        "message": "message 1",
    }


def test_events_at_the_same_instant_are_ordered_by_id(
    client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "a")
    add_events(db_session, "a", 3, start=T0, step=timedelta(0))
    assert _ids(client.get("/api/events")) == ["ev-a-00002", "ev-a-00001", "ev-a-00000"]


def test_filter_by_agent_kind_and_time(client: TestClient, db_session: Session) -> None:
    add_agent(db_session, "a")
    add_agent(db_session, "b")
    add_events(db_session, "a", 4, start=T0, step=timedelta(hours=1), prefix="hb")
    add_events(db_session, "a", 1, start=T0, kind="error", prefix="err")
    add_events(db_session, "a", 1, start=T0, kind="warn", prefix="warn")
    add_events(db_session, "b", 2, start=T0, kind="error", prefix="err")
    assert len(_ids(client.get("/api/events", params={"agent": "b"}))) == 2
    errors_of_a = client.get("/api/events", params={"agent": "a", "kind": "error"})
    assert _ids(errors_of_a) == ["err-a-00000"]
    repeated = client.get("/api/events", params=[("kind", "error"), ("kind", "warn")])
    comma = client.get("/api/events", params={"kind": "error,warn"})
    assert sorted(_ids(repeated)) == sorted(_ids(comma))
    assert len(_ids(comma)) == 4
    # since is inclusive, until exclusive; every time form is accepted.
    window = client.get(
        "/api/events",
        params={"kind": "heartbeat", "since": "2026-01-05T11:00:00Z", "until": "2026-01-05T13:00"},
    )
    assert _ids(window) == ["hb-a-00002", "hb-a-00001"]
    offset = client.get(
        "/api/events", params={"kind": "heartbeat", "since": "2026-01-05T13:00:00+01:00"}
    )
    assert _ids(offset) == ["hb-a-00003", "hb-a-00002"]  # 13:00+01:00 is 12:00Z
    epoch = client.get("/api/events", params={"kind": "heartbeat", "until": T0.timestamp() + 1})
    assert _ids(epoch) == ["hb-a-00000"]
    assert _ids(client.get("/api/events", params={"agent": "nobody"})) == []


@pytest.mark.parametrize("name", ["since", "until"])
def test_a_bad_time_is_422_naming_the_parameter(client: TestClient, name: str) -> None:
    response = client.get("/api/events", params={name: "next tuesday"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", name]


def test_an_inverted_range_and_an_unknown_kind_are_422(client: TestClient) -> None:
    inverted = client.get(
        "/api/events", params={"since": "2026-01-06", "until": "2026-01-05T00:00:00Z"}
    )
    assert (inverted.status_code, inverted.json()) == (
        422,
        {"detail": "until: must be later than since"},
    )
    unknown = client.get("/api/events", params={"kind": "warn,panic"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"].startswith("kind: 'panic'")


def test_pages_cover_every_event_once(client: TestClient, db_session: Session) -> None:
    add_agent(db_session, "a")
    add_agent(db_session, "b")
    add_events(db_session, "a", 15, start=T0, step=timedelta(seconds=1))
    add_events(db_session, "b", 10, start=T0, step=timedelta(seconds=2))  # ties with a
    everything = _ids(client.get("/api/events"))
    assert len(everything) == 25
    assert [item["id"] for item in _walk(client, "/api/events", {"limit": 4})] == everything


def test_pages_stay_stable_while_newer_events_arrive(
    client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "a")
    add_events(db_session, "a", 6, start=T0)
    first = client.get("/api/events", params={"limit": 3}).json()
    add_events(db_session, "a", 5, start=T0 + timedelta(hours=1), prefix="late")
    second = client.get("/api/events", params={"limit": 3, "cursor": first["nextCursor"]}).json()
    seen = [item["id"] for item in first["items"] + second["items"]]
    assert seen == [f"ev-a-{index:05d}" for index in range(5, -1, -1)]
    assert second["nextCursor"] is None


def test_a_garbage_cursor_is_422(client: TestClient) -> None:
    response = client.get("/api/events", params={"cursor": "bm9wZQ"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("cursor:")


def test_the_default_page_is_a_hundred_events(client: TestClient, db_session: Session) -> None:
    add_agent(db_session, "a")
    add_events(db_session, "a", 101, start=T0)
    body = client.get("/api/events").json()
    assert len(body["items"]) == 100 and body["nextCursor"] is not None


def test_one_agents_events_page_by_page(client: TestClient, db_session: Session) -> None:
    add_agent(db_session, "a")
    add_agent(db_session, "b")
    add_events(db_session, "a", 7, start=T0)
    add_events(db_session, "b", 3, start=T0)
    items = _walk(client, "/api/agents/a/events", {"limit": 3})
    assert [item["id"] for item in items] == [f"ev-a-{index:05d}" for index in range(6, -1, -1)]
    only_warn = client.get("/api/agents/a/events", params={"kind": "warn"})
    assert _ids(only_warn) == []
    missing = client.get("/api/agents/ghost/events")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Agent not found"})


def test_status_history_is_paged_newest_first(client: TestClient, db_session: Session) -> None:
    add_agent(db_session, "a")
    statuses = ["online", "degraded", "offline", "online", "degraded"]
    db_session.add_all(
        AgentStatusChange(
            agent_id="a",
            from_status=statuses[index - 1] if index else None,
            to_status=status,
            at=T0 + timedelta(minutes=index // 2),  # pairs share an instant
        )
        for index, status in enumerate(statuses)
    )
    db_session.commit()
    items = _walk(client, "/api/agents/a/status-history", {"limit": 2})
    assert [(item["fromStatus"], item["toStatus"]) for item in items] == [
        ("online", "degraded"),
        ("offline", "online"),
        ("degraded", "offline"),
        ("online", "degraded"),
        (None, "online"),
    ]
    assert items[0] == {
        "agentId": "a",
        "fromStatus": "online",
        "toStatus": "degraded",
        "at": "2026-01-05T10:02:00Z",
    }
    missing = client.get("/api/agents/ghost/status-history")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Agent not found"})


def test_heartbeats_feed_the_status_history(client: TestClient, db_session: Session) -> None:
    client.post("/api/agents/n/heartbeat", json={"name": "N", "domain": "ops"})
    client.post("/api/agents/n/heartbeat", json={"status": "degraded"})
    items = client.get("/api/agents/n/status-history").json()["items"]
    assert [(item["fromStatus"], item["toStatus"]) for item in items] == [
        ("online", "degraded"),
        (None, "online"),
    ]
    assert all(item["at"].endswith("Z") for item in items)


def test_event_reads_need_the_read_scope(
    anon_client: TestClient, token_for: Callable[[str], dict[str, str]], db_session: Session
) -> None:
    add_agent(db_session, "a", last_seen_at=utcnow())
    paths = ["/api/events", "/api/agents/a/events", "/api/agents/a/status-history"]
    for path in paths:
        assert anon_client.get(path).status_code == 401
        assert anon_client.get(path, headers=token_for("ingest")).status_code == 403
        assert anon_client.get(path, headers=token_for("read")).status_code == 200
