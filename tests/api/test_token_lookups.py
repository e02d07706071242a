"""Requests bearing the same stored token at the same moment share one database lookup, and a
revocation made through this process is never hidden by a lookup that began before it."""

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from app.config import Settings
from app.main import create_app
from app.services import tokens
from tests.conftest import AUTH
from tests.support.db import wipe
from tests.support.servers import running_server


class BlockingLookups:
    """Wraps tokens.authenticate: counts calls, and holds the first until released."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            self.release.wait(10)
        return self.real(**kwargs)


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> BlockingLookups:
    blocking = BlockingLookups(tokens.authenticate)
    monkeypatch.setattr(tokens, "authenticate", blocking)
    return blocking


@pytest.fixture
def server(app_settings: Settings, engine: Engine) -> Iterator[tuple[FastAPI, str]]:
    wipe(engine)
    app = create_app(app_settings.model_copy(update={"read_cache_seconds": 0}))
    with running_server(app) as base_url:
        yield app, base_url


def _reader_token(base_url: str) -> tuple[str, str]:
    created = httpx.post(
        f"{base_url}/api/tokens", json={"name": "reader", "scope": "read"}, headers=AUTH
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["token"]


def _overlapping(
    base_url: str, headers: dict[str, str], lookups: BlockingLookups, others: int
) -> list[httpx.Response]:
    """One GET whose lookup is held, `others` sent meanwhile, then the lookup released."""
    with ThreadPoolExecutor(others + 1) as pool:
        first = pool.submit(httpx.get, f"{base_url}/api/agents", headers=headers)
        assert lookups.entered.wait(10)
        # These arrive while the first request's lookup is still in the database.
        later = [
            pool.submit(httpx.get, f"{base_url}/api/agents", headers=headers) for _ in range(others)
        ]
        threading.Event().wait(0.3)
        lookups.release.set()
        return [future.result(10) for future in [first, *later]]


def test_overlapping_requests_with_one_token_share_one_lookup(
    server: tuple[FastAPI, str], lookups: BlockingLookups
) -> None:
    _, base_url = server
    _, token = _reader_token(base_url)
    answers = _overlapping(base_url, {"Authorization": f"Bearer {token}"}, lookups, others=6)
    assert [answer.status_code for answer in answers] == [200] * 7
    assert lookups.calls == 1


def test_a_request_after_a_revocation_here_is_refused_even_during_an_earlier_lookup(
    server: tuple[FastAPI, str], lookups: BlockingLookups
) -> None:
    _, base_url = server
    token_id, token = _reader_token(base_url)
    headers = {"Authorization": f"Bearer {token}"}
    with ThreadPoolExecutor(2) as pool:
        early = pool.submit(httpx.get, f"{base_url}/api/agents", headers=headers)
        assert lookups.entered.wait(10)
        assert httpx.delete(f"{base_url}/api/tokens/{token_id}", headers=AUTH).status_code == 200
        late = httpx.get(f"{base_url}/api/agents", headers=headers, timeout=10)
        # Refused at once: it did not wait for (or share) the lookup still held above.
        assert late.status_code == 401
        assert not early.done()
        lookups.release.set()
        early.result(10)
    assert lookups.calls == 2


def test_an_unknown_token_shared_by_overlapping_requests_is_refused_for_each(
    server: tuple[FastAPI, str], lookups: BlockingLookups
) -> None:
    _, base_url = server
    headers = {"Authorization": "Bearer prism_not-a-token-this-console-handed-out"}
    answers = _overlapping(base_url, headers, lookups, others=3)
    assert [answer.status_code for answer in answers] == [401] * 4
    assert {answer.json()["detail"] for answer in answers} == {"Invalid or revoked token"}
