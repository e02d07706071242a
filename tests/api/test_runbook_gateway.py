"""Execute with PRISM_GATEWAY_URL: what the gateway receives, and each outcome as recorded."""

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models import Runbook, RunbookRun
from tests.support.fake_gateway import FakeGateway, refused_url, running_fake_gateway
from tests.support.waits import WAIT

SCHEMA = {"type": "object", "required": ["service"], "properties": {"service": {"type": "string"}}}
URL = "/api/runbooks/runbook-1/execute"
BODY = {"input": {"service": "api"}}

MakeClient = Callable[..., TestClient]


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with running_fake_gateway() as fake:
        yield fake


@pytest.fixture
def arrange(make_client: MakeClient, db_session: Session) -> MakeClient:
    """make_client() after adding runbook-1 (make_client empties the database first)."""
    db_session.add(
        Runbook(id="runbook-1", title="Task 1", inputs_schema=SCHEMA, linked_workflow="wf.one")
    )
    db_session.commit()
    return make_client


def _run(session: Session) -> RunbookRun:
    session.expire_all()
    return session.exec(select(RunbookRun)).one()


def test_the_gateway_receives_the_workflow_input_and_headers(
    arrange: MakeClient, db_session: Session, gateway: FakeGateway
) -> None:
    client = arrange(gateway_url=gateway.url, gateway_timeout=WAIT)
    response = client.post(
        URL,
        json={"input": {"service": "api"}, "idempotencyKey": "deploy-9"},
        headers={"X-Request-ID": "req-gw-1"},
    )
    assert response.status_code == 200
    [received] = gateway.requests
    assert (received.method, received.path) == ("POST", "/runs")
    assert received.body == {"workflowName": "wf.one", "input": {"service": "api"}}
    assert received.headers["x-correlation-id"] == "req-gw-1"
    assert received.headers["idempotency-key"] == "deploy-9"
    assert received.headers["content-type"] == "application/json"


def test_without_a_key_the_run_id_is_the_idempotency_key(
    arrange: MakeClient, db_session: Session, gateway: FakeGateway
) -> None:
    client = arrange(gateway_url=gateway.url, gateway_timeout=WAIT)
    client.post(URL, json=BODY)
    assert gateway.requests[0].headers["idempotency-key"] == _run(db_session).id
    assert gateway.requests[0].headers["x-correlation-id"]


def test_an_accepting_gateway_marks_the_run_accepted(
    arrange: MakeClient, db_session: Session, gateway: FakeGateway
) -> None:
    client = arrange(gateway_url=gateway.url, gateway_timeout=WAIT)
    response = client.post(URL, json=BODY)
    assert response.json() == {"runId": response.json()["runId"], "accepted": True}
    run = _run(db_session)
    assert (run.status, run.accepted, run.gateway_status_code) == ("accepted", True, 202)
    assert run.gateway_run_id == "gw-run-1"
    assert run.error is None
    assert run.updated_at >= run.created_at


def test_the_gateway_id_may_come_as_id(
    arrange: MakeClient, db_session: Session, gateway: FakeGateway
) -> None:
    gateway.status, gateway.reply = 201, {"id": 77}
    client = arrange(gateway_url=gateway.url, gateway_timeout=WAIT)
    client.post(URL, json=BODY)
    assert _run(db_session).gateway_run_id == "77"


def test_a_non_json_success_is_accepted_without_a_gateway_id(
    arrange: MakeClient, db_session: Session, gateway: FakeGateway
) -> None:
    gateway.status, gateway.reply = 200, "ok"
    client = arrange(gateway_url=gateway.url, gateway_timeout=WAIT)
    assert client.post(URL, json=BODY).json()["accepted"] is True
    run = _run(db_session)
    assert (run.status, run.gateway_run_id) == ("accepted", None)


def test_a_4xx_answer_marks_the_run_rejected(
    arrange: MakeClient, db_session: Session, gateway: FakeGateway
) -> None:
    gateway.status, gateway.reply = 400, {"error": "unknown workflow"}
    client = arrange(gateway_url=gateway.url, gateway_timeout=WAIT)
    response = client.post(URL, json=BODY)
    assert response.status_code == 200
    assert response.json()["accepted"] is False
    run = _run(db_session)
    assert (run.status, run.accepted, run.gateway_status_code) == ("rejected", False, 400)
    assert run.error is not None
    assert run.error.startswith("gateway answered 400")
    assert "unknown workflow" in run.error


