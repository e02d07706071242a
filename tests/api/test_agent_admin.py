"""Admin CRUD of agents: create, update, delete; validation writes nothing."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models import Agent, AgentEvent, AgentStatusChange
from tests.support.factories import add_agent, add_events, count_rows, status_changes

NEW_AGENT = {"id": "agent-9", "name": "Ops Agent 9", "domain": "ops"}


@pytest.fixture
def published(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Messages the routes hand to the live broadcaster (but the audit log's own, which
    every admin change also announces: tests/api/test_audit_live.py)."""
    messages: list[dict[str, Any]] = []

    def record(message: dict[str, Any]) -> None:
        if message.get("type") != "audit":
            messages.append(message)

    monkeypatch.setattr(app.state.broadcaster, "publish", record)
    return messages


def test_an_admin_registers_an_agent(
    client: TestClient, db_session: Session, published: list[dict[str, Any]]
) -> None:
    body = {
        **NEW_AGENT,
        "status": "degraded",
        "memoryUsedMB": 256,
        "lastSeenAt": "2030-01-01T00:00:00+02:00",
        "version": "3.1",
    }
    response = client.post("/api/agents", json=body)
    assert response.status_code == 201, response.text
    assert response.json() == {
        "id": "agent-9",
        "name": "Ops Agent 9",
        "domain": "ops",
        "status": "degraded",
        "memoryUsedMB": 256.0,
        "lastSeenAt": "2029-12-31T22:00:00Z",
        "version": "3.1",
    }
    assert client.get("/api/agents/agent-9").json()["agent"] == response.json()
    assert status_changes(db_session, "agent-9") == [(None, "degraded")]
    assert published == [
        {"type": "agent_status", "data": {"agentId": "agent-9", "status": "degraded"}}
    ]


def test_a_new_agent_never_seen_shows_offline(client: TestClient) -> None:
    response = client.post("/api/agents", json=NEW_AGENT)
    assert response.status_code == 201
    assert response.json()["status"] == "offline"
    assert response.json()["lastSeenAt"] is None


def test_a_duplicate_id_is_409_and_changes_nothing(client: TestClient, db_session: Session) -> None:
    add_agent(db_session, "agent-9", name="Original")
    response = client.post("/api/agents", json=NEW_AGENT)
    assert response.status_code == 409
    assert response.json() == {"detail": "Agent 'agent-9' already exists"}
    db_session.expire_all()
    assert db_session.get(Agent, "agent-9").name == "Original"  # type: ignore[union-attr]
    assert count_rows(db_session, AgentStatusChange) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": ""}, "id"),
        ({"id": "has space"}, "id"),
        ({"id": "tab\there"}, "id"),
        ({"id": "a/b"}, "id"),
        ({"id": "x" * 129}, "id"),
        ({"name": "   "}, "name"),
        ({"domain": ""}, "domain"),
        ({"status": "sleepy"}, "status"),
        ({"memoryUsedMB": -1}, "memoryUsedMB"),
        ({"memoryUsedMB": "lots"}, "memoryUsedMB"),
        ({"lastSeenAt": "yesterday"}, "lastSeenAt"),
        ({"version": "v" * 65}, "version"),
    ],
)
def test_invalid_fields_are_422_naming_the_field_and_write_nothing(
    client: TestClient, db_session: Session, changes: dict[str, Any], field: str
) -> None:
    response = client.post("/api/agents", json={**NEW_AGENT, **changes})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert count_rows(db_session, Agent) == 0
    assert count_rows(db_session, AgentStatusChange) == 0


def test_a_non_finite_memory_figure_is_refused(client: TestClient, db_session: Session) -> None:
    # Python's JSON decoder reads the NaN and Infinity tokens some clients emit.
    for token in ("NaN", "Infinity"):
        raw = '{"id": "a", "name": "A", "domain": "ops", "memoryUsedMB": ' + token + "}"
        response = client.post(
            "/api/agents", content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "memoryUsedMB"]
    assert count_rows(db_session, Agent) == 0


