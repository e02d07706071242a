"""The availability API (SPEC §13) over HTTP on both engines, with an injected clock: one
agent or miner, the fleet worst first, the monthly SLA CSV, and the 4xx of bad input."""

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.deps import get_clock
from app.models import Agent, AgentStatusChange, Miner, MinerSample

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OUTAGE = NOW - timedelta(days=10)


@pytest.fixture
def clocked(client: TestClient, app: FastAPI) -> Iterator[TestClient]:
    app.dependency_overrides[get_clock] = lambda: lambda: NOW
    yield client
    app.dependency_overrides.pop(get_clock, None)


def _agent(session: Session, agent_id: str, outage: timedelta | None) -> None:
    session.add(Agent(id=agent_id, name=f"Agent {agent_id}", domain="ops", last_seen_at=NOW))
    session.flush()
    session.add(
        AgentStatusChange(
            agent_id=agent_id, at=NOW - timedelta(days=100), from_status=None, to_status="online"
        )
    )
    if outage is not None:
        session.add_all(
            [
                AgentStatusChange(
                    agent_id=agent_id, at=OUTAGE, from_status="online", to_status="offline"
                ),
                AgentStatusChange(
                    agent_id=agent_id,
                    at=OUTAGE + outage,
                    from_status="offline",
                    to_status="online",
                ),
            ]
        )
    session.commit()


def test_an_agents_availability_names_its_outage_and_segments(
    clocked: TestClient, db_session: Session
) -> None:
    _agent(db_session, "a1", timedelta(hours=2, minutes=13))
    body = clocked.get("/api/agents/a1/availability", params={"window": "30d"}).json()
    assert body["window"] == "30d"
    assert (body["from"], body["to"]) == ("2026-10-31T12:00:00Z", "2026-11-30T12:00:00Z")
    assert body["uptimePercent"] == 99.692
    assert (body["downtimeSeconds"], body["maintenanceSeconds"]) == (7980.0, 0.0)
    assert body["outages"] == [
        {"from": "2026-11-20T12:00:00Z", "to": "2026-11-20T14:13:00Z", "seconds": 7980.0}
    ]
    assert len(body["segments"]) == 90
    hit = [segment for segment in body["segments"] if segment["uptimePercent"] != 100.0]
    assert len(hit) == 1 and hit[0]["from"] <= "2026-11-20T12:00:00Z" < hit[0]["to"]


def test_the_fleet_is_listed_worst_first(clocked: TestClient, db_session: Session) -> None:
    _agent(db_session, "fine", None)
    _agent(db_session, "bad", timedelta(hours=5))
    _agent(db_session, "meh", timedelta(hours=1))
    body = clocked.get("/api/availability", params={"type": "agent", "window": "30d"}).json()
    assert body["total"] == 3
    assert [item["subject"] for item in body["items"]] == ["bad", "meh", "fine"]
    assert body["items"][0]["outageCount"] == 1
    limited = clocked.get("/api/availability", params={"type": "agent", "limit": 1}).json()
    assert (limited["total"], len(limited["items"])) == (3, 1)


def test_a_miners_availability_counts_its_silence(clocked: TestClient, db_session: Session) -> None:
    start = NOW - timedelta(hours=1)
    db_session.add_all(
        [
            MinerSample(miner_id="rig", recorded_at=start, hashrate_1m=1e12),
            MinerSample(
                miner_id="rig", recorded_at=start + timedelta(minutes=30), hashrate_1m=1e12
            ),
            MinerSample(miner_id="rig", recorded_at=NOW - timedelta(seconds=5), hashrate_1m=1e12),
        ]
    )
    db_session.add(Miner(miner_id="rig", first_seen_at=start, last_recorded_at=NOW))
    db_session.commit()
    body = clocked.get("/api/miners/rig/availability", params={"window": "24h"}).json()
    # Two 30-minute gaps, each down after the 300 s threshold.
    assert body["downtimeSeconds"] == 2 * (1800 - 300) - 5
    assert body["unknownSeconds"] == 23 * 3600.0


def test_the_sla_report_is_a_csv_of_the_month(clocked: TestClient, db_session: Session) -> None:
    _agent(db_session, "a1", timedelta(hours=2))
    response = clocked.get("/api/export/availability.csv", params={"month": "2026-11"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="availability-2026-11.csv"' in response.headers["content-disposition"]
    [row] = list(csv.DictReader(io.StringIO(response.text)))
    assert (row["subjectType"], row["subject"], row["month"]) == ("agent", "a1", "2026-11")
    assert (row["from"], row["to"]) == ("2026-11-01T00:00:00Z", "2026-11-30T12:00:00Z")
    assert row["downtimeSeconds"] == "7200.0"
    seconds = (NOW - datetime(2026, 11, 1, tzinfo=UTC)).total_seconds()
    assert row["uptimePercent"] == str(round(100 * (1 - 7200 / seconds), 3))


@pytest.mark.parametrize(
    ("path", "params", "status", "named"),
    [
        ("/api/agents/ghost/availability", {}, 404, "Agent not found"),
        ("/api/miners/ghost/availability", {}, 404, "No samples recorded"),
        ("/api/agents/a1/availability", {"window": "1y"}, 422, "window"),
        ("/api/availability", {}, 422, "type"),
        ("/api/availability", {"type": "robot"}, 422, "type"),
        ("/api/availability", {"type": "agent", "limit": 0}, 422, "limit"),
        ("/api/export/availability.csv", {"month": "2026-13"}, 422, "month"),
        ("/api/export/availability.csv", {"month": "0000-01"}, 422, "month"),
        ("/api/export/availability.csv", {"month": "2027-01"}, 422, "month"),
        ("/api/export/availability.csv", {}, 422, "month"),
    ],
)
def test_bad_requests_are_refused_naming_the_problem(
    clocked: TestClient,
    db_session: Session,
    path: str,
    params: dict[str, object],
    status: int,
    named: str,
) -> None:
    _agent(db_session, "a1", None)
    response = clocked.get(path, params=params)
    assert response.status_code == status, response.text
    assert named in response.text
