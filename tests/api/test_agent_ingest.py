"""What agents send: heartbeats (with registration and status history) and events."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.core.timeutil import isoformat, utcnow
from app.models import Agent, AgentEvent, AgentStatusChange
from tests.support.factories import add_agent, count_rows, status_changes


@pytest.fixture
def published(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Messages the routes hand to the live broadcaster."""
    messages: list[dict[str, Any]] = []
    monkeypatch.setattr(app.state.broadcaster, "publish", messages.append)
    return messages


@pytest.fixture
def ingest(anon_client: TestClient, token_for: Callable[[str], dict[str, str]]) -> TestClient:
    """A client holding an ingest-scope token, as a deployed agent would."""
    anon_client.headers.update(token_for("ingest"))
    return anon_client


def _ingested(app: FastAPI, kind: str) -> float:
    value = app.state.metrics.registry.get_sample_value("prism_ingest_items_total", {"kind": kind})
    return value or 0.0


# --- heartbeats ----------------------------------------------------------------------------


def test_a_heartbeat_marks_the_agent_seen_now_with_the_fields_sent(
    ingest: TestClient, db_session: Session, app: FastAPI
) -> None:
    add_agent(db_session, "a", last_seen_at=utcnow() - timedelta(days=1), version="1.0.0")
    before = utcnow()
    counted = _ingested(app, "heartbeat")
    response = ingest.post("/api/agents/a/heartbeat", json={"memoryUsedMB": 300, "version": "1.1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["memoryUsedMB"], body["version"], body["status"]) == (300.0, "1.1", "online")
    db_session.expire_all()
    stored = db_session.get(Agent, "a")
    assert stored is not None and stored.last_seen_at is not None
    assert stored.last_seen_at >= before
    assert body["lastSeenAt"] == isoformat(stored.last_seen_at)
    assert _ingested(app, "heartbeat") == counted + 1


def test_a_heartbeat_may_have_no_body(ingest: TestClient, db_session: Session) -> None:
    seen = utcnow() - timedelta(minutes=10)
    add_agent(db_session, "a", last_seen_at=seen)
    response = ingest.post("/api/agents/a/heartbeat")
    assert response.status_code == 200, response.text
    db_session.expire_all()
    assert db_session.get(Agent, "a").last_seen_at > seen  # type: ignore[operator, union-attr]


def test_a_heartbeat_of_an_unknown_agent_without_name_and_domain_is_404(
    ingest: TestClient, db_session: Session
) -> None:
    response = ingest.post("/api/agents/ghost/heartbeat", json={"name": "Ghost"})
    assert (response.status_code, response.json()) == (404, {"detail": "Agent not found"})
    assert count_rows(db_session, Agent) == 0


def test_a_heartbeat_with_name_and_domain_registers_the_agent(
    ingest: TestClient, db_session: Session, published: list[dict[str, Any]]
) -> None:
    response = ingest.post(
        "/api/agents/new-1/heartbeat",
        json={"name": "New One", "domain": "security", "status": "degraded", "version": "0.9"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["id"], body["name"], body["domain"], body["status"], body["version"]) == (
        "new-1",
        "New One",
        "security",
        "degraded",
        "0.9",
    )
    assert status_changes(db_session, "new-1") == [(None, "degraded")]
    assert published == [
        {"type": "agent_status", "data": {"agentId": "new-1", "status": "degraded"}}
    ]
    again = ingest.post("/api/agents/new-1/heartbeat", json={"name": "New One", "domain": "x"})
    assert again.status_code == 200


def test_registration_refuses_an_unusable_id(ingest: TestClient, db_session: Session) -> None:
    response = ingest.post(
        "/api/agents/has space/heartbeat", json={"name": "Spacey", "domain": "ops"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "agent_id"]
    assert count_rows(db_session, Agent) == 0


def test_status_history_records_each_reported_change_only(
    ingest: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "a", status="online")
    for reported in ("online", "degraded", "degraded", None, "online", "offline"):
        body = {} if reported is None else {"status": reported}
        assert ingest.post("/api/agents/a/heartbeat", json=body).status_code == 200
    assert status_changes(db_session, "a") == [
        ("online", "degraded"),
        ("degraded", "online"),
        ("online", "offline"),
    ]


def test_the_stream_hears_when_the_shown_status_changes(
    ingest: TestClient, db_session: Session, published: list[dict[str, Any]]
) -> None:
    # Reported online but silent for an hour: shown offline, so this heartbeat brings it back.
    add_agent(db_session, "a", status="online", last_seen_at=utcnow() - timedelta(hours=1))
    ingest.post("/api/agents/a/heartbeat", json={})
    ingest.post("/api/agents/a/heartbeat", json={"status": "online", "memoryUsedMB": 5})
    ingest.post("/api/agents/a/heartbeat", json={"status": "degraded"})
    assert published == [
        {"type": "agent_status", "data": {"agentId": "a", "status": "online"}},
        {"type": "agent_status", "data": {"agentId": "a", "status": "degraded"}},
    ]
    # Coming back after silence is not a reported change: nothing recorded for it.
    assert status_changes(db_session, "a") == [("online", "degraded")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "asleep"}, "status"),
        ({"memoryUsedMB": -5}, "memoryUsedMB"),
        ({"name": None}, "name"),
        ({"domain": " "}, "domain"),
    ],
)
def test_a_bad_heartbeat_is_422_naming_the_field_and_writes_nothing(
    ingest: TestClient, db_session: Session, body: dict[str, Any], field: str
) -> None:
    seen = utcnow() - timedelta(minutes=1)
    add_agent(db_session, "a", last_seen_at=seen)
    response = ingest.post("/api/agents/a/heartbeat", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    db_session.expire_all()
    assert db_session.get(Agent, "a").last_seen_at == seen  # type: ignore[union-attr]
    assert count_rows(db_session, AgentStatusChange) == 0


def test_ingest_needs_the_ingest_scope(
    anon_client: TestClient, token_for: Callable[[str], dict[str, str]], db_session: Session
) -> None:
    add_agent(db_session, "a")
    event = {"kind": "started", "message": "boot"}
    assert anon_client.post("/api/agents/a/heartbeat", json={}).status_code == 401
    assert anon_client.post("/api/agents/a/events", json=event).status_code == 401
    read = token_for("read")
    assert anon_client.post("/api/agents/a/heartbeat", json={}, headers=read).status_code == 403
    assert anon_client.post("/api/agents/a/events", json=event, headers=read).status_code == 403
    assert count_rows(db_session, AgentEvent) == 0


# --- events --------------------------------------------------------------------------------


def test_one_event_is_accepted_with_its_generated_id(
    ingest: TestClient, db_session: Session, app: FastAPI, published: list[dict[str, Any]]
) -> None:
    add_agent(db_session, "a")
    counted = _ingested(app, "event")
    before = utcnow()
    response = ingest.post("/api/agents/a/events", json={"kind": "started", "message": "boot"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["status"], body["count"], len(body["ids"])) == ("accepted", 1, 1)
    db_session.expire_all()
    stored = db_session.get(AgentEvent, body["ids"][0])
    assert stored is not None
    assert (stored.agent_id, stored.kind, stored.message) == ("a", "started", "boot")
    assert stored.at >= before
    assert published == [
        {
            "type": "agent_event",
            "data": {
                "id": stored.id,
                "agentId": "a",
                "kind": "started",
                "at": isoformat(stored.at),
                "message": "boot",
            },
        }
    ]
    assert _ingested(app, "event") == counted + 1


def test_a_batch_is_stored_whole_with_the_times_given(
    ingest: TestClient, db_session: Session, app: FastAPI
) -> None:
    add_agent(db_session, "a")
    counted = _ingested(app, "event")
    events = [
        {"kind": "warn", "message": "disk 80%", "at": "2026-01-05T10:00:00+01:00"},
        {"kind": "error", "message": "disk full", "at": 1767607200},
        {"kind": "completed", "message": "cleaned"},
    ]
    response = ingest.post("/api/agents/a/events", json={"events": events})
    assert response.status_code == 202
    body = response.json()
    assert body["count"] == 3 and len(set(body["ids"])) == 3
    db_session.expire_all()
    rows = {row.id: row for row in db_session.exec(select(AgentEvent)).all()}
    first, second = rows[body["ids"][0]], rows[body["ids"][1]]
    assert isoformat(first.at) == "2026-01-05T09:00:00Z"
    assert isoformat(second.at) == "2026-01-05T10:00:00Z"
    assert _ingested(app, "event") == counted + 3


def test_one_bad_event_rejects_the_whole_batch(ingest: TestClient, db_session: Session) -> None:
    add_agent(db_session, "a")
    events = [{"kind": "warn", "message": "ok"}, {"kind": "explode", "message": "bad"}]
    response = ingest.post("/api/agents/a/events", json={"events": events})
    assert response.status_code == 422
    loc = response.json()["detail"][0]["loc"]
    assert loc[0] == "body" and loc[-3:] == ["events", 1, "kind"]
    assert count_rows(db_session, AgentEvent) == 0


def test_a_single_event_error_names_its_field(ingest: TestClient, db_session: Session) -> None:
    add_agent(db_session, "a")
    response = ingest.post("/api/agents/a/events", json={"kind": "warn", "at": "soon"})
    assert response.status_code == 422
    fields = {error["loc"][-1] for error in response.json()["detail"]}
    assert fields == {"message", "at"}
    assert count_rows(db_session, AgentEvent) == 0


def test_more_than_a_thousand_events_is_refused_naming_the_limit(
    ingest: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "a")
    events = [{"kind": "heartbeat", "message": str(index)} for index in range(1001)]
    response = ingest.post("/api/agents/a/events", json={"events": events})
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"][-1] == "events" and "1000" in error["msg"]
    assert count_rows(db_session, AgentEvent) == 0
    exactly = ingest.post("/api/agents/a/events", json={"events": events[:1000]})
    assert (exactly.status_code, exactly.json()["count"]) == (202, 1000)


def test_an_empty_batch_is_refused(ingest: TestClient) -> None:
    response = ingest.post("/api/agents/a/events", json={"events": []})
    assert response.status_code == 422


def test_events_of_an_unknown_agent_are_404(ingest: TestClient, db_session: Session) -> None:
    response = ingest.post("/api/agents/ghost/events", json={"kind": "started", "message": "x"})
    assert (response.status_code, response.json()) == (404, {"detail": "Agent not found"})
    assert count_rows(db_session, AgentEvent) == 0
