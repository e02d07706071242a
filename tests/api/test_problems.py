"""GET /api/problems: every agent and miner whose health is not ok, worst first then oldest,
named and explained; maintenance left out; read scope."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.timeutil import isoformat, utcnow
from tests.support.factories import add_agent, add_miner, add_rule, add_silence, add_state

MINUTE = timedelta(minutes=1)


@pytest.fixture
def fleet(db_session: Session) -> None:
    """A hot miner, a warm one, an offline agent, one heating up, one in maintenance, a new one."""
    now = utcnow()
    add_rule(db_session, "hot", name="Too hot", kind="miner_temperature", severity="critical")
    add_rule(db_session, "warm", name="Warm", kind="miner_temperature", severity="warning")
    add_rule(db_session, "down", name="Offline", kind="agent_offline", severity="critical")
    for miner_id in ("rig-hot", "rig-warm", "rig-heating", "rig-fans", "rig-ok"):
        add_miner(db_session, miner_id)
    add_agent(db_session, "gw", name="Gateway", last_seen_at=now - timedelta(hours=1))
    add_agent(db_session, "new", name="New agent", last_seen_at=None)
    add_state(db_session, "hot", "rig-hot", since=now - 5 * MINUTE, value=91.5)
    add_state(db_session, "down", "gw", subject_type="agent", since=now - 50 * MINUTE)
    add_state(db_session, "warm", "rig-warm", since=now - 90 * MINUTE, value=82.0)
    add_state(db_session, "hot", "rig-heating", state="pending", since=now - MINUTE, value=86.0)
    add_state(db_session, "hot", "rig-fans", since=now - 60 * MINUTE)
    add_silence(db_session, "fans", {"subjectType": "miner", "subject": "rig-fans"})


def test_problems_are_worst_first_then_oldest(client: TestClient, fleet: None) -> None:
    response = client.get("/api/problems")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(p["subject"], p["health"]) for p in items] == [
        ("gw", "critical"),
        ("rig-hot", "critical"),
        ("rig-warm", "warning"),
        ("rig-heating", "pending"),
        ("new", "unknown"),
    ]


def test_a_problem_names_its_subject_and_its_reasons(client: TestClient, fleet: None) -> None:
    items = client.get("/api/problems").json()["items"]
    hot = items[1]
    assert hot == {
        "subjectType": "miner",
        "subject": "rig-hot",
        "name": "rig-hot",
        "health": "critical",
        "since": hot["reasons"][0]["since"],
        "reasons": [
            {
                "ruleId": "hot",
                "ruleName": "Too hot",
                "kind": "miner_temperature",
                "severity": "critical",
                "state": "firing",
                "value": 91.5,
                "since": hot["since"],
                "silenced": False,
            }
        ],
    }
    assert (items[0]["name"], items[0]["subjectType"]) == ("Gateway", "agent")
    assert items[-1] == {
        "subjectType": "agent",
        "subject": "new",
        "name": "New agent",
        "health": "unknown",
        "since": None,
        "reasons": [],
    }


def test_since_is_when_the_condition_began(client: TestClient, db_session: Session) -> None:
    began = utcnow().replace(microsecond=0) - timedelta(hours=3)
    add_rule(db_session, "hot")
    add_miner(db_session, "rig-1")
    add_state(db_session, "hot", "rig-1", since=began)
    (problem,) = client.get("/api/problems").json()["items"]
    assert problem["since"] == isoformat(began)


def test_a_subject_in_maintenance_is_no_problem(client: TestClient, fleet: None) -> None:
    subjects = [p["subject"] for p in client.get("/api/problems").json()["items"]]
    assert "rig-fans" not in subjects


def test_the_list_filters_by_subject_type_and_takes_the_worst_first(
    client: TestClient, fleet: None
) -> None:
    agents = client.get("/api/problems", params={"subjectType": "agent"}).json()["items"]
    assert [p["subject"] for p in agents] == ["gw", "new"]
    miners = client.get("/api/problems", params={"subjectType": "miner", "limit": 2}).json()
    assert [p["subject"] for p in miners["items"]] == ["rig-hot", "rig-warm"]


def test_a_healthy_fleet_has_no_problems(client: TestClient, db_session: Session) -> None:
    add_miner(db_session, "rig-1")
    add_agent(db_session, "a1")
    assert client.get("/api/problems").json() == {"items": []}


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"subjectType": "rig"}, "subjectType"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "many"}, "limit"),
    ],
)
def test_a_bad_parameter_is_422_naming_it(
    client: TestClient, params: dict[str, object], name: str
) -> None:
    response = client.get("/api/problems", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", name]


def test_problems_need_a_read_token(
    anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> None:
    assert anon_client.get("/api/problems").status_code == 401
    assert anon_client.get("/api/problems", headers=token_for("ingest")).status_code == 403
    for scope in ("read", "operate"):
        assert anon_client.get("/api/problems", headers=token_for(scope)).status_code == 200
