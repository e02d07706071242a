"""The public surface: probes, /health and /metrics exist and answer without a token."""

import pytest
from fastapi.testclient import TestClient

PUBLIC_PATHS = ["/livez", "/healthz", "/readyz", "/health", "/api/health", "/metrics"]


@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_public_route_answers_without_a_token(anon_client: TestClient, path: str) -> None:
    response = anon_client.get(path)
    assert response.status_code == 200, response.text
    assert "authorization" not in {name.lower() for name in response.request.headers}
