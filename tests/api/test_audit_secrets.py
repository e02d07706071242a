"""No secret reaches the audit log: tokens (created, signed in with, mistyped), passwords in
URLs and secret-named settings, session cookies and CSRF tokens are planted, then searched
for in the rows, the API, the exports, the Audit page and the logs."""

import json
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.audit.service import Actor, record
from tests.conftest import ADMIN_TOKEN, AUTH
from tests.support.signin import post_login

WRONG_TOKEN = "prism_" + "W" * 43
URL_PASSWORD = "hunter2-url-password"
SETTING_SECRET = "s3cr3t-smtp-password"


def _everything(client: TestClient, app: FastAPI) -> str:
    """Every place the log can be read, as one text."""
    parts = [
        client.get("/api/audit", headers=AUTH).text,
        client.get("/api/export/audit.csv", headers=AUTH).text,
        client.get("/api/export/audit.json", headers=AUTH).text,
    ]
    viewer = TestClient(app)
    assert post_login(viewer, ADMIN_TOKEN).status_code == 303
    audit_page = viewer.get("/audit").text
    # The page's own forms carry the viewer's CSRF token: only its log is searched.
    parts.append(audit_page[audit_page.index('<div id="audit-results">') :])
    settings = viewer.get("/settings").text  # the editor shows values; its token rows do not
    parts.append(settings[settings.index('<table id="tokens-table">') :].split("</table>")[0])
    return "\n".join(parts)


def test_planted_secrets_appear_nowhere(
    app: FastAPI,
    anon_client: TestClient,
    db_session: Session,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    browser = TestClient(app)
    # A sign-in refused (the token tried), one accepted (the admin token), a session.
    assert post_login(browser, WRONG_TOKEN).status_code == 401
    assert post_login(browser, ADMIN_TOKEN).status_code == 303
    cookie = browser.cookies["prism_session"]
    web_session = app.state.session_codec.read(cookie)
    assert web_session is not None
    csrf = str(web_session.csrf)
    # A token created through the API, and one through the settings page.
    created = anon_client.post("/api/tokens", json={"name": "ci", "scope": "read"}, headers=AUTH)
    api_secret = created.json()["token"]
    page = browser.post(
        "/settings/tokens/new", data={"name": "page", "scope": "operate", "csrf_token": csrf}
    )
    assert page.status_code == 201
    page_secret = page.text.split('id="new-token-value" type="text" readonly value="')[1][:49]
    assert page_secret.startswith("prism_")
    # Secrets in settings: a password, and a URL with its password.
    for key, value in (
        ("smtp.password", SETTING_SECRET),
        ("alert.webhook_url", f"json://bot:{URL_PASSWORD}@hooks.example/x"),
    ):
        response = anon_client.put(f"/api/settings/{key}", json={"value": value}, headers=AUTH)
        assert response.status_code == 200
    # A caller passing a channel's URL (the alerts feature masks it first; this is the net).
    record(
        db_session,
        actor=Actor(name="ci", actor_id=None, scope="admin"),
        action="channel.update",
        target_type="channel",
        target_id="ops",
        summary="Changed channel ops",
        detail={"url": f"mailtos://me:{URL_PASSWORD}@smtp.example"},
    )
    db_session.commit()
    logout = browser.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert logout.status_code == 303

    seen = _everything(anon_client, app)
    actions = [
        item["action"] for item in anon_client.get("/api/audit", headers=AUTH).json()["items"]
    ]
    assert {"auth.login_failed", "auth.login", "token.create", "setting.set", "auth.logout"} <= set(
        actions
    )
    logs = "\n".join(
        f"{record.getMessage()} {json.dumps(record.__dict__, default=str)}"
        for record in caplog.records
    )
    secrets = {
        "mistyped token": WRONG_TOKEN,
        "its prefix": WRONG_TOKEN[:12],
        "admin token": ADMIN_TOKEN,
        "API token": api_secret,
        "page token": page_secret,
        "session cookie": cookie,
        "CSRF token": csrf,
        "setting password": SETTING_SECRET,
        "URL password": URL_PASSWORD,
    }
    for name, secret in secrets.items():
        assert secret not in seen, f"{name} in the audit log's readers"
    for name in ("API token", "page token", "session cookie", "CSRF token", "URL password"):
        assert secrets[name] not in logs, f"{name} in the logs"


def test_a_failed_sign_in_names_the_address_and_never_the_token(
    app: FastAPI, anon_client: TestClient
) -> None:
    browser = TestClient(app)
    assert post_login(browser, WRONG_TOKEN, **{"X-Forwarded-For": "203.0.113.9"}).status_code == 401
    [row] = anon_client.get("/api/audit", headers=AUTH).json()["items"]
    assert row["action"] == "auth.login_failed"
    assert row["actor"] == "anonymous"
    assert row["actorId"] is None
    assert row["ip"] == "testclient"  # the peer: X-Forwarded-For only from trusted proxies
    assert row["detail"] == {"reason": "unknown token"}
    assert "W" * 8 not in json.dumps(row)
