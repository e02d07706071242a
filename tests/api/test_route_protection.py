"""Walk the whole route table: only the probes, /health, /metrics, tiles and docs are public."""

import re

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

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
