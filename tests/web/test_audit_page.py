"""The Audit page, the operate scope in the browser, and the actions of the pages audited.

Page actions write their audit row with their change (sign-in, sign-out, settings, tokens,
runbook execution); a form refused writes neither.
"""

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.audit.service import Actor, record
from app.models import Runbook, Setting
from app.models.audit import AuditEvent
from tests.conftest import ADMIN_TOKEN
from tests.support.signin import post_login
from tests.web.conftest import HX, sign_in

CsrfOf = Callable[[TestClient], str]


def _actions(session: Session) -> list[str]:
    session.expire_all()
    return [row.action for row in session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))]


def _last(session: Session) -> AuditEvent:
    session.expire_all()
    return session.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc())).first()  # type: ignore[return-value]


@pytest.fixture
def operate_web_client(
    app: FastAPI, anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> TestClient:
    token = token_for("operate")["Authorization"].removeprefix("Bearer ")
    return sign_in(TestClient(app), token)


@pytest.fixture
def runbook(db_session: Session, client: TestClient) -> Runbook:
    row = Runbook(id="rb", title="Restart", linked_workflow="wf")
    db_session.add(row)
    db_session.commit()
    return row


# --- sign-in and sign-out ------------------------------------------------------------------


def test_signing_in_and_out_and_a_refused_attempt_are_audited(
    app: FastAPI, anon_client: TestClient, db_session: Session
) -> None:
    browser = TestClient(app)
    assert post_login(browser, "prism_" + "x" * 43).status_code == 401
    assert post_login(browser, ADMIN_TOKEN).status_code == 303
    web_session = app.state.session_codec.read(browser.cookies["prism_session"])
    response = browser.post(
        "/logout", data={"csrf_token": web_session.csrf}, follow_redirects=False
    )
    assert response.status_code == 303
    assert _actions(db_session) == ["auth.login_failed", "auth.login", "auth.logout"]
    rows = db_session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
    assert rows[1].actor == "PRISM_ADMIN_TOKEN"
    assert rows[2].actor_id == "admin-env"
    assert rows[0].ip == "testclient"


def test_an_ingest_token_refused_at_sign_in_is_audited_with_its_id(
    app: FastAPI, db_session: Session, token_for: Callable[[str], dict[str, str]]
) -> None:
    token = token_for("ingest")["Authorization"].removeprefix("Bearer ")
    assert post_login(TestClient(app), token).status_code == 403
    row = _last(db_session)
    assert (row.action, row.target_type, row.detail) == (
        "auth.login_failed",
        "token",
        {"reason": "ingest scope"},
    )


# --- settings and tokens through the pages -------------------------------------------------


def test_setting_forms_audit_each_change_and_a_refused_form_writes_nothing(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session
) -> None:
    csrf = csrf_of(web_client)
    assert _actions(db_session) == ["auth.login"]
    refused = web_client.post("/settings", data={"key": "_x", "value": "v", "csrf_token": csrf})
    assert refused.status_code == 422
    missing = web_client.post("/settings/site.name", data={"value": "v", "csrf_token": csrf})
    assert missing.status_code == 404
    assert _actions(db_session) == ["auth.login"]
    for path, data in (
        ("/settings", {"key": "site.name", "value": "A"}),
        ("/settings/site.name", {"value": "B"}),
        ("/settings/site.name/delete", {}),
    ):
        response = web_client.post(path, data={**data, "csrf_token": csrf}, follow_redirects=False)
        assert response.status_code == 303, response.text
    assert _actions(db_session) == ["auth.login", "setting.set", "setting.set", "setting.delete"]
    db_session.expire_all()
    assert db_session.get(Setting, "site.name") is None
    changed = db_session.exec(select(AuditEvent).where(col(AuditEvent.id) == 3)).one()
    assert changed.detail == {"key": "site.name", "value": "B", "previous": "A", "created": False}


def test_token_forms_audit_creation_and_revocation(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session
) -> None:
    csrf = csrf_of(web_client)
    bad = web_client.post(
        "/settings/tokens/new", data={"name": "", "scope": "read", "csrf_token": csrf}
    )
    assert bad.status_code == 422
    created = web_client.post(
        "/settings/tokens/new", data={"name": "pager", "scope": "operate", "csrf_token": csrf}
    )
    assert created.status_code == 201
    token_id = _last(db_session).target_id
    revoked = web_client.post(
        f"/settings/tokens/{token_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert revoked.status_code == 303
    assert _actions(db_session) == ["auth.login", "token.create", "token.revoke"]


def test_each_token_row_shows_its_recent_actions(
    app: FastAPI,
    web_client: TestClient,
    db_session: Session,
    token_for: Callable[[str], dict[str, str]],
) -> None:
    headers = token_for("admin")  # a stored token named test-admin
    response = TestClient(app).put("/api/settings/site.name", json={"value": "x"}, headers=headers)
    assert response.status_code == 200
    token_id = _last(db_session).actor_id
    page = web_client.get("/settings").text
    row = page[page.index(f'<tr id="token-row-{token_id}">') :].split("</tr>")[0]
    assert "setting.set" in row
    assert "Created setting site.name" in row
    assert f'href="/audit?actorId={token_id}"' in row


# --- the operate scope in the browser ------------------------------------------------------


def test_an_operate_session_may_execute_runbooks_and_nothing_an_admin_does(
    operate_web_client: TestClient, csrf_of: CsrfOf, db_session: Session, runbook: Runbook
) -> None:
    page = operate_web_client.get("/runbooks/rb").text
    assert 'id="execute-form"' in page
    settings = operate_web_client.get("/settings").text
    assert 'id="token-create"' not in settings
    assert 'action="/settings"' not in settings
    assert 'data-section="audit"' not in settings  # no Audit link in the navigation
    csrf = csrf_of(operate_web_client)
    response = operate_web_client.post(
        "/runbooks/rb/execute", data={"csrf_token": csrf, "confirm": "1"}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    row = _last(db_session)
    assert (row.action, row.actor, row.scope, row.target_id) == (
        "runbook.execute",
        "test-operate",
        "operate",
        "rb",
    )
    refused = operate_web_client.post(
        "/settings", data={"key": "k", "value": "v", "csrf_token": csrf}
    )
    assert refused.status_code == 403
    assert operate_web_client.get("/audit").status_code == 403


def test_a_read_session_sees_no_execute_form(read_web_client: TestClient, runbook: Runbook) -> None:
    page = read_web_client.get("/runbooks/rb").text
    assert 'id="execute-form"' not in page
    assert "read-only" in page


# --- the Audit page ------------------------------------------------------------------------


def _seed(session: Session) -> None:
    for actor, action, target_type, target_id in (
        (Actor("alice", "tok-a", "admin"), "agent.delete", "agent", "a1"),
        (Actor("bob", "tok-b", "operate"), "runbook.execute", "runbook", "rb"),
        (Actor("cli:root", None, None), "token.revoke", "token", "tok-b"),
    ):
        record(
            session,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            summary=f"{action} <b>{target_id}</b>",
            detail={"why": "<script>alert(1)</script>"},
        )
    session.commit()


def test_admins_get_the_page_with_links_to_actors_and_targets(
    web_client: TestClient, db_session: Session
) -> None:
    _seed(db_session)
    response = web_client.get("/audit")
    assert response.status_code == 200
    page = response.text
    assert '<a href="/audit" data-section="audit"' in page  # the nav link, for admins
    for row_id in (2, 3, 4):
        assert f'id="audit-row-{row_id}"' in page
    assert 'href="/audit?actorId=tok-b"' in page
    assert 'href="/audit?actor=cli%3Aroot"' in page
    assert 'href="/agents/a1"' in page
    assert 'href="/runbooks/rb"' in page
    assert 'href="/settings?show_token=tok-b#tokens"' in page
    assert 'href="/audit?targetType=runbook&amp;targetId=rb"' in page
    assert "<b>" not in page and "<script>alert" not in page  # text, escaped
    assert 'href="/api/export/audit.csv"' in page
    assert 'data-live="on"' in page


def test_the_filters_narrow_the_rows_and_bad_ones_are_a_422(
    web_client: TestClient, db_session: Session
) -> None:
    _seed(db_session)
    page = web_client.get(
        "/audit", params={"actor": "bob"}, headers={**HX, "HX-Target": "audit-results"}
    )
    assert page.status_code == 200
    assert page.text.startswith('<div id="audit-results">')
    assert 'id="audit-row-3"' in page.text and 'id="audit-row-2"' not in page.text
    assert 'href="/api/export/audit.csv?actor=bob"' in page.text
    family = web_client.get("/audit", params={"action": "token.*"}).text
    assert 'id="audit-row-4"' in family and 'id="audit-row-3"' not in family
    bad = web_client.get("/audit", params={"since": "soon"})
    assert bad.status_code == 422
    assert "must be a date and time" in bad.text
    assert 'data-live="off"' in bad.text


def test_older_rows_are_a_keyset_page_away(web_client: TestClient, db_session: Session) -> None:
    for number in range(55):
        record(
            db_session,
            actor=Actor("a", None, None),
            action="x.y",
            target_type=None,
            target_id=None,
            summary=str(number),
        )
    db_session.commit()
    first = web_client.get("/audit").text
    assert 'id="audit-row-56"' in first and 'id="audit-row-6"' not in first
    older = first.split('id="audit-older" href="')[1].split('"')[0].replace("&amp;", "&")
    second = web_client.get(older).text
    assert 'id="audit-row-6"' in second and 'id="audit-row-7"' not in second
    assert 'data-live="off"' in second


def test_the_live_refresh_sends_only_the_rows_after_the_newest_shown(
    web_client: TestClient, db_session: Session
) -> None:
    _seed(db_session)
    response = web_client.get("/audit/rows", params={"after": "2"})
    assert response.status_code == 200
    assert 'id="audit-row-4"' in response.text and 'id="audit-row-3"' in response.text
    assert 'id="audit-row-2"' not in response.text
    assert "<html" not in response.text
    filtered = web_client.get("/audit/rows", params={"after": "0", "actor": "bob"}).text
    assert 'id="audit-row-3"' in filtered and 'id="audit-row-4"' not in filtered


def test_read_and_operate_sessions_get_no_audit_page_nor_link(
    read_web_client: TestClient, operate_web_client: TestClient
) -> None:
    for browser in (read_web_client, operate_web_client):
        assert browser.get("/audit").status_code == 403
        assert browser.get("/audit/rows").status_code == 403
        assert 'data-section="audit"' not in browser.get("/").text
