"""Execute answers the gateway's run id, as the earlier service did; either id finds the run."""

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models import Runbook, RunbookRun
from tests.support.fake_gateway import FakeGateway, running_fake_gateway

URL = "/api/runbooks/rb/execute"
GATEWAY_ID = "gw-run-12345"
MakeClient = Callable[..., TestClient]


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with running_fake_gateway(reply={"runId": GATEWAY_ID}) as fake:
        yield fake


@pytest.fixture
def api(make_client: MakeClient, db_session: Session, gateway: FakeGateway) -> TestClient:
    """A client of an app sending runs to the fake gateway, with runbooks rb and other."""
    client = make_client(gateway_url=gateway.url, gateway_timeout=30)
    for runbook_id in ("rb", "other"):
        db_session.add(Runbook(id=runbook_id, title=runbook_id, linked_workflow="wf"))
    db_session.commit()
    return client


def _the_run(session: Session) -> RunbookRun:
    session.expire_all()
    return session.exec(select(RunbookRun)).one()


def test_execute_answers_the_gateways_run_id(
    api: TestClient, db_session: Session, gateway: FakeGateway
) -> None:
    response = api.post(URL, json={"input": {}})
    assert response.status_code == 200
    assert response.json() == {"runId": GATEWAY_ID, "accepted": True}
    run = _the_run(db_session)
    assert run.gateway_run_id == GATEWAY_ID
    assert run.id != GATEWAY_ID  # the console keeps its own id as well


def test_the_run_history_finds_the_run_by_either_id(
    api: TestClient, db_session: Session, gateway: FakeGateway
) -> None:
    api.post(URL, json={"input": {}})
    console_id = _the_run(db_session).id
    gateway.reply = {"runId": "gw-run-other"}
    api.post(URL, json={"input": {}})  # a second run, not shown
    for run_id in (GATEWAY_ID, console_id):
        response = api.get("/api/runbooks/rb/runs", params={"runId": run_id})
        assert response.status_code == 200
        [item] = response.json()["items"]
        assert (item["id"], item["runId"], item["gatewayRunId"]) == (
            console_id,
            GATEWAY_ID,
            GATEWAY_ID,
        )
    assert api.get("/api/runbooks/rb/runs", params={"runId": "nope"}).json()["items"] == []
    assert len(api.get("/api/runbooks/rb/runs").json()["items"]) == 2


def test_one_run_is_found_by_either_id_within_its_runbook(
    api: TestClient, db_session: Session
) -> None:
    api.post(URL, json={"input": {}})
    console_id = _the_run(db_session).id
    for run_id in (GATEWAY_ID, console_id):
        response = api.get(f"/api/runbooks/rb/runs/{run_id}")
        assert response.status_code == 200
        assert (response.json()["id"], response.json()["runId"]) == (console_id, GATEWAY_ID)
    for url in ("/api/runbooks/rb/runs/nope", f"/api/runbooks/other/runs/{GATEWAY_ID}"):
        missing = api.get(url)
        assert missing.status_code == 404
        assert missing.json() == {"detail": "Run not found"}
    assert api.get(f"/api/runbooks/nope/runs/{GATEWAY_ID}").json() == {
        "detail": "Runbook not found"
    }


def test_a_repeated_key_answers_the_same_gateway_id_without_a_second_call(
    api: TestClient, db_session: Session, gateway: FakeGateway
) -> None:
    body = {"input": {}, "idempotencyKey": "deploy-1"}
    first = api.post(URL, json=body).json()
    assert api.post(URL, json=body).json() == first == {"runId": GATEWAY_ID, "accepted": True}
    assert len(gateway.requests) == 1
    assert _the_run(db_session).gateway_run_id == GATEWAY_ID


def test_without_a_gateway_id_execute_answers_the_consoles(
    api: TestClient, db_session: Session, gateway: FakeGateway
) -> None:
    gateway.reply = {"status": "ok"}
    run_id = api.post(URL, json={"input": {}}).json()["runId"]
    assert run_id == _the_run(db_session).id
    assert api.get(f"/api/runbooks/rb/runs/{run_id}").json()["runId"] == run_id
