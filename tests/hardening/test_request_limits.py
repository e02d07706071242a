"""Limits at the door (app/core/limits.py): body size and control characters in the URL."""

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.core.config import Settings
from app.core.middleware import SECURITY_HEADERS
from app.main import create_app
from tests.hardening.ingest_support import AUTH, row_counts
from tests.support.db import wipe
from tests.support.servers import running_server
from tests.support.waits import HTTP_TIMEOUT

LIMIT = 4096
TOO_LARGE = {"detail": f"Request body exceeds the limit of {LIMIT} bytes"}


@pytest.fixture
def limited_app(app_settings: Settings, engine: Engine) -> FastAPI:
    """An app on the same (emptied) database whose bodies may hold at most LIMIT bytes."""
    wipe(engine)
    return create_app(app_settings.model_copy(update={"max_body_bytes": LIMIT}))


@pytest.fixture
def limited(limited_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(limited_app, headers=AUTH) as client:
        yield client


def _samples(count: int) -> dict[str, Any]:
    return {
        "samples": [{"miner_id": f"rig-{i}", "pool": "pool.example:3333"} for i in range(count)]
    }


def assert_headers_of_every_answer(response: Any, request_id: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert response.headers["X-Request-ID"] == request_id


def test_a_body_announced_over_the_limit_is_413_with_the_usual_headers_and_writes_nothing(
    limited: TestClient, engine: Engine
) -> None:
    body = json.dumps(_samples(200)).encode()
    assert len(body) > LIMIT
    response = limited.post(
        "/api/miners/samples",
        content=body,
        headers={"Content-Type": "application/json", "X-Request-ID": "req-413-announced"},
    )
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert_headers_of_every_answer(response, "req-413-announced")
    assert row_counts(engine)["minersample"] == 0


def test_a_body_within_the_limit_is_served(limited: TestClient, engine: Engine) -> None:
    body = json.dumps(_samples(20)).encode()
    assert len(body) < LIMIT
    response = limited.post(
        "/api/miners/samples", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202
    assert row_counts(engine)["minersample"] == 20


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/settings/notes", {"value": "n" * LIMIT}),
        ("POST", "/api/runbooks", {"id": "rb-1", "title": "t", "description": "d" * LIMIT}),
        ("POST", "/api/agents/agent-1/events", {"kind": "warn", "message": "m" * LIMIT}),
    ],
)
def test_the_limit_holds_on_every_route(
    limited: TestClient, engine: Engine, method: str, path: str, body: dict[str, Any]
) -> None:
    before = row_counts(engine)
    response = limited.request(method, path, json=body)
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert row_counts(engine) == before


def _chunks(payload: bytes, size: int = 512) -> Iterator[bytes]:
    """A body without Content-Length: httpx sends a generator chunked."""
    for start in range(0, len(payload), size):
        yield payload[start : start + size]


def test_a_chunked_body_over_the_limit_is_413_as_soon_as_it_passes_it(
    limited_app: FastAPI, engine: Engine
) -> None:
    sent: list[int] = []
    payload = json.dumps(_samples(200)).encode()

    def counted() -> Iterator[bytes]:
        for chunk in _chunks(payload):
            sent.append(len(chunk))
            yield chunk

    with (
        running_server(limited_app) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=HTTP_TIMEOUT) as http,
    ):
        response = http.post(
            "/api/miners/samples",
            content=counted(),
            headers={"Content-Type": "application/json", "X-Request-ID": "req-413-chunked"},
        )
        assert response.request.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in response.request.headers
        assert (response.status_code, response.json()) == (413, TOO_LARGE)
        assert_headers_of_every_answer(response, "req-413-chunked")
    assert sum(sent) > LIMIT
    assert row_counts(engine)["minersample"] == 0


def test_a_chunked_body_within_the_limit_is_served(limited_app: FastAPI, engine: Engine) -> None:
    payload = json.dumps(_samples(20)).encode()
    with (
        running_server(limited_app) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=HTTP_TIMEOUT) as http,
    ):
        response = http.post(
            "/api/miners/samples",
            content=_chunks(payload, size=100),
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 202
    assert row_counts(engine)["minersample"] == 20


@pytest.mark.parametrize(
    ("method", "path", "loc"),
    [
        ("GET", "/api/agents/agent%00one", ["path"]),
        ("GET", "/api/runbooks/rb%00", ["path"]),
        ("GET", "/api/miners/rig%7F/series", ["path"]),
        ("POST", "/api/agents/agent%0Aone/heartbeat", ["path"]),
        ("GET", "/api/miners/latest?miner_id=rig%00", ["query", "miner_id"]),
        ("GET", "/api/agents?q=%00&limit=5", ["query", "q"]),
        ("GET", "/api/events?agent=a%09b", ["query", "agent"]),
    ],
)
def test_a_control_character_in_the_url_is_422_naming_where(
    limited: TestClient, method: str, path: str, loc: list[str]
) -> None:
    response = limited.request(method, path, headers={"X-Request-ID": "req-422-url"})
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert (error["type"], error["loc"]) == ("string_control_character", loc)
    assert_headers_of_every_answer(response, "req-422-url")


def test_ordinary_characters_in_the_url_still_reach_the_route(limited: TestClient) -> None:
    assert limited.get("/api/agents/agent%C3%A9%3Aone").status_code == 404
    response = limited.get("/api/miners/latest?miner_id=rig%C3%A9+1")
    assert (response.status_code, response.json()["samples"]) == (200, [])
