"""Session cookies: Secure behind HTTPS (trusted proxies only), fixation, revocation, logout,
CSRF."""

import re
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.auth import tokens
from app.core.config import Settings
from app.core.middleware import parse_trusted_proxies
from app.main import create_app
from app.models import ApiToken
from tests.conftest import ADMIN_TOKEN
from tests.hardening.conftest import LogCapture, PeerClientFactory, running_server_like_prism_serve
from tests.support.signin import post_login
from tests.support.waits import HTTP_TIMEOUT

HTTPS = {"X-Forwarded-Proto": "https"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _session_cookie(response: httpx.Response) -> str:
    """The Set-Cookie header of the session cookie (a sign-in also clears the form's)."""
    [cookie] = [
        value
        for value in response.headers.get_list("set-cookie")
        if value.startswith("prism_session=")
    ]
    return cookie


def _cookie_after_login(client: TestClient, **headers: str) -> str:
    response = post_login(client, ADMIN_TOKEN, **headers)
    assert response.status_code == 303, response.text
    return _session_cookie(response)


def _is_secure(set_cookie: str) -> bool:
    return any(part.strip().lower() == "secure" for part in set_cookie.split(";"))


# --- Secure cookies and trusted proxies -----------------------------------------------------


def test_https_from_a_trusted_proxy_makes_the_cookie_secure(
    peer_client: PeerClientFactory,
) -> None:
    client = peer_client("10.0.0.2", trusted_proxies=["10.0.0.0/8"])
    assert _is_secure(_cookie_after_login(client, **HTTPS))
    assert not _is_secure(_cookie_after_login(client))  # plain HTTP through the same proxy


def test_https_claimed_by_an_untrusted_peer_is_ignored(peer_client: PeerClientFactory) -> None:
    client = peer_client("192.0.2.50", trusted_proxies=["10.0.0.0/8"])
    assert not _is_secure(_cookie_after_login(client, **HTTPS))


def test_no_proxy_is_trusted_unless_configured(peer_client: PeerClientFactory) -> None:
    client = peer_client("127.0.0.1")
    assert not _is_secure(_cookie_after_login(client, **HTTPS))


def test_a_direct_https_request_gets_a_secure_cookie(peer_client: PeerClientFactory) -> None:
    client = peer_client("192.0.2.50", base_url="https://testserver")
    assert _is_secure(_cookie_after_login(client))


@pytest.mark.parametrize(("trusted", "secure"), [(["127.0.0.1"], True), (["192.0.2.0/24"], False)])
def test_over_a_real_socket_only_a_trusted_peer_sets_the_scheme(
    app_settings: Settings, trusted: list[str], secure: bool
) -> None:
    app = create_app(app_settings.model_copy(update={"trusted_proxies": trusted}))
    with (
        running_server_like_prism_serve(app) as base_url,
        httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT) as http,
    ):
        response = post_login(http, ADMIN_TOKEN, **HTTPS)
    assert response.status_code == 303
    assert _is_secure(_session_cookie(response)) is secure


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("10.0.0.2", "203.0.113.7", "203.0.113.7"),
        # The rightmost address our proxies did not add is the client; the rest is hearsay.
        ("10.0.0.2", "1.1.1.1, 203.0.113.7, 10.0.0.3", "203.0.113.7"),
        ("10.0.0.2", "not-an-ip, 10.0.0.3", "10.0.0.3"),
        ("10.0.0.2", "", "10.0.0.2"),
        ("192.0.2.50", "203.0.113.7", "192.0.2.50"),
        ("2001:db8::5", "203.0.113.7", "2001:db8::5"),
        ("10.0.0.2", "[2001:db8::9]:4711", "2001:db8::9"),
        ("10.0.0.2", "198.51.100.4:4711", "198.51.100.4"),
        ("::ffff:10.0.0.2", "203.0.113.7", "203.0.113.7"),
    ],
)
def test_the_client_address_believes_x_forwarded_for_only_from_trusted_proxies(
    peer_client: PeerClientFactory,
    prism_logs: Callable[..., LogCapture],
    peer: str,
    forwarded_for: str,
    client: str,
) -> None:
    http = peer_client(peer, trusted_proxies=["10.0.0.0/8"])
    logs = prism_logs()
    http.get("/livez", headers={"X-Forwarded-For": forwarded_for})
    (line,) = logs.of("prism.access")
    assert line.client == client  # type: ignore[attr-defined]


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert [str(net) for net in parse_trusted_proxies(["10.0.0.1", "fd00::/8"])] == [
        "10.0.0.1/32",
        "fd00::/8",
    ]
    with pytest.raises(ValueError, match=r"'proxy\.local' is not an IP address or CIDR"):
        parse_trusted_proxies(["10.0.0.1", "proxy.local"])


# --- session fixation and revocation --------------------------------------------------------


def test_a_cookie_planted_before_sign_in_is_replaced_with_a_new_csrf(
    anon_client: TestClient,
    app: FastAPI,
    token_for: Callable[[str], dict[str, str]],
) -> None:
    # The attacker signs in with their own token and plants that cookie in the victim's browser.
    attacker = token_for("read")["Authorization"].removeprefix("Bearer ")
    post_login(anon_client, attacker)
    planted = anon_client.cookies["prism_session"]
    planted_session = app.state.session_codec.read(planted)
    # The victim signs in with their own token.
    post_login(anon_client, ADMIN_TOKEN)
    fresh = anon_client.cookies["prism_session"]
    fresh_session = app.state.session_codec.read(fresh)
    assert fresh != planted
    assert fresh_session.session_id != planted_session.session_id
    assert fresh_session.csrf != planted_session.csrf
    assert TestClient(app, cookies={"prism_session": fresh}).get("/api/tokens").status_code == 200
    # The attacker's copy of the old cookie still stands for the attacker's token only.
    old = TestClient(app, cookies={"prism_session": planted})
    assert old.get("/api/tokens").status_code == 403


