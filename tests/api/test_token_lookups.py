"""Requests bearing the same stored token at the same moment share one database lookup, and a
revocation made through this process is never hidden by a lookup that began before it."""

import asyncio
import threading
from collections.abc import Awaitable, Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from app.auth import tokens
from app.auth.tokens import Principal
from app.core.config import Settings
from app.core.single_flight import SharedTasks
from app.main import create_app
from tests.conftest import AUTH
from tests.support.db import wipe
from tests.support.servers import running_server
from tests.support.waits import HTTP_TIMEOUT, WAIT

get = partial(httpx.get, timeout=HTTP_TIMEOUT)


class BlockingLookups:
    """Wraps tokens.authenticate: counts calls, and holds the first until released."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.calls = 0
        self._lock = threading.Lock()
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, **kwargs: Any) -> Any:
        with self._lock:
            self.calls += 1
            first = self.calls == 1
        if first:
            self.entered.set()
            assert self.release.wait(WAIT), "the held lookup was never released"
        return self.real(**kwargs)


class WatchedLookups(SharedTasks[Principal | None]):
    """The app's shared token lookups, telling the test how many requests have joined one.

    A request counts once the server holds it in a lookup: waiting for that, and not for a
    fixed time, is what makes the later requests overlap the held one however busy the
    machine is.
    """

    def __init__(self) -> None:
        super().__init__("token lookup")
        self.joined = 0
        self._changed = threading.Condition()

    async def join(self, key: Hashable, make: Callable[[], Awaitable[Principal | None]]) -> Any:
        task = self.start(key, make)
        with self._changed:
            self.joined += 1
            self._changed.notify_all()
        return await asyncio.shield(task)

    def wait_for_joins(self, count: int) -> None:
        with self._changed:
            reached = self._changed.wait_for(lambda: self.joined >= count, WAIT)
        assert reached, f"{self.joined} of {count} requests reached the token lookup"


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[BlockingLookups]:
    blocking = BlockingLookups(tokens.authenticate)
    monkeypatch.setattr(tokens, "authenticate", blocking)
    yield blocking
    blocking.release.set()  # a failed test must not leave the server's thread held


@pytest.fixture
def server(app_settings: Settings, engine: Engine) -> Iterator[tuple[FastAPI, str]]:
    wipe(engine)
    app = create_app(app_settings.model_copy(update={"read_cache_seconds": 0}))
    with running_server(app) as base_url:
        app.state.token_lookups = WatchedLookups()
        yield app, base_url


def _reader_token(base_url: str) -> tuple[str, str]:
    created = httpx.post(
        f"{base_url}/api/tokens",
        json={"name": "reader", "scope": "read"},
        headers=AUTH,
        timeout=HTTP_TIMEOUT,
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["token"]


def _overlapping(
    server: tuple[FastAPI, str], headers: dict[str, str], lookups: BlockingLookups, others: int
) -> list[httpx.Response]:
    """One GET whose lookup is held, `others` sent meanwhile, then the lookup released."""
    app, base_url = server
    watched: WatchedLookups = app.state.token_lookups
    with ThreadPoolExecutor(others + 1) as pool:
        first = pool.submit(get, f"{base_url}/api/agents", headers=headers)
        assert lookups.entered.wait(WAIT)
        # These arrive while the first request's lookup is still in the database ...
        later = [pool.submit(get, f"{base_url}/api/agents", headers=headers) for _ in range(others)]
        # ... and it is released only once the server holds every one of them in a lookup.
        watched.wait_for_joins(1 + others)
        lookups.release.set()
        return [future.result(WAIT) for future in [first, *later]]


def test_overlapping_requests_with_one_token_share_one_lookup(
    server: tuple[FastAPI, str], lookups: BlockingLookups
) -> None:
    _, base_url = server
    _, token = _reader_token(base_url)
    answers = _overlapping(server, {"Authorization": f"Bearer {token}"}, lookups, others=6)
    assert [answer.status_code for answer in answers] == [200] * 7
    assert lookups.calls == 1


def test_a_request_after_a_revocation_here_is_refused_even_during_an_earlier_lookup(
    server: tuple[FastAPI, str], lookups: BlockingLookups
) -> None:
    _, base_url = server
    token_id, token = _reader_token(base_url)
    headers = {"Authorization": f"Bearer {token}"}
    with ThreadPoolExecutor(2) as pool:
        early = pool.submit(get, f"{base_url}/api/agents", headers=headers)
        assert lookups.entered.wait(WAIT)
        revoked = httpx.delete(
            f"{base_url}/api/tokens/{token_id}", headers=AUTH, timeout=HTTP_TIMEOUT
        )
        assert revoked.status_code == 200
        # Answered while the lookup above is still held: it did not wait for (or share) it.
        late = get(f"{base_url}/api/agents", headers=headers)
        assert late.status_code == 401
        assert not early.done()
        lookups.release.set()
        early.result(WAIT)
    assert lookups.calls == 2


def test_an_unknown_token_shared_by_overlapping_requests_is_refused_for_each(
    server: tuple[FastAPI, str], lookups: BlockingLookups
) -> None:
    headers = {"Authorization": "Bearer prism_not-a-token-this-console-handed-out"}
    answers = _overlapping(server, headers, lookups, others=3)
    assert [answer.status_code for answer in answers] == [401] * 4
    assert {answer.json()["detail"] for answer in answers} == {"Invalid or revoked token"}
