"""Pins the public surface existing clients depend on (SPEC §5.1, Appendix A): exact keys.

If one of these fails, an existing client breaks: change the code, not the test.
"""

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.timeutil import utcnow
from app.models import AgentEvent, Metric, Runbook
from tests.support.factories import make_agent

AGENT_KEYS = {"id", "name", "domain", "status", "memoryUsedMB", "lastSeenAt", "version"}
EVENT_KEYS = {"id", "agentId", "kind", "at", "message"}
RUNBOOK_KEYS = {"id", "title", "description", "tags", "inputsSchema", "linkedWorkflow"}
SAMPLE_KEYS = {
    "miner_id",
    "recorded_at",
    "pool",
    "profile",
    "hashrate_1m",
    "hashrate_15m",
    "effective_hashrate",
    "stale_rate",
    "shares_accepted",
    "shares_rejected",
    "shares_stale",
    "latency_ms",
    "temperature_c",
    "last_share_difficulty",
    "last_share_at",
}
TILE_KEYS_IN_ORDER = ["id", "label", "value", "helper", "intent"]


def _arrange(session: Session) -> None:
    now = utcnow()
    session.add(
        make_agent(
            "agent-1",
            name="Ops Agent 1",
            domain="ops",
            status="online",
            memory_used_mb=512.5,
            last_seen_at=now,
            version="1.2.3",
        )
    )
    session.add(
        Runbook(
            id="runbook-1",
            title="Operational Task 1",
            description="Restart a service",
            tags=["ops", "standard"],
            inputs_schema={
                "type": "object",
                "required": ["service"],
                "properties": {"service": {"type": "string"}, "window": {"type": "string"}},
            },
            linked_workflow="roadglitch.workflow.1",
        )
    )
    session.add(
        Metric(
            metric_id="uptime",
            title="Platform Uptime",
            value="99.95%",
            caption="Last 24h",
            icon="activity",
            status="good",
        )
    )
    session.commit()
    session.add(
        AgentEvent(
            id="ev-1",
            agent_id="agent-1",
            kind="started",
            at=now - timedelta(minutes=1),
            message="boot",
        )
    )
    session.commit()


def test_agents_list_and_detail_keep_their_keys(client: TestClient, db_session: Session) -> None:
    _arrange(db_session)
    listing = client.get("/api/agents").json()
    assert set(listing) <= {"items", "nextCursor"} and "items" in listing
    assert set(listing["items"][0]) == AGENT_KEYS
    assert listing["items"][0]["lastSeenAt"].endswith("Z")
    detail = client.get("/api/agents/agent-1").json()
    assert set(detail) == {"agent", "recent"}
    assert set(detail["agent"]) == AGENT_KEYS
    assert set(detail["recent"][0]) == EVENT_KEYS
    assert detail["recent"][0]["at"].endswith("Z")
    missing = client.get("/api/agents/nobody")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Agent not found"})


def test_runbooks_keep_their_keys(client: TestClient, db_session: Session) -> None:
    _arrange(db_session)
    listing = client.get("/api/runbooks").json()
    assert set(listing["items"][0]) == RUNBOOK_KEYS
    assert listing["items"][0]["tags"] == ["ops", "standard"]
    detail = client.get("/api/runbooks/runbook-1").json()
    assert set(detail) == {"runbook"} and set(detail["runbook"]) == RUNBOOK_KEYS
    missing = client.get("/api/runbooks/nothing")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Runbook not found"})


def test_runbook_execute_keeps_its_keys(client: TestClient, db_session: Session) -> None:
    _arrange(db_session)
    response = client.post("/api/runbooks/runbook-1/execute", json={"input": {"service": "api"}})
    assert response.status_code == 200
    assert set(response.json()) == {"runId", "accepted"}
    invalid = client.post("/api/runbooks/runbook-1/execute", json={"input": {}})
    assert invalid.status_code == 400
    assert invalid.json()["detail"].startswith("'service' is a required property")
    assert client.post("/api/runbooks/runbook-1/execute").status_code == 422


def test_mobile_dashboard_keeps_its_keys(client: TestClient, db_session: Session) -> None:
    _arrange(db_session)
    body = client.get("/api/mobile/dashboard").json()
    assert set(body) == {"summary", "fleet", "metrics", "shortcuts"}  # `fleet` is additive
    assert isinstance(body["summary"], str)  # mobile clients print it as it is
    assert set(body["metrics"][0]) == {"id", "title", "value", "caption", "icon", "status"}
    assert [(s["id"], s["icon"]) for s in body["shortcuts"]] == [
        ("runbooks", "book"),
        ("agents", "cpu"),
    ]
    assert set(body["shortcuts"][0]) == {"id", "title", "icon", "url"}
    assert all(s["url"].startswith(("http://", "https://")) for s in body["shortcuts"])


def test_miner_endpoints_keep_their_keys(client: TestClient, anon_client: TestClient) -> None:
    accepted = client.post(
        "/api/miners/sample",
        json={"miner_id": "xmrig", "hashrate_1m": 1500.0, "shares_accepted": 12},
    )
    assert (accepted.status_code, accepted.json()) == (202, {"status": "accepted"})
    latest = client.get("/api/miners/latest").json()
    assert set(latest) == {"samples", "generated_at"}
    assert set(latest["samples"][0]) == SAMPLE_KEYS
    assert client.get("/api/miners/latest", params={"miner_id": "nope"}).json()["samples"] == []
    tiles = anon_client.get("/miners/tiles").json()
    assert set(tiles) == {"miner_id", "updated_at", "tiles"}
    assert [tile["id"] for tile in tiles["tiles"]] == [
        "effective-hashrate",
        "stale-rate",
        "temperature",
        "last-share",
    ]
    assert all(list(tile) == TILE_KEYS_IN_ORDER for tile in tiles["tiles"])
    missing = client.get("/api/miners/tiles", params={"miner_id": "nope"})
    assert (missing.status_code, missing.json()) == (404, {"detail": "No samples recorded"})


def test_batch_ingest_and_bridge_keep_their_answers(client: TestClient) -> None:
    batch = client.post("/api/miners/samples", json={"samples": [{"miner_id": "a"}]})
    assert (batch.status_code, batch.json()) == (202, {"status": "accepted", "count": 1})
    bridge = client.post(
        "/events",
        json={
            "topic": "miner.sample",
            "payload": {
                "type": "miner.sample",
                "sample": {"miner": "bridge-1", "ts": "2026-01-05T10:00:00Z"},
                "agentId": "agent-1",
            },
        },
    )
    assert bridge.status_code == 202


def test_health_keeps_the_earlier_keys(anon_client: TestClient) -> None:
    body = anon_client.get("/health").json()
    assert {"status", "uptime", "version", "db", "mocks", "checks"} <= set(body)
    assert body["mocks"] is False
    assert body["status"] in {"ok", "degraded"}
    assert body["db"] == "connected"