def test_a_garbage_cookie_before_sign_in_is_replaced(anon_client: TestClient, app: FastAPI) -> None:
    anon_client.cookies.set("prism_session", "attacker-chosen-value", domain="testserver.local")
    post_login(anon_client, ADMIN_TOKEN)
    fresh = anon_client.cookies["prism_session"]
    assert fresh != "attacker-chosen-value"
    assert app.state.session_codec.read(fresh) is not None


def test_an_old_session_cookie_of_a_revoked_token_no_longer_works(
    app: FastAPI,
    anon_client: TestClient,
    db_session: Session,
    token_for: Callable[[str], dict[str, str]],
) -> None:
    plaintext = token_for("admin")["Authorization"].removeprefix("Bearer ")
    post_login(anon_client, plaintext)
    saved = anon_client.cookies["prism_session"]
    token = db_session.exec(select(ApiToken)).one()
    tokens.revoke_token(session=db_session, token_id=token.id)
    replay = TestClient(app, cookies={"prism_session": saved})
    assert replay.get("/api/agents").status_code == 401
    page = replay.get("/agents", follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/login?next=/agents")


# --- logout ends the session, on every replica ------------------------------------------------


def test_logout_clears_the_cookie_with_the_flags_it_was_set_with(
    peer_client: PeerClientFactory,
) -> None:
    client = peer_client("192.0.2.50", base_url="https://testserver")
    post_login(client, ADMIN_TOKEN)
    codec = client.app.state.session_codec  # type: ignore[attr-defined]
    csrf = codec.read(client.cookies["prism_session"]).csrf
    response = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    cleared = _session_cookie(response)
    parts = {part.strip().split("=")[0].lower() for part in cleared.split(";")}
    assert {"httponly", "secure", "samesite", "max-age"} <= parts
    assert "SameSite=lax" in cleared
    assert "Max-Age=0" in cleared


def test_logout_on_one_replica_ends_the_session_on_the_other(
    peer_client: PeerClientFactory,
) -> None:
    one, other = peer_client(), peer_client()
    post_login(one, ADMIN_TOKEN)
    cookie = one.cookies["prism_session"]
    on_other = TestClient(other.app, cookies={"prism_session": cookie})
    assert on_other.get("/api/agents").status_code == 200
    csrf = one.app.state.session_codec.read(cookie).csrf  # type: ignore[attr-defined]
    assert one.post("/logout", data={"csrf_token": csrf}).status_code == 200
    assert on_other.get("/api/agents").status_code == 401


# --- CSRF: every state-changing route refuses a cookie without the token -------------------


def _unsafe_routes(app: FastAPI, *, web: bool) -> list[tuple[str, str]]:
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.route
        if context.methods is None or context.path is None or context.path == "/login":
            continue
        if bool(getattr(route, "include_in_schema", True)) is web:
            continue
        found.extend((method, context.path) for method in sorted(context.methods & UNSAFE))
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "probe-id", path)


def _signed_in(app: FastAPI, **headers: str) -> TestClient:
    client = TestClient(app)
    response = post_login(client, ADMIN_TOKEN, **headers)
    assert response.status_code == 303
    return client


def test_every_web_form_route_refuses_a_signed_in_session_without_the_csrf_token(
    app: FastAPI, anon_client: TestClient
) -> None:
    routes = _unsafe_routes(app, web=True)
    assert ("POST", "/logout") in routes
    assert ("POST", "/settings/tokens/new") in routes
    client = _signed_in(app)
    other = app.state.session_codec.read(_signed_in(app).cookies["prism_session"]).csrf
    for method, path in routes:
        for form in ({}, {"csrf_token": ""}, {"csrf_token": other}):
            response = client.request(method, _concrete(path), data=form, follow_redirects=False)
            assert response.status_code == 403, (method, path, form, response.status_code)
        forged = client.request(
            method, _concrete(path), headers={"X-CSRF-Token": other}, follow_redirects=False
        )
        assert forged.status_code == 403, (method, path, "header")


def test_every_api_write_refuses_a_session_cookie_without_the_csrf_header(
    app: FastAPI, anon_client: TestClient
) -> None:
    routes = _unsafe_routes(app, web=False)
    assert ("POST", "/api/agents") in routes
    client = _signed_in(app)
    for method, path in routes:
        response = client.request(method, _concrete(path), json={}, follow_redirects=False)
        assert response.status_code == 403, (method, path, response.status_code)
        assert response.json() == {"detail": "CSRF token missing or invalid"}


def test_a_cross_site_request_is_refused_even_with_the_right_csrf_token(
    app: FastAPI, anon_client: TestClient
) -> None:
    client = _signed_in(app)
    csrf = app.state.session_codec.read(client.cookies["prism_session"]).csrf
    for headers in (
        {"Origin": "https://evil.example", "X-CSRF-Token": csrf},
        {"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": csrf},
    ):
        form = client.post("/settings", data={"key": "k", "value": "v"}, headers=headers)
        assert form.status_code == 403, headers
        assert form.json()["detail"].startswith("Cross-site request refused")
        api = client.put("/api/settings/k", json={"value": "v"}, headers=headers)
        assert api.status_code == 403, headers
        assert api.json()["detail"].startswith("Cross-site request refused")
    same = client.put(
        "/api/settings/k",
        json={"value": "v"},
        headers={
            "Origin": "http://testserver",
            "Sec-Fetch-Site": "same-origin",
            "X-CSRF-Token": csrf,
        },
    )
    assert same.status_code == 200, same.text
