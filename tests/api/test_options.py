"""OPTIONS and 405 name every method of the path (RFC 9110 §9.3.7 and §15.5.6).

Each (method, path) is a route of its own, so the router's 405 listed only the methods of
the first route matching the path, and OPTIONS, which no route declares, got that 405 too.
Every path of the service is walked here, pages included.
"""

import re
from collections import defaultdict

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from app.core.allowed_methods import ROUTE_METHODS


def _methods_by_path(app: FastAPI) -> dict[str, set[str]]:
    """Each path template of the app and the methods its routes have, OPTIONS added."""
    found: dict[str, set[str]] = defaultdict(lambda: {"OPTIONS"})
    for route in iter_route_contexts(app.router.routes):
        methods = getattr(route, "methods", None)
        if methods:  # a mounted app (/static) has none: it answers for itself
            found[route.path] |= set(methods)
    return dict(found)


def _example(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x-1", path)


def _template_matches(template: str, path: str) -> bool:
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, path) is not None


def _methods_of(paths: dict[str, set[str]], path: str) -> set[str]:
    """Every method of every template matching `path`: /api/miners/sample is also the
    miner "sample" of PUT /api/miners/{miner_id}."""
    found: set[str] = set()
    for template, methods in paths.items():
        if _template_matches(template, path):
            found |= methods
    return found


def test_every_path_is_found(app: FastAPI) -> None:
    paths = _methods_by_path(app)
    assert {"/api/agents", "/api/agents/{agent_id}", "/agents", "/events"} <= set(paths)
    assert paths["/api/agents/{agent_id}"] == {"GET", "PUT", "PATCH", "DELETE", "OPTIONS"}


def test_options_answers_every_method_of_every_path(client: TestClient, app: FastAPI) -> None:
    paths = _methods_by_path(app)
    for path in paths:
        methods = _methods_of(paths, _example(path))
        response = client.options(_example(path))
        assert response.status_code == 204, (path, response.status_code)
        allow = [method.strip() for method in response.headers["allow"].split(",")]
        assert set(allow) == methods, path
        assert allow == [m for m in (*ROUTE_METHODS, "OPTIONS") if m in methods], path
        assert response.content == b""


def test_options_needs_no_token_and_carries_the_usual_headers(
    anon_client: TestClient,
) -> None:
    response = anon_client.options("/api/settings/theme", headers={"X-Request-ID": "req-opt"})
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, PUT, DELETE, OPTIONS"
    assert response.headers["X-Request-ID"] == "req-opt"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/api/agents/agent-1", "GET, PUT, PATCH, DELETE, OPTIONS"),
        ("DELETE", "/api/agents", "GET, POST, OPTIONS"),
        ("PUT", "/api/metrics/uptime", "GET, PATCH, DELETE, OPTIONS"),
        ("GET", "/api/runbooks/rb-1/execute", "POST, OPTIONS"),
        ("PATCH", "/events", "GET, POST, OPTIONS"),  # the events page and the bridge
    ],
)
def test_a_method_the_path_lacks_is_405_listing_all_it_has(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow


def test_an_unknown_path_is_still_404(client: TestClient) -> None:
    assert client.options("/api/nothing-here").status_code == 404
    assert client.options("/api/agents/a/b/c").status_code == 404
