"""The agent memory chart: heartbeats record memory, the series downsamples it."""

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.core.timeutil import utcnow
from app.models import AgentMemorySample
from tests.support.factories import make_agent

REGISTER = {"name": "Ops Agent 1", "domain": "ops", "memoryUsedMB": 512.0}


def test_heartbeats_with_memory_are_kept_as_a_series(
    client: TestClient, db_session: Session
) -> None:
    assert client.post("/api/agents/agent-1/heartbeat", json=REGISTER).status_code == 201
    client.post("/api/agents/agent-1/heartbeat", json={"memoryUsedMB": 640.5})
    client.post("/api/agents/agent-1/heartbeat", json={"status": "online"})  # no memory
    rows = db_session.exec(select(AgentMemorySample.memory_used_mb)).all()
    assert sorted(rows) == [512.0, 640.5]
    body = client.get("/api/agents/agent-1/memory").json()
    assert body["agentId"] == "agent-1"
    assert body["bucketSeconds"] is None
    assert body["series"]["memoryUsedMB"]["max"] == [512.0, 640.5]
    assert len(body["t"]) == 2


def test_a_long_series_is_downsampled_and_keeps_its_spike(
    client: TestClient, db_session: Session
) -> None:
    now = utcnow()
    db_session.add(make_agent("agent-2", name="A2", domain="ops", last_seen_at=now))
    db_session.commit()
    start = now - timedelta(hours=10)
    db_session.add_all(
        AgentMemorySample(
            agent_id="agent-2",
            recorded_at=start + timedelta(seconds=30 * i),
            memory_used_mb=9000.0 if i == 517 else 300.0,
        )
        for i in range(1200)
    )
    db_session.commit()
    body = client.get(
        "/api/agents/agent-2/memory",
        params={"since": int(start.timestamp()), "until": int(now.timestamp()) + 1, "points": 100},
    ).json()
    assert body["bucketSeconds"] is not None
    assert 0 < body["points"] <= 100
    assert max(body["series"]["memoryUsedMB"]["max"]) == 9000.0
    assert min(body["series"]["memoryUsedMB"]["min"]) == 300.0


def test_memory_of_an_unknown_agent_is_404(client: TestClient) -> None:
    response = client.get("/api/agents/nobody/memory")
    assert (response.status_code, response.json()) == (404, {"detail": "Agent not found"})


def test_an_inverted_window_is_422(client: TestClient, db_session: Session) -> None:
    db_session.add(make_agent("agent-3", name="A3", domain="ops"))
    db_session.commit()
    response = client.get(
        "/api/agents/agent-3/memory", params={"since": "2026-01-02", "until": "2026-01-01"}
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("since:")


def test_deleting_an_agent_deletes_its_memory_samples(
    client: TestClient, db_session: Session
) -> None:
    client.post("/api/agents/agent-1/heartbeat", json=REGISTER)
    assert client.delete("/api/agents/agent-1").status_code == 204
    count = db_session.exec(select(func.count()).select_from(AgentMemorySample)).one()
    assert count == 0
