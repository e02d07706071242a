"""Concurrent executes with one idempotency key, against a real server: one run, one call."""

from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.core.config import Settings
from app.main import create_app
from app.models import Runbook, RunbookRun
from tests.conftest import AUTH
from tests.support.fake_gateway import running_fake_gateway
from tests.support.servers import running_server
from tests.support.waits import HTTP_TIMEOUT, WAIT


def test_simultaneous_requests_with_one_key_make_one_run_and_one_gateway_call(
    client: TestClient, db_session: Session, app_settings: Settings
) -> None:
    db_session.add(Runbook(id="rb", title="RB", linked_workflow="wf"))
    db_session.commit()
    with running_fake_gateway() as gateway:
        settings = app_settings.model_copy(
            update={"gateway_url": gateway.url, "gateway_timeout": WAIT}
        )
        with running_server(create_app(settings)) as base_url:

            def execute(_: int) -> dict[str, object]:
                response = httpx.post(
                    f"{base_url}/api/runbooks/rb/execute",
                    json={"input": {}, "idempotencyKey": "together"},
                    headers=AUTH,
                    timeout=HTTP_TIMEOUT,
                )
                assert response.status_code == 200
                body: dict[str, object] = response.json()
                return body

            with ThreadPoolExecutor(max_workers=8) as pool:
                answers = list(pool.map(execute, range(8)))
    assert len({answer["runId"] for answer in answers}) == 1
    db_session.expire_all()
    [run] = db_session.exec(select(RunbookRun)).all()
    assert run.gateway_run_id == answers[0]["runId"] == "gw-run-1"
    assert run.status == "accepted"
    assert len(gateway.requests) == 1
