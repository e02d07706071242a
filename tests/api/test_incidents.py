"""/api/incidents: history with filters and keyset pages, the timeline, acknowledgement (who
and when, notified, audited) and the rule's runbook run on the incident's timeline; the
incident exports."""

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.alerts.deps import get_clock
from app.core.timeutil import isoformat
from app.models import (
    AlertRule,
    AuditEvent,
    Channel,
    Incident,
    IncidentEvent,
    Notification,
    Runbook,
    RunbookRun,
)
from tests.support.factories import count_rows
from tests.support.fake_gateway import running_fake_gateway

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SCHEMA = {
    "type": "object",
    "required": ["miner"],
    "properties": {"miner": {"type": "string"}, "fan": {"type": "integer"}},
}


@pytest.fixture
def clock(app: FastAPI) -> Iterator[None]:
    app.dependency_overrides[get_clock] = lambda: lambda: NOW
    yield
    app.dependency_overrides.pop(get_clock, None)


@pytest.fixture
def operator(
    client: TestClient, anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> TestClient:
    """A client holding an operate token (named test-operate)."""
    anon_client.headers.update(token_for("operate"))
    return anon_client


@pytest.fixture
def reader(
    client: TestClient, app: FastAPI, token_for: Callable[[str], dict[str, str]]
) -> TestClient:
    reader = TestClient(app)
    reader.headers.update(token_for("read"))
    return reader


def _rule(session: Session, rule_id: str = "rig-hot", **fields: Any) -> AlertRule:
    values: dict[str, Any] = {
        "name": "Rig too hot",
        "kind": "miner_temperature",
        "severity": "critical",
        "channels": [],
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    rule = AlertRule(id=rule_id, **values)
    session.add(rule)
    session.commit()
    return rule


def _channel(session: Session, channel_id: str, *, enabled: bool = True) -> None:
    session.add(
        Channel(
            id=channel_id,
            name=channel_id,
            url="json://127.0.0.1:9/hook",
            enabled=enabled,
            created_at=T0,
            updated_at=T0,
        )
    )
    session.commit()


def _incident(
    session: Session, subject: str = "rig-1", *, rule_id: str = "rig-hot", **fields: Any
) -> Incident:
    values: dict[str, Any] = {
        "rule_name": "Rig too hot",
        "kind": "miner_temperature",
        "severity": "critical",
        "subject_type": "miner",
        "started_at": T0,
        "value": 91.5,
        "last_value": 92.0,
    }
    values.update(fields)
    incident = Incident(rule_id=rule_id, subject=subject, **values)
    session.add(incident)
    session.commit()
    session.add(
        IncidentEvent(
            incident_id=incident.id or 0,
            at=incident.started_at,
            type="fired",
            detail={"value": 91.5},
        )
    )
    session.commit()
    return incident


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_the_list_answers_incidents_newest_first_with_every_field(
    client: TestClient, db_session: Session
) -> None:
    older = _incident(db_session, "rig-1", started_at=T0)
    newer = _incident(db_session, "rig-2", started_at=T0 + MINUTE, resolved_at=T0 + 2 * MINUTE)
    body = client.get("/api/incidents").json()
    assert [item["id"] for item in body["items"]] == [newer.id, older.id]
    assert body["items"][1] == {
        "id": older.id,
        "ruleId": "rig-hot",
        "ruleName": "Rig too hot",
        "kind": "miner_temperature",
        "severity": "critical",
        "subjectType": "miner",
        "subject": "rig-1",
        "startedAt": "2026-12-01T08:00:00Z",
        "resolvedAt": None,
        "acknowledgedAt": None,
        "acknowledgedBy": None,
        "silenced": False,
        "value": 91.5,
        "lastValue": 92.0,
        "runbookId": None,
    }
    assert body["nextCursor"] is None


def test_the_list_filters(client: TestClient, db_session: Session) -> None:
    a = _incident(db_session, "rig-1", started_at=T0)
    b = _incident(db_session, "rig-2", started_at=T0 + MINUTE, resolved_at=T0 + 5 * MINUTE)
    c = _incident(
        db_session, "agent-9", rule_id="down", subject_type="agent", severity="warning",
        kind="agent_offline", started_at=T0 + 2 * MINUTE,
    )  # fmt: skip
    get = client.get
    assert _ids(get("/api/incidents", params={"state": "open"})) == [c.id, a.id]
    assert _ids(get("/api/incidents", params={"state": "resolved"})) == [b.id]
    assert _ids(get("/api/incidents", params={"state": "all"})) == [c.id, b.id, a.id]
    assert _ids(get("/api/incidents", params={"ruleId": "rig-hot"})) == [b.id, a.id]
    assert _ids(get("/api/incidents", params={"subject": "rig-2"})) == [b.id]
    assert _ids(get("/api/incidents", params={"severity": "warning"})) == [c.id]
    window = {"since": isoformat(T0 + MINUTE), "until": isoformat(T0 + 2 * MINUTE)}
    assert _ids(get("/api/incidents", params=window)) == [b.id]
    assert _ids(get("/api/incidents", params={"subject": "nobody"})) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "burning"}, "state"),
        ({"severity": "dire"}, "severity"),
        ({"since": "yesterday-ish"}, "since"),
        ({"since": isoformat(T0), "until": isoformat(T0)}, "until"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": 0}, "limit"),
    ],
)
def test_a_bad_filter_is_a_422_naming_it(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    response = client.get("/api/incidents", params=params)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    if isinstance(detail, str):
        assert detail.startswith(f"{field}:")
    else:
        assert [error["loc"][-1] for error in detail] == [field]


def test_the_list_pages_without_gaps_or_repeats(client: TestClient, db_session: Session) -> None:
    made = [_incident(db_session, f"rig-{index}", started_at=T0).id or 0 for index in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/incidents", params=params).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True)  # same startedAt: newest id first


def test_the_detail_has_the_timeline_oldest_first(client: TestClient, db_session: Session) -> None:
    incident = _incident(db_session)
    db_session.add(
        IncidentEvent(
            incident_id=incident.id or 0, at=T0 + MINUTE, type="notified", detail={"channel": "x"}
        )
    )
    db_session.commit()
    body = client.get(f"/api/incidents/{incident.id}").json()
    assert body["incident"]["id"] == incident.id
    assert body["timeline"] == [
        {"at": "2026-12-01T08:00:00Z", "type": "fired", "detail": {"value": 91.5}},
        {"at": "2026-12-01T08:01:00Z", "type": "notified", "detail": {"channel": "x"}},
    ]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/incidents/999", 404),
        ("/api/incidents/abc", 422),
        ("/api/incidents/0", 422),
        ("/api/incidents/99999999999999999999", 422),
    ],
)
def test_an_unknown_or_malformed_incident_id(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    if status == 404:
        assert response.json() == {"detail": "Incident not found"}
    assert client.post(f"{path}/ack").status_code == status
    assert client.post(f"{path}/run", json={}).status_code == status


def test_operate_acknowledges_with_who_and_when_notified_and_audited(
    operator: TestClient, db_session: Session, clock: None
) -> None:
    _channel(db_session, "pager")
    _channel(db_session, "muted", enabled=False)
    _rule(db_session, channels=["pager", "muted"])
    incident = _incident(db_session)
    response = operator.post(f"/api/incidents/{incident.id}/ack")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["incident"]["acknowledgedAt"] == "2026-12-02T10:00:00Z"
    assert body["incident"]["acknowledgedBy"] == "test-operate"
    assert body["timeline"][-1] == {
        "at": "2026-12-02T10:00:00Z",
        "type": "acknowledged",
        "detail": {"by": "test-operate"},
    }
    assert operator.get(f"/api/incidents/{incident.id}").json() == body
    db_session.expire_all()
    [notification] = db_session.exec(select(Notification)).all()
    assert (notification.channel_id, notification.event) == ("pager", "acknowledged")
    assert notification.incident_ids == [incident.id]
    [audit] = db_session.exec(select(AuditEvent).where(AuditEvent.action == "incident.ack"))
    assert (audit.actor, audit.target_id) == ("test-operate", str(incident.id))


def test_a_silenced_incident_is_acknowledged_without_a_notification(
    operator: TestClient, db_session: Session, clock: None
) -> None:
    _channel(db_session, "pager")
    _rule(db_session, channels=["pager"])
    incident = _incident(db_session, silenced=True)
    assert operator.post(f"/api/incidents/{incident.id}/ack").status_code == 200
    assert count_rows(db_session, Notification) == 0


def test_acknowledging_twice_or_a_resolved_incident_is_409(
    operator: TestClient, db_session: Session, clock: None
) -> None:
    _rule(db_session)
    incident = _incident(db_session)
    resolved = _incident(db_session, "rig-2", resolved_at=T0 + MINUTE)
    assert operator.post(f"/api/incidents/{incident.id}/ack").status_code == 200
    again = operator.post(f"/api/incidents/{incident.id}/ack")
    assert again.status_code == 409
    assert again.json() == {
        "detail": f"Incident {incident.id} was already acknowledged by test-operate"
    }
    late = operator.post(f"/api/incidents/{resolved.id}/ack")
    assert late.status_code == 409
    assert late.json() == {"detail": f"Incident {resolved.id} is resolved"}
    events = db_session.exec(select(IncidentEvent).where(IncidentEvent.type == "acknowledged"))
    assert len(events.all()) == 1
    assert count_rows(db_session, AuditEvent) == 1


def test_an_incident_of_a_deleted_rule_can_still_be_acknowledged(
    operator: TestClient, db_session: Session, clock: None
) -> None:
    incident = _incident(db_session, rule_id="gone")
    assert operator.post(f"/api/incidents/{incident.id}/ack").status_code == 200
    assert count_rows(db_session, Notification) == 0


def test_a_read_token_cannot_acknowledge_or_run(
    reader: TestClient, db_session: Session, clock: None
) -> None:
    _rule(db_session)
    incident = _incident(db_session)
    assert reader.get(f"/api/incidents/{incident.id}").status_code == 200
    assert reader.post(f"/api/incidents/{incident.id}/ack").status_code == 403
    assert reader.post(f"/api/incidents/{incident.id}/run", json={}).status_code == 403
    db_session.expire_all()
    stored = db_session.get(Incident, incident.id)
    assert stored is not None and stored.acknowledged_at is None
    assert count_rows(db_session, RunbookRun) == 0


def _runbook(session: Session) -> None:
    session.add(
        Runbook(id="cool-down", title="Cool down", inputs_schema=SCHEMA, linked_workflow="ops.cool")
    )
    session.commit()


def test_running_the_runbook_fills_the_subject_and_records_the_run(
    operator: TestClient, db_session: Session, clock: None
) -> None:
    _runbook(db_session)
    _rule(db_session, runbook_id="cool-down", runbook_input={"miner": "{subject}", "fan": 100})
    incident = _incident(db_session, "rig-7", runbook_id="cool-down")
    response = operator.post(f"/api/incidents/{incident.id}/run", json={})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] is True and body["runbookId"] == "cool-down"
    assert body["input"] == {"miner": "rig-7", "fan": 100}
    db_session.expire_all()
    [run] = db_session.exec(select(RunbookRun)).all()
    assert run.input == {"miner": "rig-7", "fan": 100}
    assert run.requested_by == "test-operate"
    assert body["runId"] == run.id  # no gateway: the console's id
    timeline = operator.get(f"/api/incidents/{incident.id}").json()["timeline"]
    assert timeline[-1] == {
        "at": "2026-12-02T10:00:00Z",
        "type": "runbook_run",
        "detail": {"runId": run.id, "runbookId": "cool-down", "by": "test-operate"},
    }
    [audit] = db_session.exec(select(AuditEvent).where(AuditEvent.action == "runbook.execute"))
    # written with the run itself (before any gateway call), so it names the run
    assert audit.detail is not None and audit.detail["runId"] == run.id
    assert audit.target_id == "cool-down"


