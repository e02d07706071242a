"""The runbook catalog and a runbook's page: filters, fragments, history, read-only sessions."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models import Runbook, RunbookRun
from tests.web.conftest import HX

SCHEMA = {
    "type": "object",
    "required": ["service"],
    "properties": {
        "service": {"type": "string", "description": "Which service to act on."},
        "window": {"type": "string", "enum": ["now", "tonight"]},
    },
}
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def add_runbook(session: Session, runbook_id: str, title: str, **fields: Any) -> Runbook:
    values: dict[str, Any] = {
        "description": f"{title} does things",
        "tags": ["ops"],
        "inputs_schema": SCHEMA,
        "linked_workflow": f"wf.{runbook_id}",
        **fields,
    }
    runbook = Runbook(id=runbook_id, title=title, **values)
    session.add(runbook)
    session.commit()
    return runbook


def add_run(session: Session, runbook_id: str, run_id: str, minutes: int, **fields: Any) -> None:
    at = T0 + timedelta(minutes=minutes)
    values: dict[str, Any] = {"status": "queued", "requested_by": "alice", **fields}
    session.add(
        RunbookRun(id=run_id, runbook_id=runbook_id, created_at=at, updated_at=at, **values)
    )
    session.commit()


def card_ids(html: str) -> list[str]:
    return re.findall(r'data-runbook-id="([^"]+)"', html)


def run_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-run-id="([^"]+)"', html)


# --- catalog ------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(anon_client: TestClient) -> None:
    for path in ("/runbooks", "/runbooks/runbook-1"):
        response = anon_client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"


def test_the_catalog_lists_runbooks_by_title_with_their_tags(
    web_client: TestClient, db_session: Session
) -> None:
    add_runbook(db_session, "rb-b", "Beta restart", tags=["ops", "web"])
    add_runbook(db_session, "rb-a", "Alpha backup", tags=["data"])
    response = web_client.get("/runbooks")
    assert response.status_code == 200
    assert card_ids(response.text) == ["rb-a", "rb-b"]
    assert '<a href="/runbooks/rb-a">Alpha backup</a>' in response.text
    assert "Alpha backup does things" in response.text
    assert 'href="/runbooks?tag=web"' in response.text
    assert 'data-page-section="runbooks"' in response.text
    assert 'aria-current="page">Runbooks<' in response.text


def test_the_catalog_searches_title_and_description(
    web_client: TestClient, db_session: Session
) -> None:
    add_runbook(db_session, "rb-1", "Restart API", description="Rolling restart")
    add_runbook(db_session, "rb-2", "Backup", description="Nightly dump of the API database")
    add_runbook(db_session, "rb-3", "Rotate keys", description="Credentials")
    response = web_client.get("/runbooks", params={"q": "api"})
    assert card_ids(response.text) == ["rb-2", "rb-1"]
    assert 'value="api"' in response.text
    assert "Clear filters" in response.text


def test_the_catalog_filters_by_tag_and_offers_every_tag(
    web_client: TestClient, db_session: Session
) -> None:
    add_runbook(db_session, "rb-1", "One", tags=["ops", "web"])
    add_runbook(db_session, "rb-2", "Two", tags=["data"])
    response = web_client.get("/runbooks", params={"tag": "web"})
    assert card_ids(response.text) == ["rb-1"]
    options = re.findall(r'<option value="([^"]*)"( selected)?>', response.text)
    assert options == [("", ""), ("data", ""), ("ops", ""), ("web", " selected")]


def test_an_empty_catalog_says_so(web_client: TestClient) -> None:
    assert "No runbooks yet" in web_client.get("/runbooks").text
    assert "No runbook matches" in web_client.get("/runbooks?q=zzz").text


def test_the_catalog_pages_with_a_next_link(web_client: TestClient, db_session: Session) -> None:
    db_session.add_all(
        Runbook(id=f"rb-{n:03}", title=f"Task {n:03}", inputs_schema={}) for n in range(61)
    )
    db_session.commit()
    first = web_client.get("/runbooks")
    assert len(card_ids(first.text)) == 60
    next_url = re.search(r'href="(/runbooks\?cursor=[^"]+)">Next page', first.text)
    assert next_url is not None
    second = web_client.get(next_url.group(1).replace("&amp;", "&"))
    assert card_ids(second.text) == ["rb-060"]
    assert "First page" in second.text
    assert "Next page" not in second.text


def test_a_bad_catalog_cursor_is_a_clear_error(web_client: TestClient) -> None:
    response = web_client.get("/runbooks", params={"cursor": "nonsense"})
    assert response.status_code == 422
    assert "cursor: not a cursor" in response.text


def test_live_filtering_gets_only_the_list(web_client: TestClient, db_session: Session) -> None:
    add_runbook(db_session, "rb-1", "One")
    page = web_client.get("/runbooks")
    fragment = web_client.get("/runbooks", headers=HX)
    partial = web_client.get("/runbooks", headers={**HX, "HX-Target": "runbooks-list"})
    assert page.text.startswith("<!doctype html>")
    assert fragment.text.startswith("<title>Runbooks · Prism Console</title>")
    assert "<html" not in fragment.text
    assert 'hx-target="#runbooks-list"' in fragment.text
    assert partial.text.lstrip().startswith('<div id="runbooks-list"')
    assert "<form" not in partial.text
    assert card_ids(partial.text) == ["rb-1"]
    for response in (page, fragment, partial):
        assert "HX-Request" in response.headers["Vary"]


# --- a runbook's page ---------------------------------------------------------------------


def test_an_unknown_runbook_is_a_not_found_page(web_client: TestClient) -> None:
    response = web_client.get("/runbooks/nope")
    assert response.status_code == 404
    assert "Runbook not found" in response.text
    assert "<code>nope</code>" in response.text
    assert response.text.startswith("<!doctype html>")


def test_the_runbook_page_describes_it_and_shows_the_generated_form(
    web_client: TestClient, db_session: Session
) -> None:
    add_runbook(db_session, "rb-1", "Restart", tags=["ops", "web"])
    response = web_client.get("/runbooks/rb-1")
    assert response.status_code == 200
    html = response.text
    assert "<h1>Restart</h1>" in html
    assert "Restart does things" in html
    assert "<code>wf.rb-1</code>" in html
    assert 'href="/runbooks?tag=web"' in html
    assert '<form method="post" action="/runbooks/rb-1/execute"' in html
    assert 'name="csrf_token"' in html
    assert re.search(
        r'<label for="field-service">service <span class="muted">\(required\)</span></label>', html
    )
    assert re.search(
        r'<input id="field-service" name="input.service" type="text"[^>]* required', html
    )
    assert 'id="field-service-help">Which service to act on.' in html
    assert '<option value="tonight">tonight</option>' in html
    assert 'name="idempotency_key"' in html


def test_a_read_only_session_sees_no_execute_form(
    read_web_client: TestClient, db_session: Session
) -> None:
    add_runbook(db_session, "rb-1", "Restart")
    html = read_web_client.get("/runbooks/rb-1").text
    assert "execute-form" not in html
    assert 'name="input.service"' not in html
    assert "read-only" in html
    assert "Restart does things" in html


def test_a_runbook_without_inputs_says_so(web_client: TestClient, db_session: Session) -> None:
    add_runbook(db_session, "rb-1", "Ping", inputs_schema={})
    assert "This runbook takes no input." in web_client.get("/runbooks/rb-1").text


def test_an_invalid_stored_schema_is_explained_instead_of_a_form(
    web_client: TestClient, db_session: Session
) -> None:
    add_runbook(db_session, "rb-1", "Broken", inputs_schema={"type": "nonsense"})
    html = web_client.get("/runbooks/rb-1").text
    assert "cannot run until its input schema is fixed" in html
    assert "execute-form" not in html


def test_the_history_lists_runs_newest_first(web_client: TestClient, db_session: Session) -> None:
    add_runbook(db_session, "rb-1", "Restart")
    add_runbook(db_session, "rb-2", "Other")
    add_run(db_session, "rb-1", "run-old", 0, status="accepted")
    add_run(db_session, "rb-1", "run-new", 5, status="failed", accepted=False, error="boom")
    add_run(db_session, "rb-2", "run-other", 9)
    html = web_client.get("/runbooks/rb-1").text
    assert run_ids(html) == ["run-new", "run-old"]
    assert '<span class="badge status-failed">Failed</span>' in html
    assert "boom" in html
    assert "alice" in html
    assert '<time datetime="2026-01-05T10:05:00Z"' in html


def test_the_history_shows_each_runs_input_masked_and_an_honest_outcome(
    web_client: TestClient, db_session: Session
) -> None:
    add_runbook(db_session, "rb-1", "Restart")
    add_run(db_session, "rb-1", "run-q", 0, accepted=True, input={"service": "api"})
    add_run(
        db_session,
        "rb-1",
        "run-ok",
        1,
        status="accepted",
        gateway_status_code=202,
        gateway_run_id="gw-7",
        input={"service": "web", "db_password": "hunter2"},
    )
    add_run(
        db_session,
        "rb-1",
        "run-down",
        2,
        status="failed",
        accepted=False,
        error="gateway unreachable: connection refused",
    )
    html = web_client.get("/runbooks/rb-1").text
    table = html.split('id="runbook-runs"', 1)[1]
    rows = dict(zip(run_ids(html), table.split("<tr data-run-id=")[1:], strict=True))
    # Queued and `accepted` in the API's sense, but nothing reached a gateway: never "Accepted".
    assert "Recorded only: no gateway answer" in rows["run-q"]
    assert "Accepted" not in rows["run-q"]
    assert "{&#34;service&#34;: &#34;api&#34;}" in rows["run-q"]
    assert "Accepted by the gateway (HTTP 202); gateway run <code>gw-7</code>" in rows["run-ok"]
    assert "hunter2" not in html
    assert "&#34;db_password&#34;: &#34;***&#34;" in rows["run-ok"]
    assert "Failed: the gateway was not reached" in rows["run-down"]
    assert "connection refused" in rows["run-down"]
    assert '<th scope="col">Accepted</th>' not in html
    # No gateway is configured here, and the page says what that means for runs.
    assert "runs are recorded as queued and nothing starts them" in html


def test_a_stored_pattern_the_schema_rules_refuse_shows_the_problem_not_a_form(
    web_client: TestClient, db_session: Session
) -> None:
    # A backreference is no RE2: refused when stored through the API; one stored before is
    # explained, and no field carries it to the browser.
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": r"^(a)\1$"}}}
    add_runbook(db_session, "rb-1", "Letters", inputs_schema=schema)
    html = web_client.get("/runbooks/rb-1").text
    assert "cannot run until its input schema is fixed" in html
    assert "pattern=" not in html


def test_an_empty_history_says_so(web_client: TestClient, db_session: Session) -> None:
    add_runbook(db_session, "rb-1", "Restart")
    assert "No runs yet." in web_client.get("/runbooks/rb-1").text


def test_more_runs_load_in_place_or_as_a_page(web_client: TestClient, db_session: Session) -> None:
    add_runbook(db_session, "rb-1", "Restart")
    for minute in range(25):
        add_run(db_session, "rb-1", f"run-{minute:02}", minute)
    first = web_client.get("/runbooks/rb-1")
    assert run_ids(first.text) == [f"run-{n:02}" for n in range(24, 4, -1)]
    more = re.search(r'<tr id="runs-more".*?href="([^"]+)"', first.text, re.S)
    assert more is not None
    more_url = more.group(1).replace("&amp;", "&")
    rows = web_client.get(more_url, headers={**HX, "HX-Target": "runs-more"})
    assert rows.text.lstrip().startswith("<tr data-run-id=")
    assert run_ids(rows.text) == [f"run-{n:02}" for n in range(4, -1, -1)]
    assert "runs-more" not in rows.text
    page = web_client.get(more_url)
    assert run_ids(page.text) == [f"run-{n:02}" for n in range(4, -1, -1)]
    assert "Newest runs" in page.text


def test_a_bad_history_cursor_is_a_clear_error(web_client: TestClient, db_session: Session) -> None:
    add_runbook(db_session, "rb-1", "Restart")
    response = web_client.get("/runbooks/rb-1", params={"runs": "bad"})
    assert response.status_code == 422
    assert "cursor: not a cursor" in response.text


def test_the_runbook_page_is_a_fragment_for_htmx(
    web_client: TestClient, db_session: Session
) -> None:
    add_runbook(db_session, "rb-1", "Restart")
    fragment = web_client.get("/runbooks/rb-1", headers=HX)
    assert fragment.text.startswith("<title>Restart · Prism Console</title>")
    assert "<html" not in fragment.text
    assert '<form method="post" action="/runbooks/rb-1/execute"' in fragment.text
    restore = web_client.get("/runbooks/rb-1", headers={**HX, "HX-History-Restore-Request": "true"})
    assert restore.text.startswith("<!doctype html>")