def test_a_5xx_answer_marks_the_run_failed(
    arrange: MakeClient, db_session: Session, gateway: FakeGateway
) -> None:
    gateway.status, gateway.reply = 500, {"error": "boom"}
    client = arrange(gateway_url=gateway.url, gateway_timeout=WAIT)
    assert client.post(URL, json=BODY).json()["accepted"] is False
    run = _run(db_session)
    assert (run.status, run.accepted, run.gateway_status_code) == ("failed", False, 500)
    assert run.error is not None and "boom" in run.error


def test_a_gateway_slower_than_the_timeout_marks_the_run_failed(
    arrange: MakeClient, db_session: Session, gateway: FakeGateway
) -> None:
    gateway.delay = WAIT  # far past the timeout however slow the machine; cut short at teardown
    client = arrange(gateway_url=gateway.url, gateway_timeout=0.5)
    response = client.post(URL, json=BODY)
    assert response.status_code == 200
    assert response.json()["accepted"] is False
    run = _run(db_session)
    assert (run.status, run.gateway_status_code) == ("failed", None)
    assert run.error == "gateway timed out after 0.5s"


def test_an_unreachable_gateway_marks_the_run_failed(
    arrange: MakeClient, db_session: Session
) -> None:
    client = arrange(gateway_url=refused_url(), gateway_timeout=WAIT)
    response = client.post(URL, json=BODY)
    assert response.status_code == 200
    assert response.json()["accepted"] is False
    run = _run(db_session)
    assert run.status == "failed"
    assert run.error is not None and run.error.startswith("gateway unreachable")


def test_a_repeated_key_does_not_call_the_gateway_again(
    arrange: MakeClient, db_session: Session, gateway: FakeGateway
) -> None:
    client = arrange(gateway_url=gateway.url, gateway_timeout=WAIT)
    body = {**BODY, "idempotencyKey": "once"}
    first = client.post(URL, json=body)
    second = client.post(URL, json=body)
    assert first.json() == second.json() == {"runId": first.json()["runId"], "accepted": True}
    assert len(gateway.requests) == 1
    assert _run(db_session).status == "accepted"


def test_a_replay_of_a_failed_run_reports_it_without_retrying(
    arrange: MakeClient, db_session: Session, gateway: FakeGateway
) -> None:
    gateway.status = 503
    client = arrange(gateway_url=gateway.url, gateway_timeout=WAIT)
    body = {**BODY, "idempotencyKey": "flaky"}
    first = client.post(URL, json=body).json()
    gateway.status = 202
    assert (
        client.post(URL, json=body).json() == first == {"runId": first["runId"], "accepted": False}
    )
    assert len(gateway.requests) == 1


def test_invalid_input_never_reaches_the_gateway(
    arrange: MakeClient, db_session: Session, gateway: FakeGateway
) -> None:
    client = arrange(gateway_url=gateway.url, gateway_timeout=WAIT)
    assert client.post(URL, json={"input": {}}).status_code == 400
    assert gateway.requests == []
    assert db_session.exec(select(RunbookRun)).all() == []


def test_a_runbook_without_a_workflow_is_rejected_locally(
    arrange: MakeClient, db_session: Session, gateway: FakeGateway
) -> None:
    db_session.add(Runbook(id="manual", title="Manual"))
    db_session.commit()
    client = arrange(gateway_url=gateway.url, gateway_timeout=WAIT)
    assert client.post("/api/runbooks/manual/execute", json={}).json()["accepted"] is False
    assert gateway.requests == []
    run = _run(db_session)
    assert (run.status, run.error) == ("rejected", "runbook has no linkedWorkflow to run")


def test_the_run_history_shows_the_gateway_outcome(
    arrange: MakeClient, gateway: FakeGateway
) -> None:
    gateway.status, gateway.reply = 409, {"error": "busy"}
    client = arrange(gateway_url=gateway.url, gateway_timeout=WAIT)
    run_id = client.post(URL, json=BODY, headers={"X-Request-ID": "req-h"}).json()["runId"]
    [item] = client.get("/api/runbooks/runbook-1/runs").json()["items"]
    assert item["id"] == run_id
    assert item["status"] == "rejected"
    assert item["accepted"] is False
    assert item["gatewayStatusCode"] == 409
    assert item["workflowName"] == "wf.one"
    assert item["requestId"] == "req-h"
    assert "busy" in item["error"]


def test_a_malformed_gateway_url_marks_the_run_failed(
    arrange: MakeClient, db_session: Session
) -> None:
    client = arrange(gateway_url="gateway.internal:8080", gateway_timeout=WAIT)
    response = client.post(URL, json=BODY)
    assert (response.status_code, response.json()["accepted"]) == (200, False)
    run = _run(db_session)
    assert run.status == "failed"
    assert run.error is not None and "http://" in run.error
