"""Executing a runbook from its page: field errors, the confirmation step, recorded runs,
CSRF, scopes, the gateway."""

import html as html_text
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.models import AuditEvent, Runbook, RunbookRun
from tests.conftest import ADMIN_TOKEN
from tests.support.fake_gateway import FakeGateway, running_fake_gateway
from tests.support.waits import WAIT
from tests.web.conftest import HX, sign_in

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


def post(client: TestClient, csrf: str | None, *, confirm: bool = True, **fields: str) -> Any:
    """The execute form as posted; with `confirm`, as its Confirm button posts it."""
    data = {f"input.{name}": value for name, value in fields.items() if name != "key"}
    if "key" in fields:
        data["idempotency_key"] = fields["key"]
    if csrf is not None:
        data["csrf_token"] = csrf
    if confirm:
        data["confirm"] = "1"
    return client.post(URL, data=data, follow_redirects=False)


def confirm_form(html: str) -> dict[str, str]:
    """The hidden fields of the confirmation's form: what its Confirm button posts."""
    form = re.search(r'<form [^>]*id="execute-confirm-form".*?</form>', html, re.S)
    assert form is not None, html
    return {
        html_text.unescape(name): html_text.unescape(value)
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(0)
        )
    }


def audit_count(session: Session) -> int:
    session.expire_all()
    return len(session.exec(select(AuditEvent).where(AuditEvent.action == "runbook.execute")).all())


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
    assert field.group(1) == "service: required"  # in words, after the field's label
    assert 'aria-invalid="true"' in field.group(0)
    assert 'aria-describedby="field-service-error"' in field.group(0)
    assert " autofocus" in field.group(0)  # the first invalid field takes the focus
    assert html.count(" autofocus") == 1
    # The summary names the field and links to it.
    assert '<li><a href="#field-service">service: required</a></li>' in html
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
    assert 'id="field-replicas-error">replicas: must be a whole number<' in response.text
    assert run_count(db_session) == 0


def test_a_valid_form_is_shown_for_confirmation_and_records_nothing(
    web_client: TestClient, csrf_of: CsrfOf, runbook: Runbook, db_session: Session
) -> None:
    response = post(web_client, csrf_of(web_client), confirm=False, service="api", replicas="5")
    assert response.status_code == 200
    html = response.text
    shown = re.search(r'<textarea id="execute-confirm-input"[^>]*>(.*?)</textarea>', html, re.S)
    assert shown is not None, html
    assert html_text.unescape(shown.group(1)) == '{\n  "service": "api",\n  "replicas": 5\n}'
    # Honest about what happens next: without a gateway the run only gets recorded.
    assert 'data-plan="no-gateway"' in html
    assert (
        "No gateway configured (PRISM_GATEWAY_URL is not set): the run will be recorded as queued"
        in html
    )
    assert 'id="execute-form"' not in html  # the confirmation replaces the form
    assert confirm_form(html)["input.service"] == "api"
    assert confirm_form(html)["input.replicas"] == "5"
    assert "input.window" not in confirm_form(html)  # left empty: not sent
    assert run_count(db_session) == 0
    assert audit_count(db_session) == 0


def test_confirming_records_the_run_once_and_shows_its_outcome(
    web_client: TestClient, csrf_of: CsrfOf, runbook: Runbook, db_session: Session
) -> None:
    review = post(web_client, csrf_of(web_client), confirm=False, service="api", replicas="5")
    response = web_client.post(URL, data=confirm_form(review.text), follow_redirects=False)
    assert response.status_code == 303
    run = the_run(db_session)
    assert run.input == {"service": "api", "replicas": 5}
    assert (run.status, run.accepted) == ("queued", True)  # no gateway configured
    assert run.requested_by == "PRISM_ADMIN_TOKEN"
    assert run.request_id == response.headers["x-request-id"]
    assert audit_count(db_session) == 1
    location = response.headers["location"]
    assert location == f"/runbooks/runbook-1?run={run.id}"

    page = web_client.get(location)
    assert page.status_code == 200
    result = re.search(
        r'<div class="alert alert-info" role="status" id="run-result"(.*?)</div>', page.text, re.S
    )
    assert result is not None, page.text
    assert f"Run <code>{run.id}</code>" in result.group(1)
    assert "recorded as queued and nothing will start it" in result.group(1)
    assert "no workflow gateway is configured" in result.group(1)
    assert f'<tr data-run-id="{run.id}" aria-current="true">' in page.text


def test_edit_goes_back_to_the_form_with_the_values(
    web_client: TestClient, csrf_of: CsrfOf, runbook: Runbook, db_session: Session
) -> None:
    review = post(web_client, csrf_of(web_client), confirm=False, service="api", key="k-1")
    # Without JavaScript the Edit button adds its name to the same hidden fields.
    response = web_client.post(URL, data={**confirm_form(review.text), "edit": "1"})
    assert response.status_code == 200
    assert re.search(r'<input id="field-service"[^>]*value="api"', response.text)
    assert re.search(r'<input id="idempotency-key"[^>]*value="k-1"', response.text)
    assert 'aria-invalid="true"' not in response.text
    assert "autofocus" not in response.text
    assert run_count(db_session) == 0


