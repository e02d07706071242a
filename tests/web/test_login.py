"""Signing in with a token: cookie flags, the form's CSRF defences, scope, sessions that end."""

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select

from app.auth import tokens
from app.core.timeutil import utcnow
from app.models import ApiToken
from app.models.token import BrowserSession
from tests.conftest import ADMIN_TOKEN
from tests.support.limits import login_limits_standing_still
from tests.support.signin import LOGIN_CSRF_COOKIE, login_form_token, post_login


@pytest.fixture(autouse=True)
def _login_limits_standing_still(app: FastAPI) -> Iterator[None]:
    """Each test starts with the whole sign-in allowance, on a clock that stands still: the
    failures of earlier tests on the shared app, and how long they took, count for nothing."""
    with login_limits_standing_still(app):
        yield


def _plaintext(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def test_the_login_page_needs_no_session(anon_client: TestClient) -> None:
    response = anon_client.get("/login")
    assert response.status_code == 200
    assert 'name="token"' in response.text
    assert response.headers["Vary"].startswith("HX-Request")


def test_the_form_carries_a_fresh_csrf_token_also_set_as_an_httponly_cookie(
    anon_client: TestClient,
) -> None:
    first = login_form_token(anon_client)
    cookie = anon_client.get("/login").headers["set-cookie"]
    assert cookie.startswith(f"{LOGIN_CSRF_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/login" in cookie
    assert login_form_token(anon_client) != first


def test_a_bad_token_is_refused_with_a_message(anon_client: TestClient) -> None:
    response = post_login(anon_client, "wrong")
    assert response.status_code == 401
    assert "not valid" in response.text
    assert "prism_session" not in response.headers.get("set-cookie", "")


def test_signing_in_sets_a_signed_httponly_samesite_cookie(anon_client: TestClient) -> None:
    response = post_login(anon_client, ADMIN_TOKEN, data={"next": "/agents"})
    assert response.status_code == 303
    assert response.headers["location"] == "/agents"
    cookie = response.headers.get_list("set-cookie")[0]
    assert cookie.startswith("prism_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert ADMIN_TOKEN not in cookie


def test_next_never_leaves_the_site(anon_client: TestClient) -> None:
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = post_login(anon_client, ADMIN_TOKEN, data={"next": evil})
        assert response.headers["location"] == "/"


# --- login CSRF: another site cannot sign a browser in ---------------------------------------


def test_a_sign_in_without_the_forms_csrf_token_is_refused(anon_client: TestClient) -> None:
    response = anon_client.post("/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
    assert response.status_code == 403
    assert "expired or came from another site" in response.text
    assert "prism_session" not in response.headers.get("set-cookie", "")


def test_a_sign_in_whose_field_does_not_match_its_cookie_is_refused(
    anon_client: TestClient,
) -> None:
    login_form_token(anon_client)  # the browser holds this form's cookie
    response = anon_client.post(
        "/login",
        data={"token": ADMIN_TOKEN, "csrf_token": "a-token-the-attacker-made-up"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "prism_session" not in response.headers.get("set-cookie", "")


def test_a_cross_origin_sign_in_is_refused_even_with_a_valid_form_token(
    anon_client: TestClient,
) -> None:
    for header in ({"Origin": "https://evil.example"}, {"Origin": "null"}):
        response = post_login(anon_client, ADMIN_TOKEN, **header)
        assert response.status_code == 403, header
        assert "prism_session" not in response.headers.get("set-cookie", "")


def test_a_cross_site_or_same_site_fetch_is_refused(anon_client: TestClient) -> None:
    for site in ("cross-site", "same-site"):
        response = post_login(anon_client, ADMIN_TOKEN, **{"Sec-Fetch-Site": site})
        assert response.status_code == 403, site


def test_the_sites_own_browser_requests_sign_in(anon_client: TestClient) -> None:
    for headers in (
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
        {"Origin": "http://testserver"},
    ):
        assert post_login(anon_client, ADMIN_TOKEN, **headers).status_code == 303, headers


def test_the_public_url_is_an_own_origin_behind_a_proxy_that_rewrites_host(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(public_url="https://console.example")
    client.headers.clear()
    headers = {"Origin": "https://console.example", "Host": "127.0.0.1:8000"}
    assert post_login(client, ADMIN_TOKEN, **headers).status_code == 303


# --- scope -----------------------------------------------------------------------------------


def test_an_ingest_token_cannot_sign_in(
    anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> None:
    response = post_login(anon_client, _plaintext(token_for("ingest")))
    assert response.status_code == 403
    assert "has the ingest scope" in response.text
    assert "prism_session" not in response.headers.get("set-cookie", "")


def test_read_and_admin_tokens_sign_in(
    anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> None:
    for scope in ("read", "admin"):
        browser = TestClient(anon_client.app)
        assert post_login(browser, _plaintext(token_for(scope))).status_code == 303


# --- sessions --------------------------------------------------------------------------------


def test_a_session_cookie_reads_the_api_and_a_new_login_mints_a_new_csrf(
    anon_client: TestClient,
) -> None:
    post_login(anon_client, ADMIN_TOKEN)
    assert anon_client.get("/api/agents").status_code == 200
    first = anon_client.cookies.get("prism_session")
    post_login(anon_client, ADMIN_TOKEN)
    assert anon_client.cookies.get("prism_session") != first


def test_cookie_authenticated_api_writes_need_the_csrf_header(anon_client: TestClient) -> None:
    post_login(anon_client, ADMIN_TOKEN)
    body = {"id": "a-1", "name": "A", "domain": "ops"}
    refused = anon_client.post("/api/agents", json=body)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "CSRF token missing or invalid"}


def test_logout_needs_csrf_and_ends_the_session(
    anon_client: TestClient, csrf_of: Callable[[TestClient], str]
) -> None:
    post_login(anon_client, ADMIN_TOKEN)
    assert anon_client.post("/logout", follow_redirects=False).status_code == 403
    response = anon_client.post(
        "/logout", data={"csrf_token": csrf_of(anon_client)}, follow_redirects=False
    )
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert anon_client.get("/api/agents").status_code == 401


def test_a_copy_of_the_cookie_stops_working_at_logout(
    app: FastAPI, anon_client: TestClient, csrf_of: Callable[[TestClient], str]
) -> None:
    post_login(anon_client, ADMIN_TOKEN)
    copy = TestClient(app, cookies={"prism_session": anon_client.cookies["prism_session"]})
    assert copy.get("/api/agents").status_code == 200
    anon_client.post("/logout", data={"csrf_token": csrf_of(anon_client)})
    assert copy.get("/api/agents").status_code == 401
    page = copy.get("/agents", follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/login?next=/agents")


def test_signing_out_in_one_browser_leaves_the_others_signed_in(
    app: FastAPI, anon_client: TestClient, csrf_of: Callable[[TestClient], str]
) -> None:
    other = TestClient(app)
    post_login(anon_client, ADMIN_TOKEN)
    post_login(other, ADMIN_TOKEN)
    anon_client.post("/logout", data={"csrf_token": csrf_of(anon_client)})
    assert other.get("/api/agents").status_code == 200


def test_revoking_the_token_ends_its_browser_sessions(
    anon_client: TestClient, db_session: Session, token_for: Callable[[str], dict[str, str]]
) -> None:
    post_login(anon_client, _plaintext(token_for("read")))
    assert anon_client.get("/api/agents").status_code == 200
    token = db_session.exec(select(ApiToken)).one()
    tokens.revoke_token(session=db_session, token_id=token.id)
    assert anon_client.get("/api/agents").status_code == 401
    assert db_session.exec(select(BrowserSession)).all() == []


def test_an_expired_session_ends_even_with_a_fresh_looking_cookie(
    anon_client: TestClient, db_session: Session
) -> None:
    post_login(anon_client, ADMIN_TOKEN)
    db_session.execute(update(BrowserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    db_session.commit()
    assert anon_client.get("/api/agents").status_code == 401


def test_a_cookie_signed_before_sessions_were_stored_no_longer_works(
    app: FastAPI, anon_client: TestClient
) -> None:
    # The earlier cookie named the token and a fingerprint; it must not outlive a logout.
    serializer = app.state.session_codec._serializer
    old = serializer.dumps({"t": tokens.ADMIN_BOOTSTRAP.token_id, "f": "0" * 32, "c": "x"})
    assert TestClient(app, cookies={"prism_session": old}).get("/api/agents").status_code == 401


def test_a_tampered_cookie_is_ignored(anon_client: TestClient) -> None:
    anon_client.cookies.set("prism_session", "forged.value.here")
    assert anon_client.get("/api/agents").status_code == 401
