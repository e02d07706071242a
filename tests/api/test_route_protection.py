"""Walk the whole route table: only the probes, /health, /metrics, tiles and docs are public,
and every API route refuses (403) the scopes too small for it and serves the others."""

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from app.auth.deps import scopes_of
from app.auth.tokens import Principal
from app.live.sse import EventStreamResponse

PUBLIC = {
    ("GET", "/livez"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/health"),
    ("GET", "/api/health"),
    ("GET", "/metrics"),
    ("GET", "/miners/tiles"),
    # The API's documentation, as the earlier service served it (PRISM_DOCS_PUBLIC).
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    # Signing in cannot require being signed in.
    ("GET", "/login"),
    ("POST", "/login"),
}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "probe-id", path)


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for context in iter_route_contexts(app.routes):
        if context.methods is None or context.path is None:
            continue  # mounts (static files)
        found.extend((method, context.path) for method in context.methods - {"HEAD", "OPTIONS"})
    return sorted(found)


def test_every_route_but_the_public_ones_requires_a_token(
    app: FastAPI, anon_client: TestClient
) -> None:
    protected = [route for route in _routes(app) if route not in PUBLIC]
    assert ("GET", "/api/agents") in protected
    for method, path in protected:
        response = anon_client.request(method, _concrete(path), follow_redirects=False)
        if response.headers.get("content-type", "").startswith("application/json"):
            assert response.status_code == 401, f"{method} {path} answered {response.status_code}"
            assert response.json() == {"detail": "Missing token"}
        else:
            # HTML pages send the browser to sign in instead.
            assert response.status_code == 303, f"{method} {path} answered {response.status_code}"
            assert response.headers["location"].startswith("/login")


# --- scopes: every API route, each token scope ------------------------------------------

SCOPE_ORDER = ("read", "ingest", "operate", "admin")


def _api_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            if (method, str(context.path)) not in PUBLIC:
                found.append((method, str(context.path), route))
    return found


def _required(route: APIRoute) -> str:
    """The scope a route needs: the largest of the Scope dependencies it declares."""
    required = [scope.required for scope in scopes_of(route.dependant)]
    assert required, f"{route.path} declares no scope"
    return "admin" if "admin" in required else required[-1]


def test_every_api_route_answers_each_scope_as_it_declares(
    app: FastAPI, anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> None:
    """403 for a scope too small, and never 401 / 403 for one that suffices."""
    headers = {scope: token_for(scope) for scope in SCOPE_ORDER}
    wrong = []
    declared = {}
    for method, path, route in _api_routes(app):
        required = _required(route)
        declared[(method, path)] = required
        streams = route.response_class is EventStreamResponse
        for scope in SCOPE_ORDER:
            allowed = Principal("t", "t", scope).allows(required)
            if allowed and streams:
                continue  # an open stream never ends by itself: its refusals are checked
            response = anon_client.request(
                method, _concrete(path), headers=headers[scope], follow_redirects=False
            )
            if (response.status_code == 403) == allowed or response.status_code == 401:
                wrong.append((method, path, scope, response.status_code))
    assert wrong == []
    assert declared[("POST", "/api/runbooks/{runbook_id}/execute")] == "operate"
    assert declared[("POST", "/api/runbooks")] == "admin"
    assert declared[("GET", "/api/audit")] == "admin"
    assert declared[("GET", "/api/agents")] == "read"
    assert declared[("POST", "/api/miners/sample")] == "ingest"


def test_the_openapi_descriptions_that_name_a_scope_name_the_one_required(
    app: FastAPI, client: TestClient
) -> None:
    document = client.get("/openapi.json").json()
    named = {}
    for method, path, route in _api_routes(app):
        description = document["paths"][path][method.lower()].get("description", "")
        found = re.findall(r"Scope: `(\w+)`", description)
        if found:
            named[(method, path)] = found[0]
            assert found[0] == _required(route), (method, path)
    for route in [
        ("POST", "/api/runbooks/{runbook_id}/execute"),
        ("PUT", "/api/settings/{key}"),
        ("POST", "/api/tokens"),
        ("GET", "/api/audit"),
        ("DELETE", "/api/agents/{agent_id}"),
        ("PATCH", "/api/metrics/{metric_id}"),
    ]:
        assert route in named, route
