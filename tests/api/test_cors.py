"""CORS with PRISM_CORS_ORIGINS: the listed origins with credentials, preflights answered.

The earlier service's browser clients send cookies, so the listed origins get
`Access-Control-Allow-Credentials: true`; any other origin gets no CORS header at all.
"""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.hardening.conftest import assert_security_headers

LISTED = "https://dash.example"
OTHER = "https://evil.example"


def cors_headers(response: Any) -> dict[str, str]:
    headers = response.headers
    return {
        name.lower(): value
        for name, value in headers.items()
        if name.lower().startswith("access-control-")
    }


def vary(response: Any) -> set[str]:
    value = response.headers.get("vary", "")
    return {part.strip().lower() for part in value.split(",") if part.strip()}


@pytest.fixture
def cors(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(cors_origins=[LISTED, "https://ops.example"])


def test_a_listed_origin_is_allowed_with_credentials(cors: TestClient) -> None:
    response = cors.get("/api/agents", headers={"Origin": LISTED})
    assert response.status_code == 200
    headers = cors_headers(response)
    assert headers["access-control-allow-origin"] == LISTED
    assert headers["access-control-allow-credentials"] == "true"
    assert "x-request-id" in headers["access-control-expose-headers"].lower()
    assert "origin" in vary(response)


def test_a_preflight_from_a_listed_origin_is_answered(cors: TestClient) -> None:
    response = cors.options(
        "/api/agents",
        headers={
            "Origin": LISTED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-csrf-token",
        },
    )
    assert response.status_code == 200
    headers = cors_headers(response)
    assert headers["access-control-allow-origin"] == LISTED
    assert headers["access-control-allow-credentials"] == "true"
    assert "POST" in headers["access-control-allow-methods"].split(", ")
    allowed = {name.strip() for name in headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "x-csrf-token"} <= allowed
    assert_security_headers(response)


def test_an_error_answer_to_a_listed_origin_is_readable_too(cors: TestClient) -> None:
    response = cors.get("/api/agents", headers={"Origin": LISTED, "Authorization": "Bearer no"})
    assert response.status_code == 401
    assert cors_headers(response)["access-control-allow-origin"] == LISTED


def test_an_unlisted_origin_gets_no_cors_header(cors: TestClient) -> None:
    response = cors.get("/api/agents", headers={"Origin": OTHER})
    assert response.status_code == 200  # the answer itself is unchanged; the browser hides it
    assert cors_headers(response) == {}
    assert "origin" in vary(response)


def test_a_preflight_from_an_unlisted_origin_gets_no_cors_header(cors: TestClient) -> None:
    response = cors.options(
        "/api/agents",
        headers={"Origin": OTHER, "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 400
    assert cors_headers(response) == {}
    assert_security_headers(response)


def test_without_cors_origins_nobody_gets_cors_headers(
    make_client: Callable[..., TestClient],
) -> None:
    plain = make_client()
    assert cors_headers(plain.get("/api/agents", headers={"Origin": LISTED})) == {}


def test_a_wildcard_allows_any_origin_but_never_with_credentials(
    make_client: Callable[..., TestClient],
) -> None:
    anyone = make_client(cors_origins=["*"])
    headers = cors_headers(anyone.get("/api/agents", headers={"Origin": OTHER}))
    assert headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in headers
