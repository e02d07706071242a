"""The external token verifier: accepted, cached, revoked within the TTL, 503 when it fails."""

import hashlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.verifier import TokenVerifier, TtlCache
from tests.conftest import ADMIN_TOKEN
from tests.hardening.conftest import assert_security_headers
from tests.support.fake_gateway import refused_url
from tests.support.fake_verifier import FakeVerifier, running_fake_verifier

READER = "ext-reader-token-with-plenty-of-entropy-01"
FEEDER = "ext-feeder-token-with-plenty-of-entropy-02"
UNAVAILABLE = {"detail": "Token verifier unavailable; retry shortly"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def state_of(client: TestClient) -> Any:
    """The app.state of a client's app (TestClient types its app as any ASGI app)."""
    return client.app.state  # type: ignore[attr-defined]


@pytest.fixture
def verifier() -> Iterator[FakeVerifier]:
    valid = {
        READER: {"active": True, "scope": "read", "name": "dashboard", "id": "dash-1"},
        FEEDER: {"active": True, "scope": "ingest", "name": "bridge"},
    }
    with running_fake_verifier(valid=valid) as fake:
        yield fake


def test_a_token_the_verifier_accepts_works_with_its_scope(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    client = make_client(auth_verify_url=verifier.url)
    assert client.get("/api/agents", headers=bearer(READER)).status_code == 200
    assert verifier.paths == ["/tokens/verify"]
    assert verifier.calls == [READER]
    body = {"id": "a-1", "name": "A", "domain": "ops"}
    assert client.post("/api/agents", json=body, headers=bearer(READER)).status_code == 403
    sample = {"miner_id": "m-1"}
    assert client.post("/api/miners/sample", json=sample, headers=bearer(FEEDER)).status_code == 202


def test_answers_are_cached_so_the_verifier_is_asked_once(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    client = make_client(auth_verify_url=verifier.url)
    for _ in range(5):
        assert client.get("/api/agents", headers=bearer(READER)).status_code == 200
    for _ in range(3):
        assert client.get("/api/agents", headers=bearer("not-known-anywhere")).status_code == 401
    assert verifier.calls == [READER, "not-known-anywhere"]


def test_console_tokens_are_checked_first_and_never_sent_out(
    make_client: Callable[..., TestClient],
    verifier: FakeVerifier,
    token_for: Callable[[str], dict[str, str]],
) -> None:
    client = make_client(auth_verify_url=verifier.url)
    assert client.get("/api/agents", headers=bearer(ADMIN_TOKEN)).status_code == 200
    assert client.get("/api/agents", headers=token_for("read")).status_code == 200
    assert verifier.calls == []


@pytest.mark.parametrize("unknown_status", [200, 401, 403, 404])
def test_a_token_the_verifier_does_not_know_is_401(
    make_client: Callable[..., TestClient], verifier: FakeVerifier, unknown_status: int
) -> None:
    verifier.unknown_status = unknown_status
    client = make_client(auth_verify_url=verifier.url)
    response = client.get("/api/agents", headers=bearer("not-known-anywhere"))
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked token"}


def test_an_active_token_with_a_scope_the_console_does_not_know_is_401(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    verifier.valid["odd"] = {"active": True, "scope": "superuser"}
    client = make_client(auth_verify_url=verifier.url)
    assert client.get("/api/agents", headers=bearer("odd")).status_code == 401


def test_a_token_revoked_at_the_verifier_stops_working_once_the_ttl_passes(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    client = make_client(auth_verify_url=verifier.url)
    clock = FakeClock()
    cache = TtlCache(ttl=30, max_size=100, clock=clock)
    state_of(client).token_verifier = TokenVerifier(verifier.url, timeout=5, cache=cache)
    assert client.get("/api/agents", headers=bearer(READER)).status_code == 200
    del verifier.valid[READER]  # revoked at the verifier
    clock.now += 29
    assert client.get("/api/agents", headers=bearer(READER)).status_code == 200  # cached
    clock.now += 2
    assert client.get("/api/agents", headers=bearer(READER)).status_code == 401
    assert verifier.calls == [READER, READER]


def test_the_cache_ttl_comes_from_the_settings(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    client = make_client(auth_verify_url=verifier.url, auth_verify_cache_seconds=0.05)
    assert client.get("/api/agents", headers=bearer(READER)).status_code == 200
    del verifier.valid[READER]
    time.sleep(0.1)  # past the TTL: waits, asserts nothing about timing
    assert client.get("/api/agents", headers=bearer(READER)).status_code == 401


def test_the_cache_keeps_at_most_its_size_least_recently_used_first(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    third = "ext-third-token-with-plenty-of-entropy-03"
    verifier.valid[third] = {"active": True, "scope": "read"}
    client = make_client(auth_verify_url=verifier.url, auth_verify_cache_size=2)
    for token in (READER, FEEDER, third, READER, third):
        client.get("/api/agents", headers=bearer(token))
    # READER was evicted by `third` and asked again; `third` was still cached.
    assert verifier.calls == [READER, FEEDER, third, READER]
    assert len(state_of(client).token_verifier.cache) == 2


def test_the_cache_is_keyed_by_the_tokens_hash_never_the_token(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    client = make_client(auth_verify_url=verifier.url)
    client.get("/api/agents", headers=bearer(READER))
    cache: TtlCache = state_of(client).token_verifier.cache
    assert cache.get(hashlib.sha256(READER.encode()).hexdigest())[0] is True
    assert cache.get(READER) == (False, None)


@pytest.mark.parametrize(
    ("status", "reply"),
    [(500, None), (502, None), (429, None), (200, "not json"), (200, '{"scope": "read"}')],
)
def test_a_failing_verifier_gives_503_with_retry_after_never_500(
    make_client: Callable[..., TestClient],
    verifier: FakeVerifier,
    status: int,
    reply: str | None,
) -> None:
    verifier.status, verifier.reply = status, reply
    client = make_client(auth_verify_url=verifier.url)
    response = client.get("/api/agents", headers=bearer(READER))
    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert response.headers["Retry-After"] == "5"
    assert_security_headers(response)
    # Failures are not cached: once the verifier is back, the token works.
    verifier.status, verifier.reply = None, None
    assert client.get("/api/agents", headers=bearer(READER)).status_code == 200


def test_a_verifier_that_times_out_gives_503(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    verifier.delay = 10
    client = make_client(auth_verify_url=verifier.url, auth_verify_timeout=0.2)
    response = client.get("/api/agents", headers=bearer(READER))
    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    assert response.headers["Retry-After"] == "5"


def test_a_verifier_that_refuses_connections_gives_503(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(auth_verify_url=refused_url())
    response = client.get("/api/agents", headers=bearer(READER))
    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    # Console tokens still work while the verifier is down.
    assert client.get("/api/agents", headers=bearer(ADMIN_TOKEN)).status_code == 200


def test_without_a_verifier_an_unknown_token_is_401_and_nothing_is_asked(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    client = make_client()
    assert client.get("/api/agents", headers=bearer(READER)).status_code == 401
    assert verifier.calls == []


def test_a_verified_ingest_token_is_rate_limited_by_its_id(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    client = make_client(auth_verify_url=verifier.url, ingest_rate_limit=1)
    sample = {"miner_id": "m-1"}
    first = client.post("/api/miners/sample", json=sample, headers=bearer(FEEDER))
    second = client.post("/api/miners/sample", json=sample, headers=bearer(FEEDER))
    assert (first.status_code, second.status_code) == (202, 429)


# --- the cache itself -----------------------------------------------------------------------


def test_cache_entries_expire_after_the_ttl() -> None:
    clock = FakeClock()
    cache = TtlCache(ttl=10, max_size=10, clock=clock)
    cache.put("k", None)  # a "not valid" answer is cached too
    assert cache.get("k") == (True, None)
    clock.now += 10
    assert cache.get("k") == (False, None)
    assert len(cache) == 0


def test_a_zero_ttl_caches_nothing() -> None:
    cache = TtlCache(ttl=0, max_size=10)
    cache.put("k", "v")
    assert cache.get("k") == (False, None)


def test_the_cache_never_holds_more_than_its_size() -> None:
    cache = TtlCache(ttl=60, max_size=3, clock=FakeClock())
    for number in range(1000):
        cache.put(f"k{number}", number)
    assert len(cache) == 3
    assert cache.get("k999") == (True, 999)
    assert cache.get("k0") == (False, None)