def test_the_body_may_replace_the_input(
    operator: TestClient, db_session: Session, clock: None
) -> None:
    _runbook(db_session)
    _rule(db_session, runbook_id="cool-down", runbook_input={"miner": "{subject}"})
    incident = _incident(db_session, "rig-7", runbook_id="cool-down")
    response = operator.post(
        f"/api/incidents/{incident.id}/run", json={"input": {"miner": "rig-8", "fan": 50}}
    )
    assert response.json()["input"] == {"miner": "rig-8", "fan": 50}


def test_an_input_the_runbook_refuses_is_a_400_and_nothing_is_recorded(
    operator: TestClient, db_session: Session, clock: None
) -> None:
    _runbook(db_session)
    _rule(db_session, runbook_id="cool-down", runbook_input={"fan": 100})
    incident = _incident(db_session, runbook_id="cool-down")
    response = operator.post(f"/api/incidents/{incident.id}/run", json={})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("'miner' is a required property")
    assert count_rows(db_session, RunbookRun) == 0
    assert count_rows(db_session, AuditEvent) == 0
    timeline = operator.get(f"/api/incidents/{incident.id}").json()["timeline"]
    assert [entry["type"] for entry in timeline] == ["fired"]


def test_an_incident_without_a_runbook_cannot_run_one(
    operator: TestClient, db_session: Session, clock: None
) -> None:
    _rule(db_session)
    incident = _incident(db_session)
    response = operator.post(f"/api/incidents/{incident.id}/run", json={})
    assert response.status_code == 409
    assert "has no runbook" in response.json()["detail"]
    bad = operator.post(f"/api/incidents/{incident.id}/run", json={"input": [1]})
    assert bad.status_code == 422


