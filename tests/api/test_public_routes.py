"""The public surface: probes, /health, /metrics and the API docs answer without a token.

Each is asked by the same anonymous client that a protected route turns away, so a 200
here means the route is public, not that the client happened to hold a credential.
"""

import pytest
from fastapi.testclient import TestClient

PUBLIC_PATHS = [
    "/livez",
    "/healthz",
    "/readyz",
    "/health",
    "/api/health",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/redoc",
]


@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_public_route_answers_without_a_token(anon_client: TestClient, path: str) -> None:
    refused = anon_client.get("/api/agents")
    assert (refused.status_code, refused.json()) == (401, {"detail": "Missing token"})
    response = anon_client.get(path)
    assert response.status_code == 200, response.text
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_a_bad_token_does_not_close_a_public_route(anon_client: TestClient, path: str) -> None:
    # Clients that send their (stale) token everywhere still reach the probes and docs.
    response = anon_client.get(path, headers={"Authorization": "Bearer no-such-token"})
    assert response.status_code == 200, response.text
