"""POST /api/runbooks/{id}/execute without a gateway: validation, recording, idempotency."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models import Runbook, RunbookRun
from app.runbooks import runs

SCHEMA = {
    "type": "object",
    "required": ["service"],
    "properties": {"service": {"type": "string"}, "window": {"type": "string"}},
}
URL = "/api/runbooks/runbook-1/execute"


@pytest.fixture(autouse=True)
def runbook(client: TestClient, db_session: Session) -> Runbook:
    """The seed's runbook-1, on the database `client` has just emptied."""
    row = Runbook(
        id="runbook-1",
        title="Operational Task 1",
        inputs_schema=SCHEMA,
        linked_workflow="roadglitch.workflow.1",
    )
    db_session.add(row)
    db_session.commit()
    return row


def _runs(session: Session) -> list[RunbookRun]:
    session.expire_all()
    return list(session.exec(select(RunbookRun)).all())


def test_a_run_is_recorded_as_queued_without_a_gateway(
    client: TestClient, db_session: Session
) -> None:
    response = client.post(
        URL, json={"input": {"service": "api"}}, headers={"X-Request-ID": "req-42"}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"runId", "accepted"}
    assert body["accepted"] is True
    assert uuid.UUID(body["runId"]).version == 4
    [run] = _runs(db_session)
    assert run.id == body["runId"]
    assert (run.status, run.accepted, run.input) == ("queued", True, {"service": "api"})
    assert run.workflow_name == "roadglitch.workflow.1"
    assert run.request_id == "req-42"
    assert run.requested_by == "PRISM_ADMIN_TOKEN"
    assert run.idempotency_key is None
    assert run.created_at == run.updated_at


def test_every_run_without_a_key_gets_its_own_id(client: TestClient, db_session: Session) -> None:
    first = client.post(URL, json={"input": {"service": "api"}}).json()["runId"]
    second = client.post(URL, json={"input": {"service": "api"}}).json()["runId"]
    assert first != second
    assert len(_runs(db_session)) == 2


def test_the_same_idempotency_key_returns_the_same_run(
    client: TestClient, db_session: Session
) -> None:
    body = {"input": {"service": "api"}, "idempotencyKey": "deploy-7"}
    first = client.post(URL, json=body)
    second = client.post(URL, json=body)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    [run] = _runs(db_session)
    assert run.idempotency_key == "deploy-7"


def test_idempotency_keys_are_per_runbook(client: TestClient, db_session: Session) -> None:
    db_session.add(Runbook(id="runbook-2", title="Other"))
    db_session.commit()
    body = {"input": {"service": "api"}, "idempotencyKey": "same"}
    first = client.post(URL, json=body).json()["runId"]
    other = client.post("/api/runbooks/runbook-2/execute", json=body).json()["runId"]
    assert first != other
    assert len(_runs(db_session)) == 2


def test_a_blank_idempotency_key_counts_as_none(client: TestClient, db_session: Session) -> None:
    body = {"input": {"service": "api"}, "idempotencyKey": ""}
    assert client.post(URL, json=body).json() != client.post(URL, json=body).json()
    assert [run.idempotency_key for run in _runs(db_session)] == [None, None]