def test_a_partial_update_changes_only_the_fields_sent(
    client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "a", name="Before", domain="ops", version="1.0.0", memory_used_mb=10)
    response = client.patch("/api/agents/a", json={"name": "After", "memoryUsedMB": 20.5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["memoryUsedMB"], body["domain"], body["version"]) == (
        "After",
        20.5,
        "ops",
        "1.0.0",
    )
    assert client.put("/api/agents/a", json={"version": "2.0"}).json()["version"] == "2.0"
    db_session.expire_all()
    stored = db_session.get(Agent, "a")
    assert stored is not None
    assert (stored.name, stored.version, stored.memory_used_mb) == ("After", "2.0", 20.5)


def test_a_status_update_is_recorded_in_the_history_and_published(
    client: TestClient, db_session: Session, published: list[dict[str, Any]]
) -> None:
    add_agent(db_session, "a", status="online")
    client.patch("/api/agents/a", json={"name": "Renamed"})
    assert status_changes(db_session, "a") == []
    assert published == []
    response = client.patch("/api/agents/a", json={"status": "degraded"})
    assert response.json()["status"] == "degraded"
    assert status_changes(db_session, "a") == [("online", "degraded")]
    assert published == [{"type": "agent_status", "data": {"agentId": "a", "status": "degraded"}}]


def test_null_is_refused_for_required_fields(client: TestClient, db_session: Session) -> None:
    add_agent(db_session, "a", name="Keep")
    response = client.patch("/api/agents/a", json={"name": None})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]
    db_session.expire_all()
    assert db_session.get(Agent, "a").name == "Keep"  # type: ignore[union-attr]


def test_an_update_with_one_bad_field_writes_nothing(
    client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "a", name="Keep", status="online")
    response = client.patch("/api/agents/a", json={"name": "New", "status": "broken"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "status"]
    db_session.expire_all()
    assert db_session.get(Agent, "a").name == "Keep"  # type: ignore[union-attr]
    assert status_changes(db_session, "a") == []


def test_updating_or_deleting_an_unknown_agent_is_404(client: TestClient) -> None:
    for method in ("PATCH", "PUT"):
        response = client.request(method, "/api/agents/nobody", json={"name": "x"})
        assert (response.status_code, response.json()) == (404, {"detail": "Agent not found"})
    response = client.delete("/api/agents/nobody")
    assert (response.status_code, response.json()) == (404, {"detail": "Agent not found"})


def test_deleting_an_agent_removes_its_events_and_history(
    client: TestClient, db_session: Session
) -> None:
    client.post("/api/agents", json={**NEW_AGENT, "id": "gone"})
    client.patch("/api/agents/gone", json={"status": "degraded"})
    add_events(db_session, "gone", 3)
    add_agent(db_session, "kept")
    add_events(db_session, "kept", 2)
    response = client.delete("/api/agents/gone")
    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/api/agents/gone").status_code == 404
    assert count_rows(db_session, Agent) == 1
    assert count_rows(db_session, AgentEvent) == 2
    assert count_rows(db_session, AgentStatusChange) == 0


def test_admin_routes_need_the_admin_scope(
    anon_client: TestClient, token_for: Callable[[str], dict[str, str]], db_session: Session
) -> None:
    add_agent(db_session, "a")
    for scope in ("read", "ingest"):
        headers = token_for(scope)
        calls = [
            anon_client.post("/api/agents", json=NEW_AGENT, headers=headers),
            anon_client.patch("/api/agents/a", json={"name": "x"}, headers=headers),
            anon_client.put("/api/agents/a", json={"name": "x"}, headers=headers),
            anon_client.delete("/api/agents/a", headers=headers),
        ]
        assert [call.status_code for call in calls] == [403] * 4, scope
    assert anon_client.post("/api/agents", json=NEW_AGENT).status_code == 401
    assert count_rows(db_session, Agent) == 1
    db_session.expire_all()
    assert db_session.get(Agent, "a").name == "Agent a"  # type: ignore[union-attr]
