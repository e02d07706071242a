"""Security headers and the request id are on every response: successes, errors, 429s, 500s."""

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.core.middleware import CONTENT_SECURITY_POLICY, SECURITY_HEADERS
from app.main import create_app
from tests.conftest import AUTH
from tests.hardening.conftest import assert_security_headers
from tests.support.fake_gateway import refused_url
from tests.support.signin import post_login


@pytest.fixture
def limited(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(ingest_rate_limit=1, login_rate_limit=1, max_batch_samples=1)


@pytest.fixture
def failing_app(app_settings: Settings) -> Iterator[TestClient]:
    """A throwaway app with a route that fails, to see the 500 it turns into."""
    app: FastAPI = create_app(app_settings)

    @app.get("/test-only/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, headers=AUTH) as client:
        yield client


def test_successes_and_redirects_carry_them(limited: TestClient) -> None:
    for path in ("/livez", "/api/agents", "/openapi.json", "/docs", "/static/css/app.css"):
        response = limited.get(path)
        assert response.status_code == 200, path
        assert_security_headers(response)
    anonymous = TestClient(limited.app)
    redirect = anonymous.get("/agents", follow_redirects=False)
    assert redirect.status_code == 303
    assert_security_headers(redirect)


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("GET", "/api/agents", {"Authorization": ""}, None, 401),
        ("GET", "/api/agents", {"Authorization": "Bearer nope"}, None, 401),
        ("POST", "/api/agents", {"Authorization": "Basic abc"}, None, 401),
        ("GET", "/api/agents/missing", {}, None, 404),
        ("GET", "/no/such/page", {}, None, 404),
        ("DELETE", "/livez", {}, None, 405),
        ("POST", "/api/agents", {}, {"id": 5}, 422),
        # Over PRISM_MAX_BATCH_SAMPLES: a 422 of ours, not FastAPI's (413s: test_request_limits).
        ("POST", "/api/miners/samples", {}, {"samples": [{"miner_id": "a"}] * 2}, 422),
    ],
)
def test_errors_carry_them(
    limited: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    body: object,
    status: int,
) -> None:
    response = limited.request(method, path, headers=headers, json=body)
    assert response.status_code == status
    assert_security_headers(response)


def test_the_redoc_page_loosens_its_csp_only_where_redoc_needs_it(limited: TestClient) -> None:
    response = limited.get("/redoc")
    assert response.status_code == 200
    for name, value in SECURITY_HEADERS.items():
        if name != "Content-Security-Policy":
            assert response.headers[name] == value, name
    strict = CONTENT_SECURITY_POLICY.split("; ")
    policy = response.headers["Content-Security-Policy"].split("; ")
    assert [part for part in strict if part not in policy] == ["style-src 'self'"]
    added = [part for part in policy if part not in strict]
    assert added[0].startswith("style-src 'self' 'sha256-")
    assert added[1:] == ["worker-src 'self' blob:"]
    for loose in ("'unsafe-inline'", "'unsafe-eval'", "*", "https:"):
        assert not any(loose in part for part in policy), loose


def test_403_carries_them(limited: TestClient, token_for: Callable[[str], dict[str, str]]) -> None:
    response = limited.post("/api/agents", json={}, headers=token_for("read"))
    assert response.status_code == 403
    assert_security_headers(response)


def test_both_kinds_of_429_carry_them(limited: TestClient) -> None:
    sample = {"miner_id": "m-1"}
    assert limited.post("/api/miners/sample", json=sample).status_code == 202
    api = limited.post("/api/miners/sample", json=sample)
    assert api.status_code == 429
    assert_security_headers(api)
    assert post_login(limited, "wrong").status_code == 401
    page = post_login(limited, "wrong-again")
    assert page.status_code == 429
    assert_security_headers(page)


def test_503_carries_them(make_client: Callable[..., TestClient]) -> None:
    client = make_client(auth_verify_url=refused_url())
    response = client.get("/api/agents", headers={"Authorization": "Bearer unknown-here"})
    assert response.status_code == 503
    assert_security_headers(response)


def test_an_unhandled_error_is_a_json_500_that_carries_them(failing_app: TestClient) -> None:
    response = failing_app.get("/test-only/boom", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    assert response.headers["X-Request-ID"] == "boom-1"
    assert_security_headers(response)
