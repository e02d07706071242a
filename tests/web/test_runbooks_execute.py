"""Executing a runbook from its page: field errors, recorded runs, CSRF, scopes, the gateway."""

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.models import Runbook, RunbookRun
from tests.conftest import ADMIN_TOKEN
from tests.support.fake_gateway import FakeGateway, running_fake_gateway
from tests.support.waits import WAIT
from tests.web.conftest import sign_in

SCHEMA = {
    "type": "object",
    "required": ["service"],
    "properties": {
        "service": {"type": "string", "minLength": 2},
        "replicas": {"type": "integer", "minimum": 1},
        "window": {"type": "string"},
    },
}
URL = "/runbooks/runbook-1/execute"
CsrfOf = Callable[[TestClient], str]


@pytest.fixture
def runbook(db_session: Session, client: TestClient) -> Runbook:
    """runbook-1 (after `client`, which empties the database)."""
    row = Runbook(id="runbook-1", title="Restart", inputs_schema=SCHEMA, linked_workflow="wf.one")
    db_session.add(row)
    db_session.commit()
    return row


def run_count(session: Session) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(RunbookRun)).one()


def the_run(session: Session) -> RunbookRun:
    session.expire_all()
    return session.exec(select(RunbookRun)).one()


def post(client: TestClient, csrf: str | None, **fields: str) -> Any:
    data = {f"input.{name}": value for name, value in fields.items() if name != "key"}
    if "key" in fields:
        data["idempotency_key"] = fields["key"]
    if csrf is not None:
        data["csrf_token"] = csrf
    return client.post(URL, data=data, follow_redirects=False)


def test_a_schema_error_shows_next_to_its_field_and_records_nothing(
    web_client: TestClient, csrf_of: CsrfOf, runbook: Runbook, db_session: Session
) -> None:
    response = post(web_client, csrf_of(web_client), service="", replicas="2", window="tonight")
    assert response.status_code == 422
    html = response.text
    field = re.search(
        r'<input id="field-service"[^>]*>\s*<p class="field-error"[^>]*>([^<]*)<', html
    )
    assert field is not None, html
    assert field.group(1) == "&#39;service&#39; is a required property"
    assert 'aria-invalid="true"' in field.group(0)
    assert 'aria-describedby="field-service-error"' in field.group(0)
    # What was typed is still there, and no other field is marked.
    assert re.search(r'<input id="field-replicas"[^>]*value="2"', html)
    assert re.search(r'<input id="field-window"[^>]*value="tonight"', html)
    assert html.count('aria-invalid="true"') == 1
    assert "Nothing was run" in html
    assert run_count(db_session) == 0


def test_text_that_is_not_a_number_is_a_field_error(
    web_client: TestClient, csrf_of: CsrfOf, runbook: Runbook, db_session: Session
) -> None:
    response = post(web_client, csrf_of(web_client), service="api", replicas="two")
    assert response.status_code == 422
    assert 'id="field-replicas-error">must be a whole number<' in response.text
    assert run_count(db_session) == 0


def test_a_valid_form_records_the_run_and_shows_its_outcome(
    web_client: TestClient, csrf_of: CsrfOf, runbook: Runbook, db_session: Session
) -> None:
    response = post(web_client, csrf_of(web_client), service="api", replicas="5", window="")
    assert response.status_code == 303
    run = the_run(db_session)
    assert run.input == {"service": "api", "replicas": 5}
    assert (run.status, run.accepted) == ("queued", True)  # no gateway configured
    assert run.requested_by == "PRISM_ADMIN_TOKEN"
    assert run.request_id == response.headers["x-request-id"]
    location = response.headers["location"]
    assert location == f"/runbooks/runbook-1?run={run.id}"

    page = web_client.get(location)
    assert page.status_code == 200
    result = re.search(
        r'<div class="alert alert-info" role="status" id="run-result"(.*?)</div>', page.text, re.S
    )
    assert result is not None, page.text
    assert f"Run <code>{run.id}</code>" in result.group(1)
    assert "queued" in result.group(1)
    assert f'<tr data-run-id="{run.id}" aria-current="true">' in page.text