def test_a_key_taken_by_a_concurrent_request_returns_that_run(
    client: TestClient, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner = client.post(URL, json={"input": {"service": "api"}, "idempotencyKey": "race"})
    # This request looks the key up before the other one commits, so its insert collides.
    monkeypatch.setattr(runs, "find_by_idempotency_key", _missing_on_first_call())
    loser = client.post(URL, json={"input": {"service": "api"}, "idempotencyKey": "race"})
    assert loser.status_code == 200
    assert loser.json() == winner.json()
    assert len(_runs(db_session)) == 1


def _missing_on_first_call() -> Callable[..., RunbookRun | None]:
    real = runs.find_by_idempotency_key
    calls: list[int] = []

    def find(**kwargs: Any) -> RunbookRun | None:
        calls.append(1)
        return None if len(calls) == 1 else real(**kwargs)

    return find


def test_schema_failure_is_400_starting_with_the_validator_message(
    client: TestClient, db_session: Session
) -> None:
    response = client.post(URL, json={"input": {"window": "1h"}})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("'service' is a required property")
    assert _runs(db_session) == []


def test_a_missing_input_is_checked_as_an_empty_object(
    client: TestClient, db_session: Session
) -> None:
    for body in ({}, {"input": None}):
        response = client.post(URL, json=body)
        assert response.status_code == 400
        assert response.json()["detail"].startswith("'service' is a required property")
    assert _runs(db_session) == []


def test_a_nested_schema_failure_says_where(client: TestClient) -> None:
    response = client.post(URL, json={"input": {"service": 5}})
    assert response.status_code == 400
    assert response.json() == {"detail": "5 is not of type 'string' (at /service)"}


def test_an_empty_schema_accepts_a_missing_input(client: TestClient, db_session: Session) -> None:
    db_session.add(Runbook(id="free", title="Free"))
    db_session.commit()
    response = client.post("/api/runbooks/free/execute", json={})
    assert response.status_code == 200
    [run] = _runs(db_session)
    assert run.input == {}


def test_extra_keys_are_ignored(client: TestClient, db_session: Session) -> None:
    response = client.post(URL, json={"input": {"service": "api"}, "dryRun": True})
    assert response.status_code == 200
    # Not a dry run: the unknown key changed nothing, the run is recorded as without it.
    [run] = _runs(db_session)
    assert run.id == response.json()["runId"]
    assert (run.status, run.accepted, run.input) == ("queued", True, {"service": "api"})


@pytest.mark.parametrize(
    ("kwargs", "loc"),
    [
        ({}, ["body"]),
        ({"json": []}, ["body"]),
        ({"json": "run"}, ["body"]),
        ({"json": {"input": [1]}}, ["body", "input"]),
        ({"json": {"input": "x"}}, ["body", "input"]),
        ({"json": {"idempotencyKey": 5}}, ["body", "idempotencyKey"]),
        ({"json": {"idempotencyKey": "k" * 201}}, ["body", "idempotencyKey"]),
    ],
)
def test_a_malformed_body_is_422_and_records_nothing(
    client: TestClient, db_session: Session, kwargs: dict[str, Any], loc: list[str]
) -> None:
    response = client.post(URL, **kwargs)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc
    assert _runs(db_session) == []


def test_an_unknown_runbook_is_404(client: TestClient, db_session: Session) -> None:
    response = client.post("/api/runbooks/nope/execute", json={"input": {}})
    assert response.status_code == 404
    assert response.json() == {"detail": "Runbook not found"}
    assert _runs(db_session) == []


def test_a_stored_schema_that_is_not_valid_is_409(client: TestClient, db_session: Session) -> None:
    db_session.add(Runbook(id="broken", title="Broken", inputs_schema={"type": 5}))
    db_session.commit()
    response = client.post("/api/runbooks/broken/execute", json={"input": {}})
    assert response.status_code == 409
    assert "invalid inputsSchema" in response.json()["detail"]
    assert _runs(db_session) == []


def test_executing_needs_an_admin_token(
    anon_client: TestClient, db_session: Session, token_for: Callable[[str], dict[str, str]]
) -> None:
    body = {"input": {"service": "api"}}
    assert anon_client.post(URL, json=body).status_code == 401
    for scope in ("read", "ingest"):
        response = anon_client.post(URL, json=body, headers=token_for(scope))
        assert response.status_code == 403
    assert _runs(db_session) == []


def test_the_run_records_who_asked(
    anon_client: TestClient, db_session: Session, token_for: Callable[[str], dict[str, str]]
) -> None:
    headers = token_for("admin")
    assert anon_client.post(URL, json={"input": {"service": "a"}}, headers=headers).is_success
    [run] = _runs(db_session)
    assert run.requested_by == "test-admin"
