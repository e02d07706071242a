"""The demo fleet's past (issue 15): outages and maintenance the availability reports show,
and a rig that runs hot and inefficient beside its twin."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.timeutil import utcnow
from app.ops.seed import seed_demo


@pytest.fixture
def demo(client: TestClient, db_session: Session) -> TestClient:
    seed_demo(session=db_session, now=utcnow())
    return client


def _availability(client: TestClient, kind: str, subject: str, window: str) -> dict[str, Any]:
    response = client.get(f"/api/{kind}/{subject}/availability", params={"window": window})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_agent_2_was_offline_2_h_13_min_in_30_days(demo: TestClient) -> None:
    body = _availability(demo, "agents", "agent-2", "30d")
    assert body["uptimePercent"] == 99.692
    assert body["downtimeSeconds"] == 133 * 60
    assert [outage["seconds"] for outage in body["outages"]] == [133 * 60]


def test_agent_4s_outage_in_its_maintenance_window_is_counted_apart(demo: TestClient) -> None:
    body = _availability(demo, "agents", "agent-4", "7d")
    # Its 35 minutes offline fell inside the hour of planned maintenance.
    assert body["downtimeSeconds"] == 0
    assert body["maintenanceSeconds"] == 3600
    assert body["uptimePercent"] == 100.0
    month = _availability(demo, "agents", "agent-4", "30d")
    assert month["downtimeSeconds"] == 8 * 60  # the earlier, unplanned one


def test_a_miner_that_went_silent_and_one_at_zero_hashrate_have_outages(
    demo: TestClient,
) -> None:
    silent = _availability(demo, "miners", "xmrig-edge", "24h")
    assert len(silent["outages"]) == 1
    assert silent["uptimePercent"] < 100
    idle = _availability(demo, "miners", "gpu-rig-01", "24h")
    assert [outage["seconds"] for outage in idle["outages"]] == [25 * 60]
    steady = _availability(demo, "miners", "asic-s19", "24h")
    assert steady["outages"] == []


def test_the_fleet_list_puts_the_worst_first(demo: TestClient) -> None:
    response = demo.get("/api/availability", params={"type": "agent", "window": "30d"})
    assert response.status_code == 200
    items = response.json()["items"]
    assert items[0]["subject"] == "agent-8"  # offline for the last six hours


def test_one_rig_runs_hot_and_inefficient_beside_its_twin(demo: TestClient) -> None:
    items = {item["minerId"]: item for item in demo.get("/api/miners").json()["items"]}
    hot, twin = items["asic-s19-hot"], items["asic-s19"]
    assert hot["latest"]["temperature_c"] >= 85
    assert twin["latest"]["temperature_c"] < 85
    assert hot["efficiencyJPerTH"] > 40 > 36 > twin["efficiencyJPerTH"]
    assert hot["percentOfExpected"] < 85 < 95 < twin["percentOfExpected"]
    assert (hot["name"], hot["location"]) == ("S19 shelf 3", "Rack B / shelf 3")
    assert hot["expectedHashrate"] == 95e12
    # Every demo miner reports power and fans.
    assert all(item["powerW"] and item["fanRpm"] for item in items.values())
