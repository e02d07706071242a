"""/api/alerts/rules: admin CRUD, every bad input a 422 naming the field with nothing written,
changes audited in the same transaction, read and operate scopes refused on writes."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models import AlertRule, AlertState, AuditEvent, Channel, Incident, IncidentEvent, Runbook
from tests.support.factories import count_rows

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
RULE = {
    "id": "rig-hot",
    "name": "Rig too hot",
    "kind": "miner_temperature",
    "params": {"aboveC": 90},
    "target": {"miners": ["rig-1", "rig-2"]},
    "forSeconds": 120,
    "severity": "critical",
    "channels": ["ops-hook"],
    "repeatMinutes": 30,
    "runbookId": "cool-down",
    "runbookInput": {"miner": "{subject}", "fan": 100},
    "enabled": True,
}
RULE_KEYS = set(RULE) | {"createdAt", "updatedAt"}


@pytest.fixture
def linked(db_session: Session) -> None:
    """The channel and runbook RULE names."""
    db_session.add(
        Channel(
            id="ops-hook",
            name="Ops hook",
            url="json://127.0.0.1:9/hook",
            created_at=T0,
            updated_at=T0,
        )
    )
    db_session.add(Runbook(id="cool-down", title="Cool down", linked_workflow="ops.cool"))
    db_session.commit()


def _audits(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def _names(response: Any, field: str) -> bool:
    """A 422 whose detail names `field`: FastAPI's list (loc) or one string `field: ...`."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    if isinstance(detail, str):
        return detail.startswith(f"{field}:") or detail.startswith(f"{field}.")
    located = [".".join(str(part) for part in error["loc"][1:]) for error in detail]
    return any(place == field or place.startswith(f"{field}.") for place in located)


def test_create_answers_201_with_the_rule_and_audits_it(
    client: TestClient, db_session: Session, linked: None
) -> None:
    response = client.post("/api/alerts/rules", json=RULE)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == RULE_KEYS
    assert {key: body[key] for key in RULE} == RULE
    assert client.get("/api/alerts/rules/rig-hot").json() == body
    stored = db_session.get(AlertRule, "rig-hot")
    assert stored is not None and stored.target == {"miners": ["rig-1", "rig-2"]}
    [audit] = _audits(db_session, "alert_rule.create")
    assert (audit.target_type, audit.target_id, audit.actor) == (
        "alert_rule",
        "rig-hot",
        "PRISM_ADMIN_TOKEN",
    )