def test_a_runbook_changed_since_the_confirmation_is_confirmed_again(
    web_client: TestClient, csrf_of: CsrfOf, runbook: Runbook, db_session: Session
) -> None:
    review = post(web_client, csrf_of(web_client), confirm=False, service="api", replicas="5")
    runbook.linked_workflow = "wf.other"  # not the workflow the confirmation named
    db_session.add(runbook)
    db_session.commit()
    response = web_client.post(URL, data=confirm_form(review.text), follow_redirects=False)
    assert response.status_code == 409
    assert 'id="execute-changed"' in response.text
    assert 'id="execute-confirm-form"' in response.text
    assert run_count(db_session) == 0


def test_secret_inputs_are_masked_on_the_confirmation_and_in_the_history(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session
) -> None:
    schema = {
        "type": "object",
        "properties": {"service": {"type": "string"}, "api_token": {"type": "string"}},
    }
    db_session.add(Runbook(id="runbook-1", title="Rotate", inputs_schema=schema))
    db_session.commit()
    review = post(
        web_client, csrf_of(web_client), confirm=False, service="api", api_token="s3cr3t-value"
    )
    shown = re.search(
        r'<textarea id="execute-confirm-input"[^>]*>(.*?)</textarea>', review.text, re.S
    )
    assert shown is not None
    assert "s3cr3t-value" not in shown.group(1)
    assert "***" in shown.group(1)
    assert "shown as *** here; they are sent as you typed them" in review.text
    web_client.post(URL, data=confirm_form(review.text))
    assert the_run(db_session).input == {"service": "api", "api_token": "s3cr3t-value"}
    page = web_client.get("/runbooks/runbook-1").text
    history = page.split('id="runbook-runs"', 1)[1]
    assert "s3cr3t-value" not in history
    assert "&#34;api_token&#34;: &#34;***&#34;" in history or '"api_token": "***"' in history


def test_htmx_gets_the_execute_card_alone(
    web_client: TestClient, csrf_of: CsrfOf, runbook: Runbook, db_session: Session
) -> None:
    headers = {**HX, "HX-Target": "runbook-execute"}
    data = {"csrf_token": csrf_of(web_client), "input.service": ""}
    refused = web_client.post(URL, data=data, headers=headers)
    assert refused.status_code == 422
    assert refused.text.lstrip().startswith('<section class="card" id="runbook-execute"')
    assert 'hx-target="#runbook-execute"' in refused.text
    review = web_client.post(URL, data={**data, "input.service": "api"}, headers=headers)
    assert review.status_code == 200
    assert review.text.lstrip().startswith('<section class="card" id="runbook-execute"')
    assert 'id="execute-confirm-title" tabindex="-1" autofocus' in review.text
    assert run_count(db_session) == 0


def test_a_repeated_idempotency_key_shows_the_earlier_run(
    web_client: TestClient, csrf_of: CsrfOf, runbook: Runbook, db_session: Session
) -> None:
    csrf = csrf_of(web_client)
    first = post(web_client, csrf, service="api", key="deploy-9")
    review = post(web_client, csrf, confirm=False, service="web", key="deploy-9")
    assert "was used before by run" in review.text  # said before confirming
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


def test_the_confirmation_names_the_gateway_that_will_receive_the_run(
    gateway_client: TestClient, gateway: FakeGateway, db_session: Session
) -> None:
    review = post(gateway_client, csrf_from_page(gateway_client), confirm=False, service="api")
    assert 'data-plan="send"' in review.text
    host = urlsplit(gateway.url)
    assert f"workflow gateway at <code>http://{host.hostname}:{host.port}" in review.text
    assert "<code>wf.one</code>" in review.text
    assert gateway.requests == []


def test_with_a_gateway_but_no_workflow_the_confirmation_says_it_will_be_rejected(
    gateway_client: TestClient, gateway: FakeGateway, db_session: Session
) -> None:
    runbook = db_session.get(Runbook, "runbook-1")
    assert runbook is not None
    runbook.linked_workflow = ""
    db_session.add(runbook)
    db_session.commit()
    csrf = csrf_from_page(gateway_client)
    review = post(gateway_client, csrf, confirm=False, service="api")
    assert 'data-plan="no-workflow"' in review.text
    assert "recorded as rejected and nothing will start" in review.text
    response = post(gateway_client, csrf, service="api")
    assert the_run(db_session).status == "rejected"
    page = gateway_client.get(response.headers["location"]).text
    assert "was not sent to the gateway: runbook has no linkedWorkflow to run" in page
    row = page.split('id="runbook-runs"', 1)[1]
    assert "Not sent to the gateway" in row
    assert gateway.requests == []


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
    row = page.text.split('id="runbook-runs"', 1)[1]
    assert "Accepted by the gateway (HTTP 202); gateway run <code>gw-run-1</code>" in row


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
    row = page.text.split('id="runbook-runs"', 1)[1]
    assert "Failed: the gateway answered HTTP 503" in row
    assert "Accepted" not in row


def test_an_unreachable_gateway_is_never_shown_as_a_success(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    with running_fake_gateway() as stopped:
        url = stopped.url  # nothing listens there once the block ends
    client = sign_in(make_client(gateway_url=url, gateway_timeout=WAIT), ADMIN_TOKEN)
    client.headers.clear()
    db_session.add(
        Runbook(id="runbook-1", title="Restart", inputs_schema=SCHEMA, linked_workflow="wf.one")
    )
    db_session.commit()
    response = post(client, csrf_from_page(client), service="api")
    assert the_run(db_session).status == "failed"
    page = client.get(response.headers["location"]).text
    row = page.split('id="runbook-runs"', 1)[1]
    assert "Failed: the gateway was not reached" in row
    assert "gateway unreachable" in row
    assert "Accepted" not in row
