"""Token management on the settings page: shown once, field errors, revocation ends sessions."""

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.auth import tokens
from app.models import ApiToken
from tests.web.conftest import HX, sign_in

SECRET = re.compile(r'id="new-token-value" type="text" readonly value="(prism_[^"]+)"')


def token_count(db_session: Session) -> int:
    db_session.expire_all()
    return db_session.exec(select(func.count()).select_from(ApiToken)).one()


def test_a_created_token_is_shown_once_in_the_response(
    web_client: TestClient, csrf_of: Callable[[TestClient], str], db_session: Session
) -> None:
    response = web_client.post(
        "/settings/tokens/new",
        data={"name": "grafana", "scope": "read", "csrf_token": csrf_of(web_client)},
        follow_redirects=False,
    )
    assert response.status_code == 201
    match = SECRET.search(response.text)
    assert match is not None
    secret = match.group(1)
    assert "will not be shown again" in response.text
    assert secret not in response.headers.get("location", "")
    assert secret not in response.headers.get("set-cookie", "")
    assert response.headers["Cache-Control"] == "no-store"
    # It works as a token, and the page never shows it again.
    assert tokens.authenticate(session=db_session, plaintext=secret, admin_token=None) is not None
    again = web_client.get("/settings")
    assert "grafana" in again.text
    assert secret not in again.text
    assert 'id="new-token-value"' not in again.text


def test_with_htmx_the_tokens_section_alone_comes_back(
    web_client: TestClient, csrf_of: Callable[[TestClient], str]
) -> None:
    response = web_client.post(
        "/settings/tokens/new",
        data={"name": "bridge", "scope": "ingest", "csrf_token": csrf_of(web_client)},
        headers={**HX, "HX-Target": "tokens"},
    )
    assert response.status_code == 201
    assert response.text.lstrip().startswith('<section class="section card" id="tokens"')
    assert SECRET.search(response.text) is not None
    assert 'id="settings-table"' not in response.text


def test_bad_token_input_shows_field_errors_and_creates_nothing(
    web_client: TestClient, csrf_of: Callable[[TestClient], str], db_session: Session
) -> None:
    csrf = csrf_of(web_client)
    cases = [
        ({"name": "  ", "scope": "read"}, "name", "Enter a name"),
        ({"name": "n" * 201, "scope": "read"}, "name", "At most 200 characters"),
        ({"name": "ok", "scope": "root"}, "scope", "Choose one of: read, ingest, operate, admin"),
    ]
    for data, field, message in cases:
        response = web_client.post("/settings/tokens/new", data={**data, "csrf_token": csrf})
        assert response.status_code == 422, data
        assert f'<p class="field-error" id="{field}-error">' in response.text
        assert message in response.text
        assert 'aria-invalid="true"' in response.text
        assert SECRET.search(response.text) is None
    assert token_count(db_session) == 0


def test_creating_a_token_needs_the_csrf_token(web_client: TestClient, db_session: Session) -> None:
    response = web_client.post("/settings/tokens/new", data={"name": "x", "scope": "admin"})
    assert response.status_code == 403
    assert token_count(db_session) == 0


def test_the_list_shows_scope_prefix_use_and_revocation(
    web_client: TestClient, db_session: Session
) -> None:
    row, secret = tokens.create_token(session=db_session, name="ci-runner", scope="admin")
    tokens.authenticate(session=db_session, plaintext=secret, admin_token=None)
    gone, _ = tokens.create_token(session=db_session, name="old-laptop", scope="read")
    tokens.revoke_token(session=db_session, token_id=gone.id)
    page = web_client.get("/settings")
    assert f'id="token-row-{row.id}"' in page.text
    assert f"<code>{row.prefix}…</code>" in page.text
    assert secret not in page.text
    assert "Revoked" in page.text
    assert f"/settings/tokens/{gone.id}/revoke" not in page.text  # nothing left to revoke
    assert f"/settings/tokens/{row.id}/revoke" in page.text


def test_revoking_asks_first_then_the_token_stops_working(
    web_client: TestClient, csrf_of: Callable[[TestClient], str], db_session: Session
) -> None:
    row, secret = tokens.create_token(session=db_session, name="bridge", scope="ingest")
    confirm = web_client.get(
        f"/settings/tokens/{row.id}/revoke", headers={**HX, "HX-Target": f"token-row-{row.id}"}
    )
    assert confirm.text.lstrip().startswith(f'<tr id="token-row-{row.id}">')
    assert f'action="/settings/tokens/{row.id}/revoke"' in confirm.text
    assert web_client.get(f"/settings/tokens/{row.id}/revoke").status_code == 200
    assert tokens.authenticate(session=db_session, plaintext=secret, admin_token=None) is not None

    response = web_client.post(
        f"/settings/tokens/{row.id}/revoke",
        data={"csrf_token": csrf_of(web_client)},
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (
        303,
        f"/settings?revoked={row.id}",
    )
    db_session.expire_all()
    assert tokens.authenticate(session=db_session, plaintext=secret, admin_token=None) is None
    assert "revoked: it no longer works" in web_client.get(response.headers["location"]).text


def test_revoking_the_sessions_own_token_signs_it_out(
    anon_client: TestClient,
    csrf_of: Callable[[TestClient], str],
    db_session: Session,
) -> None:
    row, secret = tokens.create_token(session=db_session, name="me", scope="admin")
    client = sign_in(anon_client, secret)
    response = client.post(
        f"/settings/tokens/{row.id}/revoke",
        data={"csrf_token": csrf_of(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    follow = client.get("/settings", follow_redirects=False)
    assert follow.status_code == 303
    assert follow.headers["location"].startswith("/login")


def test_revoking_with_htmx_from_the_own_session_redirects_the_browser(
    anon_client: TestClient,
    csrf_of: Callable[[TestClient], str],
    db_session: Session,
) -> None:
    row, secret = tokens.create_token(session=db_session, name="me", scope="admin")
    client = sign_in(anon_client, secret)
    response = client.post(
        f"/settings/tokens/{row.id}/revoke",
        headers={**HX, "HX-Target": f"token-row-{row.id}", "X-CSRF-Token": csrf_of(client)},
        follow_redirects=False,
    )
    assert response.headers["HX-Redirect"].startswith("/login")


def test_revoking_an_unknown_token_is_not_found(
    web_client: TestClient, csrf_of: Callable[[TestClient], str]
) -> None:
    response = web_client.post(
        "/settings/tokens/nope/revoke", data={"csrf_token": csrf_of(web_client)}
    )
    assert response.status_code == 404
    assert "No such token" in response.text


def test_read_sessions_see_a_note_instead_of_tokens(
    read_web_client: TestClient, csrf_of: Callable[[TestClient], str], db_session: Session
) -> None:
    row, _ = tokens.create_token(session=db_session, name="hidden-from-readers", scope="admin")
    page = read_web_client.get("/settings")
    assert "hidden-from-readers" not in page.text
    assert "admins only" in page.text
    assert read_web_client.get(f"/settings/tokens/{row.id}/revoke").status_code == 403
    response = read_web_client.post(
        f"/settings/tokens/{row.id}/revoke", data={"csrf_token": csrf_of(read_web_client)}
    )
    assert response.status_code == 403
    db_session.expire_all()
    assert db_session.get(ApiToken, row.id).revoked_at is None  # type: ignore[union-attr]