def test_with_a_gateway_the_timeline_holds_the_gateways_run_id(
    make_client: Callable[..., TestClient], db_session: Session, app: FastAPI
) -> None:
    with running_fake_gateway(reply={"runId": "gw-42"}) as gateway:
        client = make_client(gateway_url=gateway.url, gateway_timeout=30)
        _runbook(db_session)
        _rule(db_session, runbook_id="cool-down", runbook_input={"miner": "{subject}"})
        incident = _incident(db_session, "rig-7", runbook_id="cool-down")
        response = client.post(f"/api/incidents/{incident.id}/run", json={})
    assert response.status_code == 200, response.text
    assert response.json()["runId"] == "gw-42"
    [sent] = gateway.requests
    assert sent.body is not None and "rig-7" in str(sent.body)
    timeline = client.get(f"/api/incidents/{incident.id}").json()["timeline"]
    assert timeline[-1]["detail"]["runId"] == "gw-42"


EXPORT_COLUMNS = [
    "id",
    "ruleId",
    "ruleName",
    "kind",
    "severity",
    "subjectType",
    "subject",
    "startedAt",
    "resolvedAt",
    "acknowledgedAt",
    "acknowledgedBy",
    "silenced",
    "value",
    "lastValue",
    "runbookId",
]


def test_the_exports_stream_the_lists_rows_and_filters(
    client: TestClient, db_session: Session
) -> None:
    a = _incident(db_session, "=rig-1", started_at=T0)
    b = _incident(db_session, "rig-2", started_at=T0 + MINUTE, resolved_at=T0 + 2 * MINUTE)
    response = client.get("/api/export/incidents.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="incidents.csv"' in response.headers["content-disposition"]
    reader = csv.DictReader(io.StringIO(response.text))
    assert reader.fieldnames == EXPORT_COLUMNS
    rows = list(reader)
    assert [row["id"] for row in rows] == [str(b.id), str(a.id)]
    assert rows[1]["subject"] == "'=rig-1"  # never run as a spreadsheet formula
    assert (rows[1]["resolvedAt"], rows[1]["silenced"]) == ("", "false")
    listed = client.get("/api/incidents").json()["items"]
    exported = client.get("/api/export/incidents.json")
    assert exported.headers["content-type"] == "application/json"
    assert exported.json() == listed
    open_only = client.get("/api/export/incidents.json", params={"state": "open"}).json()
    assert [row["id"] for row in open_only] == [a.id]
    bad = client.get("/api/export/incidents.csv", params={"state": "burning"})
    assert bad.status_code == 422


def test_the_exports_need_a_token(anon_client: TestClient) -> None:
    for name in ("incidents.csv", "incidents.json"):
        assert anon_client.get(f"/api/export/{name}").status_code == 401