def test_create_fills_defaults_and_makes_an_id_from_the_name(client: TestClient) -> None:
    response = client.post(
        "/api/alerts/rules",
        json={"name": "Agents offline!", "kind": "agent_offline", "severity": "warning"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("agents-offline-")
    assert body["params"] == {} and body["target"] == {} and body["channels"] == []
    assert (body["forSeconds"], body["repeatMinutes"], body["enabled"]) == (0, 0, True)
    assert body["runbookId"] is None and body["runbookInput"] is None
    assert client.get(f"/api/alerts/rules/{body['id']}").status_code == 200


def test_a_duplicate_id_is_409_and_keeps_the_first(
    client: TestClient, db_session: Session, linked: None
) -> None:
    assert client.post("/api/alerts/rules", json=RULE).status_code == 201
    response = client.post("/api/alerts/rules", json={**RULE, "name": "Other"})
    assert response.status_code == 409
    assert response.json() == {"detail": "Alert rule rig-hot already exists"}
    db_session.expire_all()
    stored = db_session.get(AlertRule, "rig-hot")
    assert stored is not None and stored.name == "Rig too hot"
    assert len(_audits(db_session, "alert_rule.create")) == 1


BAD_RULES = [
    ({"kind": "miner_mood"}, "kind"),
    ({"kind": None}, "kind"),
    ({"params": {"aboveC": 90, "belowC": 10}}, "params.belowC"),
    ({"params": {"aboveC": "hot"}}, "params.aboveC"),
    ({"params": {"aboveC": 900}}, "params.aboveC"),
    (
        {"kind": "agent_offline", "target": {}, "params": {"afterSeconds": -60}},
        "params.afterSeconds",
    ),
    (
        {"kind": "agent_errors", "target": {}, "params": {"windowSeconds": 0}},
        "params.windowSeconds",
    ),
    ({"kind": "agent_errors", "target": {}, "params": {"count": True}}, "params.count"),
    ({"params": []}, "params"),
    ({"forSeconds": -1}, "forSeconds"),
    ({"forSeconds": 1.5}, "forSeconds"),
    ({"repeatMinutes": -5}, "repeatMinutes"),
    ({"severity": "apocalyptic"}, "severity"),
    ({"name": " "}, "name"),
    ({"id": "has space"}, "id"),
    ({"target": {"agents": ["a-1"]}}, "target.agents"),
    ({"target": {"miners": ["rig-1"], "domains": ["ops"]}}, "target"),
    ({"target": {"rigs": ["rig-1"]}}, "target.rigs"),
    ({"target": {"miners": []}}, "target.miners"),
    ({"kind": "agent_status", "params": {}, "target": {"miners": ["x"]}}, "target.miners"),
    ({"channels": ["ops-hook", "nowhere"]}, "channels"),
    ({"channels": "ops-hook"}, "channels"),
    ({"runbookId": "no-such-runbook"}, "runbookId"),
    ({"runbookInput": ["not", "an", "object"]}, "runbookInput"),
    ({"enabled": 0}, "enabled"),
    ({"forSeconds": "60"}, "forSeconds"),
]


@pytest.mark.parametrize(("change", "field"), BAD_RULES)
def test_a_bad_rule_is_a_422_naming_the_field_and_nothing_is_written(
    client: TestClient, db_session: Session, linked: None, change: dict[str, Any], field: str
) -> None:
    response = client.post("/api/alerts/rules", json={**RULE, **change})
    assert _names(response, field), response.json()
    assert count_rows(db_session, AlertRule) == 0
    assert count_rows(db_session, AuditEvent) == 0


def test_an_unknown_parameter_is_named_with_the_kinds_parameters(
    client: TestClient, linked: None
) -> None:
    response = client.post("/api/alerts/rules", json={**RULE, "params": {"threshold": 1}})
    detail = response.json()["detail"]
    assert detail.startswith("params.threshold: not a parameter of miner_temperature")
    assert "aboveC" in detail


@pytest.mark.parametrize(
    ("change", "field"), [(change, field) for change, field in BAD_RULES if field != "id"]
)
def test_a_bad_replacement_is_a_422_and_the_rule_is_unchanged(
    client: TestClient, db_session: Session, linked: None, change: dict[str, Any], field: str
) -> None:
    before = client.post("/api/alerts/rules", json=RULE).json()
    body = {key: value for key, value in {**RULE, **change}.items() if key != "id"}
    response = client.put("/api/alerts/rules/rig-hot", json=body)
    assert _names(response, field), response.json()
    assert client.get("/api/alerts/rules/rig-hot").json() == before
    assert _audits(db_session, "alert_rule.update") == []


def test_put_replaces_every_field_and_defaults_the_ones_left_out(
    client: TestClient, db_session: Session, linked: None
) -> None:
    client.post("/api/alerts/rules", json=RULE)
    response = client.put(
        "/api/alerts/rules/rig-hot",
        json={"name": "Any rig silent", "kind": "miner_silent", "severity": "warning"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "rig-hot"
    assert (body["kind"], body["params"], body["target"], body["channels"]) == (
        "miner_silent",
        {},
        {},
        [],
    )
    assert body["runbookId"] is None and body["runbookInput"] is None
    [audit] = _audits(db_session, "alert_rule.update")
    assert audit.detail is not None and audit.detail["changed"]["kind"] == "miner_silent"


def test_patch_changes_only_what_is_sent(client: TestClient, linked: None) -> None:
    created = client.post("/api/alerts/rules", json=RULE).json()
    response = client.patch("/api/alerts/rules/rig-hot", json={"severity": "warning"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["severity"] == "warning"
    unchanged = set(RULE) - {"severity"}
    assert {key: body[key] for key in unchanged} == {key: created[key] for key in unchanged}


def test_patch_checks_the_rule_as_it_would_become(client: TestClient, linked: None) -> None:
    """A new kind must come with params it takes: aboveC is no agent_offline parameter."""
    before = client.post("/api/alerts/rules", json=RULE).json()
    response = client.patch("/api/alerts/rules/rig-hot", json={"kind": "miner_silent"})
    assert _names(response, "params.aboveC"), response.json()
    response = client.patch(
        "/api/alerts/rules/rig-hot", json={"kind": "agent_offline", "params": {}}
    )
    assert _names(response, "target.miners"), response.json()
    assert client.get("/api/alerts/rules/rig-hot").json() == before


@pytest.mark.parametrize("field", ["name", "kind", "severity", "params", "enabled", "channels"])
def test_patch_refuses_null_for_a_required_field(
    client: TestClient, linked: None, field: str
) -> None:
    client.post("/api/alerts/rules", json=RULE)
    assert _names(client.patch("/api/alerts/rules/rig-hot", json={field: None}), field)


def test_patch_unlinking_the_runbook_drops_its_input(client: TestClient, linked: None) -> None:
    client.post("/api/alerts/rules", json=RULE)
    body = client.patch("/api/alerts/rules/rig-hot", json={"runbookId": None}).json()
    assert body["runbookId"] is None and body["runbookInput"] is None


def _incident(session: Session, rule_id: str, subject: str, **fields: Any) -> Incident:
    values: dict[str, Any] = {
        "rule_name": "Rig too hot",
        "kind": "miner_temperature",
        "severity": "critical",
        "subject_type": "miner",
        "started_at": T0,
    }
    values.update(fields)
    incident = Incident(rule_id=rule_id, subject=subject, **values)
    session.add(incident)
    session.commit()
    return incident


def _firing(session: Session, rule_id: str, subject: str, incident_id: int | None) -> None:
    session.add(
        AlertState(
            rule_id=rule_id,
            subject_type="miner",
            subject=subject,
            state="firing",
            since=T0,
            fired_at=T0,
            incident_id=incident_id,
            evaluated_at=T0,
        )
    )
    session.commit()


def test_delete_keeps_the_incidents_and_resolves_the_open_ones(
    client: TestClient, db_session: Session, linked: None
) -> None:
    client.post("/api/alerts/rules", json=RULE)
    old = _incident(db_session, "rig-hot", "rig-1", resolved_at=T0)
    current = _incident(db_session, "rig-hot", "rig-2")
    _firing(db_session, "rig-hot", "rig-2", current.id)
    response = client.delete("/api/alerts/rules/rig-hot")
    assert response.status_code == 204
    assert client.get("/api/alerts/rules/rig-hot").status_code == 404
    assert count_rows(db_session, AlertState) == 0
    assert count_rows(db_session, Incident) == 2
    db_session.expire_all()
    refreshed = db_session.get(Incident, current.id)
    assert refreshed is not None and refreshed.resolved_at is not None
    kept = db_session.get(Incident, old.id)
    assert kept is not None and kept.resolved_at == T0
    [event] = db_session.exec(
        select(IncidentEvent).where(IncidentEvent.incident_id == current.id)
    ).all()
    assert (event.type, event.detail) == ("resolved", {"reason": "rule deleted"})
    assert [audit.target_id for audit in _audits(db_session, "alert_rule.delete")] == ["rig-hot"]


def test_disabling_a_rule_clears_its_states_and_resolves_its_incidents(
    client: TestClient, db_session: Session, linked: None
) -> None:
    client.post("/api/alerts/rules", json=RULE)
    incident = _incident(db_session, "rig-hot", "rig-1")
    _firing(db_session, "rig-hot", "rig-1", incident.id)
    response = client.patch("/api/alerts/rules/rig-hot", json={"enabled": False})
    assert response.status_code == 200 and response.json()["enabled"] is False
    assert count_rows(db_session, AlertState) == 0
    db_session.expire_all()
    resolved = db_session.get(Incident, incident.id)
    assert resolved is not None and resolved.resolved_at is not None


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_an_unknown_rule_is_a_404(client: TestClient, method: str) -> None:
    bodies = {"PUT": {"name": "X", "kind": "miner_silent", "severity": "info"}, "PATCH": {}}
    response = client.request(method, "/api/alerts/rules/ghost", json=bodies.get(method))
    assert response.status_code == 404
    assert response.json() == {"detail": "Alert rule not found"}


def test_the_list_pages_by_id_and_filters(client: TestClient) -> None:
    for index, kind in enumerate(["miner_silent", "agent_offline", "miner_silent"]):
        payload = {"id": f"r-{index}", "name": f"R{index}", "kind": kind, "severity": "info"}
        assert client.post("/api/alerts/rules", json=payload).status_code == 201
    first = client.get("/api/alerts/rules", params={"limit": 2}).json()
    assert [item["id"] for item in first["items"]] == ["r-0", "r-1"]
    rest = client.get("/api/alerts/rules", params={"limit": 2, "cursor": first["nextCursor"]})
    assert [item["id"] for item in rest.json()["items"]] == ["r-2"]
    assert rest.json()["nextCursor"] is None
    silent = client.get("/api/alerts/rules", params={"kind": "miner_silent"}).json()
    assert [item["id"] for item in silent["items"]] == ["r-0", "r-2"]
    client.patch("/api/alerts/rules/r-0", json={"enabled": False})
    disabled = client.get("/api/alerts/rules", params={"enabled": "false"}).json()
    assert [item["id"] for item in disabled["items"]] == ["r-0"]
    assert client.get("/api/alerts/rules", params={"kind": "mood"}).status_code == 422


@pytest.mark.parametrize("scope", ["read", "operate"])
def test_read_and_operate_tokens_read_rules_but_cannot_change_them(
    client: TestClient,
    anon_client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    db_session: Session,
    linked: None,
    scope: str,
) -> None:
    client.post("/api/alerts/rules", json=RULE)
    headers = token_for(scope)
    assert anon_client.get("/api/alerts/rules", headers=headers).status_code == 200
    assert anon_client.get("/api/alerts/rules/rig-hot", headers=headers).status_code == 200
    writes = [
        ("POST", "/api/alerts/rules", {**RULE, "id": "other"}),
        ("PUT", "/api/alerts/rules/rig-hot", {**RULE, "id": None}),
        ("PATCH", "/api/alerts/rules/rig-hot", {"severity": "info"}),
        ("DELETE", "/api/alerts/rules/rig-hot", None),
    ]
    for method, path, body in writes:
        response = anon_client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, response.text)
    assert count_rows(db_session, AlertRule) == 1
    assert _audits(db_session, "alert_rule.update") == []
