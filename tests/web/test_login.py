"""Signing in with a token: cookie flags, CSRF, logout, revocation, and redirects."""

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models import ApiToken
from app.services import tokens
from tests.conftest import ADMIN_TOKEN


def test_the_login_page_needs_no_session(anon_client: TestClient) -> None:
    response = anon_client.get("/login")
    assert response.status_code == 200
    assert 'name="token"' in response.text
    assert response.headers["Vary"].startswith("HX-Request")


def test_a_bad_token_is_refused_with_a_message(anon_client: TestClient) -> None:
    response = anon_client.post("/login", data={"token": "wrong"}, follow_redirects=False)
    assert response.status_code == 401
    assert "not valid" in response.text
    assert "prism_session" not in response.headers.get("set-cookie", "")


def test_signing_in_sets_a_signed_httponly_samesite_cookie(anon_client: TestClient) -> None:
    response = anon_client.post(
        "/login", data={"token": ADMIN_TOKEN, "next": "/agents"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/agents"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("prism_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert ADMIN_TOKEN not in cookie


def test_next_never_leaves_the_site(anon_client: TestClient) -> None:
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = anon_client.post(
            "/login", data={"token": ADMIN_TOKEN, "next": evil}, follow_redirects=False
        )
        assert response.headers["location"] == "/"


def test_a_session_cookie_reads_the_api_and_a_new_login_mints_a_new_csrf(
    anon_client: TestClient,
) -> None:
    anon_client.post("/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
    assert anon_client.get("/api/agents").status_code == 200
    first = anon_client.cookies.get("prism_session")
    anon_client.post("/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
    assert anon_client.cookies.get("prism_session") != first


def test_cookie_authenticated_api_writes_need_the_csrf_header(anon_client: TestClient) -> None:
    anon_client.post("/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
    body = {"id": "a-1", "name": "A", "domain": "ops"}
    refused = anon_client.post("/api/agents", json=body)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "CSRF token missing or invalid"}


def test_logout_needs_csrf_and_ends_the_session(anon_client: TestClient, app: FastAPI) -> None:
    anon_client.post("/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
    web_session = app.state.session_codec.read(anon_client.cookies["prism_session"])
    assert anon_client.post("/logout", follow_redirects=False).status_code == 403
    response = anon_client.post(
        "/logout", data={"csrf_token": web_session.csrf}, follow_redirects=False
    )
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert anon_client.get("/api/agents").status_code == 401


def test_revoking_the_token_ends_its_browser_sessions(
    anon_client: TestClient, db_session: Session, token_for: Callable[[str], dict[str, str]]
) -> None:
    headers = token_for("read")
    plaintext = headers["Authorization"].removeprefix("Bearer ")
    anon_client.post("/login", data={"token": plaintext}, follow_redirects=False)
    assert anon_client.get("/api/agents").status_code == 200
    token = db_session.exec(select(ApiToken)).one()
    tokens.revoke_token(session=db_session, token_id=token.id)
    assert anon_client.get("/api/agents").status_code == 401


def test_a_tampered_cookie_is_ignored(anon_client: TestClient) -> None:
    anon_client.cookies.set("prism_session", "forged.value.here")
    assert anon_client.get("/api/agents").status_code == 401
