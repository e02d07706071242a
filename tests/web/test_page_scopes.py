"""Walk every page route with a session of each scope: each page declares the scope it needs.

Sessions are opened directly (an ingest token cannot sign in any more, but a page must not
rely on that alone), one per request, since a request may end it (signing out).
"""

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth import tokens
from app.auth.deps import WebScope
from app.auth.session import fingerprint_of, open_session
from app.auth.tokens import Principal
from app.core.scopes import SCOPES
from app.routers import WEB_ROUTERS

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Signing in cannot require being signed in.
PUBLIC = {("GET", "/login"), ("POST", "/login")}


def _web_scopes(dependant: Dependant) -> list[WebScope]:
    found = [dependant.call] if isinstance(dependant.call, WebScope) else []
    for sub in dependant.dependencies:
        found.extend(_web_scopes(sub))
    return found


def _pages() -> Iterator[tuple[str, str, APIRoute]]:
    for router in WEB_ROUTERS:
        for context in iter_route_contexts(router.routes):
            route = context.original_route
            assert isinstance(route, APIRoute), route
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                if (method, str(context.path)) not in PUBLIC:
                    yield method, str(context.path), route


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "probe-id", path)


def test_every_page_route_declares_exactly_one_scope() -> None:
    undeclared = [
        (method, path) for method, path, route in _pages() if len(_web_scopes(route.dependant)) != 1
    ]
    assert undeclared == []
    declared = {
        (method, path): _web_scopes(route.dependant)[0].required for method, path, route in _pages()
    }
    assert declared[("GET", "/settings")] == "read"
    assert declared[("POST", "/settings/tokens/new")] == "admin"
    assert declared[("POST", "/logout")] is None


@pytest.fixture
def session_of(
    app: FastAPI, db_session: Session, anon_client: TestClient
) -> Callable[[str], tuple[TestClient, str]]:
    """A client holding a fresh session of a token of `scope`, and the session's CSRF token."""
    made: dict[str, tuple[str, str]] = {}

    def make(scope: str) -> tuple[TestClient, str]:
        if scope not in made:
            row, plaintext = tokens.create_token(session=db_session, name=scope, scope=scope)
            made[scope] = (row.id, plaintext)
        token_id, plaintext = made[scope]
        cookie, web_session = app.state.session_codec.issue()
        open_session(
            session=db_session,
            web_session=web_session,
            principal=Principal(token_id=token_id, name=scope, scope=scope),
            fingerprint=fingerprint_of(tokens.hash_token(plaintext)),
        )
        return TestClient(app, cookies={"prism_session": cookie}), web_session.csrf

    return make


def test_each_page_answers_each_scope_as_it_declares(
    session_of: Callable[[str], tuple[TestClient, str]],
) -> None:
    outcomes = []
    for method, path, route in _pages():
        required = _web_scopes(route.dependant)[0].required
        for scope in SCOPES:
            client, csrf = session_of(scope)
            response = client.request(
                method,
                _concrete(path),
                data={"csrf_token": csrf} if method in UNSAFE else None,
                follow_redirects=False,
            )
            allowed = required is None or Principal("t", "t", scope).allows(required)
            signed_out = response.headers.get("location", "").startswith("/login")
            refused = response.status_code == 403
            if path == "/logout" and allowed:
                signed_out = False  # signing out lands on the login page, as it should
            outcomes.append((method, path, scope, allowed, refused or signed_out))
    wrong = [outcome for outcome in outcomes if outcome[3] == outcome[4]]
    assert wrong == []
    assert ("GET", "/", "ingest", False, True) in outcomes
    assert ("GET", "/cross/users", "ingest", False, True) in outcomes
    assert ("GET", "/settings", "read", True, False) in outcomes
    assert ("POST", "/settings", "read", False, True) in outcomes


def test_an_ingest_session_is_refused_with_a_403_naming_the_scope(
    session_of: Callable[[str], tuple[TestClient, str]],
) -> None:
    client, _ = session_of("ingest")
    response = client.get("/events", follow_redirects=False)
    assert response.status_code == 403
    assert "ingest" in response.json()["detail"]
