"""Fleet reconciliation (console ⋈ main agents) and the main agent_logs of one agent."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.timeutil import utcnow
from app.maindb import MainDatabase
from tests.support.factories import make_agent
from tests.support.maindb_fixtures import MainTarget


def _console_agent(session: Session, agent_id: str, status: str = "online", **extra: Any) -> None:
    session.add(
        make_agent(
            agent_id,
            name=f"Console {agent_id}",
            domain="ops",
            status=status,
            last_seen_at=extra.get("last_seen_at", utcnow()),
        )
    )
    session.commit()


@pytest.fixture
def fleet(console_session: Session, api: TestClient) -> TestClient:
    """Console agents against the seeded main agents 1 agent-1 active, 2 agent-2 error,
    3 main-only idle, 7 seven offline."""
    _console_agent(console_session, "agent-1")  # slug match, active → online: agree
    _console_agent(console_session, "agent-2")  # slug match, error → degraded: disagree
    _console_agent(console_session, "7", "degraded")  # id match, offline: disagree
    _console_agent(console_session, "seven")  # slug of main 7, already matched by id
    _console_agent(
        console_session, "console-only", last_seen_at=utcnow() - timedelta(days=1)
    )  # shown offline
    return api


def _walk(client: TestClient, url: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        body = client.get(url, params={**params, **({"cursor": cursor} if cursor else {})}).json()
        assert body["available"] is True, body
        items.extend(body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination never ended")


def test_reconciliation_matches_by_id_then_slug_and_counts_each_category(fleet: TestClient) -> None:
    body = fleet.get("/api/main/reconciliation").json()
    assert body["available"] is True
    assert body["counts"] == {
        "inBoth": 3,
        "consoleOnly": 2,
        "mainOnly": 1,
        "statusDisagreements": 2,
        "consoleTotal": 5,
        "mainTotal": 4,
    }
    rows = {(row["consoleId"], row["mainId"]): row for row in body["items"]}
    assert rows[("agent-1", 1)]["matchedBy"] == "slug"
    assert rows[("agent-1", 1)]["statusDisagrees"] is False
    assert rows[("agent-1", 1)]["mainStatusMapped"] == "online"
    assert rows[("agent-1", 1)]["mainLocation"] == "eu-west"
    assert rows[("7", 7)]["matchedBy"] == "id"
    assert rows[("7", 7)]["consoleStatus"] == "degraded"
    assert rows[("7", 7)]["mainStatus"] == "offline"
    assert rows[("7", 7)]["statusDisagrees"] is True
    assert rows[("seven", None)]["category"] == "console_only"
    assert rows[("console-only", None)]["consoleStatus"] == "offline"
    assert rows[(None, 3)]["category"] == "main_only"
    assert rows[(None, 3)]["mainSlug"] == "main-only"
    assert body["hasLocation"] is True
    assert body["statusMap"]["error"] == "degraded"


def test_reconciliation_pages_by_key_and_filters_by_category_and_disagreement(
    fleet: TestClient,
) -> None:
    everything = _walk(fleet, "/api/main/reconciliation", limit=2)
    keys = [row["consoleId"] or row["mainSlug"] for row in everything]
    assert keys == ["7", "agent-1", "agent-2", "console-only", "main-only", "seven"]
    main_only = fleet.get("/api/main/reconciliation", params={"category": "main_only"}).json()
    assert [row["mainId"] for row in main_only["items"]] == [3]
    assert main_only["counts"]["inBoth"] == 3  # counts always cover everything
    disagreeing = fleet.get("/api/main/reconciliation", params={"disagreeing": True}).json()
    assert sorted(row["consoleId"] for row in disagreeing["items"]) == ["7", "agent-2"]


def test_reconciliation_without_a_location_column_shows_no_location(
    api_for: Callable[[MainDatabase | None], TestClient],
    make_main: Callable[..., MainTarget],
    opened: Callable[..., MainDatabase],
) -> None:
    client = api_for(opened(make_main(location=False)))
    body = client.get("/api/main/reconciliation").json()
    assert body["available"] is True
    assert body["hasLocation"] is False
    assert body["counts"]["mainOnly"] == 4
    assert {row["mainLocation"] for row in body["items"]} == {None}


def test_reconciliation_refuses_a_foreign_cursor(fleet: TestClient) -> None:
    response = fleet.get("/api/main/reconciliation", params={"cursor": "WzFd"})
    assert response.status_code == 422
    assert response.json() == {"detail": "cursor: not a cursor returned by this API"}


def test_agent_logs_match_the_slug_and_come_newest_first_with_secrets_redacted(
    api: TestClient,
) -> None:
    body = api.get("/api/main/agents/agent-1/logs").json()
    assert body["available"] is True
    assert body["matchedBy"] == "slug"
    assert body["agent"] == {
        "id": 1,
        "slug": "agent-1",
        "name": "Main Agent 1",
        "status": "active",
        "heartbeatAt": "2026-01-05T10:00:00Z",
        "location": "eu-west",
    }
    assert [log["id"] for log in body["items"]] == [5, 4, 3, 2, 1]
    assert body["items"][1] == {
        "id": 4,
        "level": "error",
        "message": "crash",
        "meta": {"code": 500},
        "createdAt": "2026-01-05T10:04:00Z",
    }
    assert body["items"][3]["meta"] == {"step": 2, "token": "[redacted]"}


def test_agent_logs_page_and_filter_by_level_and_time(api: TestClient) -> None:
    url = "/api/main/agents/agent-1/logs"
    assert [log["id"] for log in _walk(api, url, limit=2)] == [5, 4, 3, 2, 1]
    errors = api.get(url, params={"level": "error"}).json()
    assert [log["id"] for log in errors["items"]] == [4]
    window = api.get(
        url, params={"since": "2026-01-05T10:02:00Z", "until": "2026-01-05T11:04:00+01:00"}
    ).json()
    assert [log["id"] for log in window["items"]] == [3, 2]


def test_agent_logs_match_a_numeric_console_id_by_main_id(api: TestClient) -> None:
    body = api.get("/api/main/agents/7/logs").json()
    assert body["matchedBy"] == "id"
    assert body["agent"]["slug"] == "seven"
    assert body["items"] == []
    assert body["nextCursor"] is None


def test_agent_logs_of_an_agent_the_main_database_does_not_know_are_404(api: TestClient) -> None:
    response = api.get("/api/main/agents/nobody/logs")
    assert response.status_code == 404
    assert response.json() == {"detail": "Agent not found in the main database"}


def test_agent_logs_refuse_an_empty_time_window(api: TestClient) -> None:
    response = api.get(
        "/api/main/agents/agent-1/logs",
        params={"since": "2026-01-05T10:00:00Z", "until": "2026-01-05T10:00:00Z"},
    )
    assert response.status_code == 422
    assert response.json() == {"detail": "until: must be later than since"}
