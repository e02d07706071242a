"""GET /api/alerts: every current state, firing then pending then silenced, silenced judged
from the silences applying now; filters; a 422 naming a bad parameter; read scope."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.timeutil import isoformat, utcnow
from tests.support.factories import add_agent, add_rule, add_silence, add_state

MINUTE = timedelta(minutes=1)


@pytest.fixture
def alerts(db_session: Session) -> None:
    now = utcnow()
    add_rule(db_session, "hot", name="Too hot", kind="miner_temperature", severity="critical")
    add_rule(db_session, "warm", name="Warm", kind="miner_temperature", severity="warning")
    add_rule(db_session, "note", name="Stale note", kind="miner_stale_rate", severity="info")
    add_rule(db_session, "down", name="Offline", kind="agent_offline", severity="critical")
    add_rule(db_session, "off", name="Disabled", enabled=False)
    add_agent(db_session, "gw", domain="ops", last_seen_at=now - timedelta(hours=1))
    add_state(db_session, "warm", "rig-2", since=now - 30 * MINUTE)
    add_state(db_session, "hot", "rig-1", since=now - 10 * MINUTE, value=91.0, incident_id=7)
    add_state(db_session, "note", "rig-1", since=now - 40 * MINUTE)
    add_state(db_session, "hot", "rig-3", state="pending", since=now - MINUTE)
    add_state(db_session, "down", "gw", subject_type="agent", since=now - 20 * MINUTE)
    # Marked silenced by the evaluator, but its silence has ended: it is not silenced now.
    add_state(db_session, "hot", "rig-4", since=now - 50 * MINUTE, silenced=True)
    add_state(db_session, "off", "rig-1")
    # The whole ops domain under maintenance, and rig-2's warning muted.
    add_silence(db_session, "ops", {"domain": "ops"})
    add_silence(db_session, "rig-2-warm", {"ruleId": "warm", "subject": "rig-2"})


def _keys(response: Any) -> list[tuple[str, str, str, bool]]:
    assert response.status_code == 200, response.text
    return [
        (a["ruleId"], a["subject"], a["state"], a["silenced"]) for a in response.json()["items"]
    ]


def test_firing_first_then_pending_then_silenced(client: TestClient, alerts: None) -> None:
    assert _keys(client.get("/api/alerts")) == [
        ("hot", "rig-4", "firing", False),  # critical, oldest
        ("hot", "rig-1", "firing", False),
        ("note", "rig-1", "firing", False),  # info after critical
        ("hot", "rig-3", "pending", False),
        ("down", "gw", "firing", True),  # silenced last, firing first among them
        ("warm", "rig-2", "firing", True),
    ]


def test_each_alert_has_the_spec_keys(client: TestClient, alerts: None) -> None:
    items = client.get("/api/alerts").json()["items"]
    rig1 = next(a for a in items if a["subject"] == "rig-1" and a["ruleId"] == "hot")
    assert rig1 == {
        "ruleId": "hot",
        "ruleName": "Too hot",
        "kind": "miner_temperature",
        "severity": "critical",
        "subjectType": "miner",
        "subject": "rig-1",
        "state": "firing",
        "since": rig1["since"],
        "value": 91.0,
        "silenced": False,
        "incidentId": 7,
    }


def test_the_since_time_is_the_states_own(client: TestClient, db_session: Session) -> None:
    began = utcnow().replace(microsecond=0) - timedelta(hours=2)
    add_rule(db_session, "hot")
    add_state(db_session, "hot", "rig-1", since=began)
    (item,) = client.get("/api/alerts").json()["items"]
    assert item["since"] == isoformat(began)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"state": "pending"}, [("hot", "rig-3")]),
        ({"severity": ["warning", "info"]}, [("note", "rig-1"), ("warm", "rig-2")]),
        ({"kind": "agent_offline"}, [("down", "gw")]),
        ({"subjectType": "agent"}, [("down", "gw")]),
        ({"subject": "rig-1"}, [("hot", "rig-1"), ("note", "rig-1")]),
        ({"ruleId": "warm"}, [("warm", "rig-2")]),
        ({"silenced": "true"}, [("down", "gw"), ("warm", "rig-2")]),
        (
            {"silenced": "false", "severity": "critical", "state": "firing"},
            [
                ("hot", "rig-4"),
                ("hot", "rig-1"),
            ],
        ),
        ({"subject": "nobody"}, []),
    ],
)
def test_filters_narrow_the_list(
    client: TestClient, alerts: None, params: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    found = _keys(client.get("/api/alerts", params=params))
    assert [(rule, subject) for rule, subject, _, _ in found] == expected


def test_a_silence_ending_shows_at_once(client: TestClient, db_session: Session) -> None:
    add_rule(db_session, "hot")
    add_state(db_session, "hot", "rig-1", silenced=True)
    silence = add_silence(db_session, "fans", {"subject": "rig-1"})
    assert _keys(client.get("/api/alerts")) == [("hot", "rig-1", "firing", True)]
    silence.ends_at = utcnow()
    db_session.add(silence)
    db_session.commit()
    assert _keys(client.get("/api/alerts")) == [("hot", "rig-1", "firing", False)]


def test_no_states_no_alerts(client: TestClient) -> None:
    assert client.get("/api/alerts").json() == {"items": []}


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"state": "ok"}, "state"),
        ({"state": "resolved"}, "state"),
        ({"severity": "fatal"}, "severity"),
        ({"kind": "miner_mood"}, "kind"),
        ({"subjectType": "rig"}, "subjectType"),
        ({"subject": "rig\x01"}, "subject"),
        ({"subject": "x" * 129}, "subject"),
        ({"ruleId": "a/b"}, "ruleId"),
        ({"silenced": "maybe"}, "silenced"),
    ],
)
def test_a_bad_parameter_is_422_naming_it(
    client: TestClient, params: dict[str, Any], name: str
) -> None:
    response = client.get("/api/alerts", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:2] == ["query", name]


def test_alerts_need_a_read_token(
    anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> None:
    assert anon_client.get("/api/alerts").status_code == 401
    assert anon_client.get("/api/alerts", headers=token_for("ingest")).status_code == 403
    for scope in ("read", "operate"):
        assert anon_client.get("/api/alerts", headers=token_for(scope)).status_code == 200