def test_a_repeated_idempotency_key_shows_the_earlier_run(
    web_client: TestClient, csrf_of: CsrfOf, runbook: Runbook, db_session: Session
) -> None:
    csrf = csrf_of(web_client)
    first = post(web_client, csrf, service="api", key="deploy-9")
    second = post(web_client, csrf, service="web", key="deploy-9")
    run = the_run(db_session)
    assert run.input == {"service": "api"}
    assert first.headers["location"] == f"/runbooks/runbook-1?run={run.id}"
    assert second.headers["location"] == f"/runbooks/runbook-1?run={run.id}&repeat=1"
    page = web_client.get(second.headers["location"])
    assert "This idempotency key was used before" in page.text


def test_without_the_csrf_token_nothing_is_run(
    web_client: TestClient, csrf_of: CsrfOf, runbook: Runbook, db_session: Session
) -> None:
    missing = post(web_client, None, service="api")
    wrong = post(web_client, "not-the-token", service="api")
    assert missing.status_code == 403
    assert wrong.status_code == 403
    assert run_count(db_session) == 0


def test_a_read_only_session_cannot_execute(
    read_web_client: TestClient, csrf_of: CsrfOf, runbook: Runbook, db_session: Session
) -> None:
    response = post(read_web_client, csrf_of(read_web_client), service="api")
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]
    assert run_count(db_session) == 0


def test_anonymous_posts_are_sent_to_sign_in(
    anon_client: TestClient, runbook: Runbook, db_session: Session
) -> None:
    response = anon_client.post(URL, data={"input.service": "api"}, follow_redirects=False)
    assert response.status_code == 303
    assert urlsplit(response.headers["location"]).path == "/login"
    assert run_count(db_session) == 0


def test_executing_an_unknown_runbook_is_a_not_found_page(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session
) -> None:
    response = web_client.post(
        "/runbooks/nope/execute", data={"csrf_token": csrf_of(web_client)}, follow_redirects=False
    )
    assert response.status_code == 404
    assert "Runbook not found" in response.text
    assert run_count(db_session) == 0


def test_an_invalid_stored_schema_refuses_to_run(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session
) -> None:
    db_session.add(Runbook(id="runbook-1", title="Broken", inputs_schema={"type": 5}))
    db_session.commit()
    response = post(web_client, csrf_of(web_client), service="api")
    assert response.status_code == 409
    assert "input schema is fixed" in response.text
    assert run_count(db_session) == 0


# --- with a workflow gateway --------------------------------------------------------------


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with running_fake_gateway() as fake:
        yield fake


@pytest.fixture
def gateway_client(
    make_client: Callable[..., TestClient], db_session: Session, gateway: FakeGateway
) -> TestClient:
    """A signed-in browser on an app whose PRISM_GATEWAY_URL is the fake gateway."""
    client = make_client(gateway_url=gateway.url, gateway_timeout=WAIT)
    client.headers.clear()  # a browser: the session cookie only
    db_session.add(
        Runbook(id="runbook-1", title="Restart", inputs_schema=SCHEMA, linked_workflow="wf.one")
    )
    db_session.commit()
    return sign_in(client, ADMIN_TOKEN)


def csrf_from_page(client: TestClient) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/runbooks/runbook-1").text)
    assert match is not None
    return match.group(1)


def test_an_accepting_gateway_is_shown_as_accepted(
    gateway_client: TestClient, gateway: FakeGateway, db_session: Session
) -> None:
    response = post(gateway_client, csrf_from_page(gateway_client), service="api")
    assert gateway.requests[0].body == {"workflowName": "wf.one", "input": {"service": "api"}}
    run = the_run(db_session)
    assert run.status == "accepted"
    page = gateway_client.get(response.headers["location"])
    assert 'class="alert alert-ok" role="status" id="run-result"' in page.text
    assert "was accepted by the gateway (gateway run <code>gw-run-1</code>)" in page.text


def test_a_failing_gateway_is_shown_as_failed(
    gateway_client: TestClient, gateway: FakeGateway, db_session: Session
) -> None:
    gateway.status, gateway.reply = 503, "maintenance"
    response = post(gateway_client, csrf_from_page(gateway_client), service="api")
    assert the_run(db_session).status == "failed"
    location = response.headers["location"]
    assert parse_qs(urlsplit(location).query)["run"] == [the_run(db_session).id]
    page = gateway_client.get(location)
    assert 'class="alert alert-error" role="status" id="run-result"' in page.text
    assert "failed: gateway answered 503: maintenance" in page.text
