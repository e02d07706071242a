"""A JSON body sent without Content-Type is read as JSON on the compatible endpoints.

The earlier service parsed such bodies (SPEC appendix A) and existing clients send them:
POST /api/miners/sample, the runbook execute, and the miner bridge's POST /events. A
Content-Type that names something else is still not read as JSON.
"""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models import MinerSample, RunbookRun
from tests.support.factories import count_rows


def _post_without_content_type(client: TestClient, path: str, body: Any) -> Any:
    response = client.post(path, content=json.dumps(body).encode())
    assert "content-type" not in response.request.headers
    return response


@pytest.fixture
def runbook(client: TestClient) -> str:
    created = client.post("/api/runbooks", json={"id": "rb-1", "title": "Restart"})
    assert created.status_code == 201, created.text
    return "rb-1"


def test_a_sample_without_content_type_is_stored(client: TestClient, db_session: Session) -> None:
    body = {"miner_id": "rig-1", "hashrate_1m": 1200.5, "shares_accepted": "10"}
    response = _post_without_content_type(client, "/api/miners/sample", body)
    assert (response.status_code, response.json()) == (202, {"status": "accepted"})
    assert count_rows(db_session, MinerSample) == 1


def test_a_bridge_event_without_content_type_is_stored(
    client: TestClient, db_session: Session
) -> None:
    body = {"topic": "miner.sample", "payload": {"sample": {"miner": "rig-2"}}}
    response = _post_without_content_type(client, "/events", body)
    assert response.status_code == 202, response.text
    assert count_rows(db_session, MinerSample) == 1


def test_an_execute_without_content_type_records_a_run(
    client: TestClient, db_session: Session, runbook: str
) -> None:
    body = {"input": {}, "idempotencyKey": "k-1"}
    response = _post_without_content_type(client, f"/api/runbooks/{runbook}/execute", body)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] is True
    assert count_rows(db_session, RunbookRun) == 1


def test_a_body_without_content_type_is_still_validated(
    client: TestClient, db_session: Session
) -> None:
    response = _post_without_content_type(client, "/api/miners/sample", {"hashrate_1m": 1})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "miner_id"]
    malformed = client.post("/api/miners/sample", content=b"{not json")
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["type"] == "json_invalid"
    assert count_rows(db_session, MinerSample) == 0


def test_another_content_type_is_not_read_as_json(client: TestClient, db_session: Session) -> None:
    response = client.post(
        "/api/miners/sample",
        content=json.dumps({"miner_id": "rig-1"}).encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 422
    assert count_rows(db_session, MinerSample) == 0
