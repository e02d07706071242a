"""The external token verifier: accepted, cached, revoked within the TTL, 503 when it fails.

Both answer forms work: this console's `{"active": true, "scope": "read"}` and the earlier
service's (any 2xx JSON object, e.g. `{"sub": "u-1", "scope": ["ops"], "exp": 0}`).
"""

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.auth.verifier import TokenVerifier, TtlCache
from tests.conftest import ADMIN_TOKEN
from tests.hardening.conftest import assert_security_headers
from tests.support.fake_gateway import refused_url
from tests.support.fake_verifier import FakeVerifier, running_fake_verifier
from tests.support.waits import WAIT

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
def make_client(make_client: Callable[..., TestClient]) -> Callable[..., TestClient]:
    """As make_client, with limits no busy machine reaches unless a test sets its own: the
    app waits up to WAIT s for the verifier (the fake one answers at once, but may take
    longer than the 3 s default to get a turn), and keeps answers for a day, not 60 s, so
    one asked for at the start of a slow test is still cached at its end."""

    def make(**overrides: object) -> TestClient:
        patient = {"auth_verify_timeout": WAIT, "auth_verify_cache_seconds": 86_400}
        return make_client(**{**patient, **overrides})

    return make


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


def test_the_earlier_answer_form_is_accepted_with_the_default_scope(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    verifier.valid["earlier"] = {"sub": "u-1", "scope": ["ops"], "exp": 0}
    client = make_client(auth_verify_url=verifier.url)
    assert client.get("/api/agents", headers=bearer("earlier")).status_code == 200
    # `ops` is not a console scope: it maps to PRISM_AUTH_VERIFY_DEFAULT_SCOPE, read.
    sample = {"miner_id": "m-1"}
    response = client.post("/api/miners/sample", json=sample, headers=bearer("earlier"))
    assert response.status_code == 403
    assert "scope (read)" in response.json()["detail"]


@pytest.mark.parametrize("status", [200, 201, 203])
def test_any_2xx_json_object_is_a_valid_answer(
    make_client: Callable[..., TestClient], verifier: FakeVerifier, status: int
) -> None:
    verifier.status, verifier.reply = status, "{}"
    client = make_client(auth_verify_url=verifier.url)
    assert client.get("/api/agents", headers=bearer("anything-it-knows")).status_code == 200


@pytest.mark.parametrize(
    ("scope", "allowed", "refused"),
    [
        ("superuser", "/api/agents", "/api/tokens"),  # unknown: the default, read
        (["ops", "ingest"], None, "/api/agents"),  # the first known one
        ("read admin", "/api/tokens", None),  # space-separated (RFC 7662); admin wins
        (["admin", "read"], "/api/tokens", None),
    ],
)
def test_the_scope_may_be_a_string_a_list_or_unknown(
    make_client: Callable[..., TestClient],
    verifier: FakeVerifier,
    scope: object,
    allowed: str | None,
    refused: str | None,
) -> None:
    verifier.valid["scoped"] = {"sub": "u-2", "scope": scope}
    client = make_client(auth_verify_url=verifier.url)
    if allowed:
        assert client.get(allowed, headers=bearer("scoped")).status_code == 200
    if refused:
        assert client.get(refused, headers=bearer("scoped")).status_code == 403


def test_the_default_scope_comes_from_the_settings(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    verifier.valid["earlier"] = {"sub": "u-1", "scope": ["ops"]}
    client = make_client(auth_verify_url=verifier.url, auth_verify_default_scope="ingest")
    sample = {"miner_id": "m-1"}
    assert (
        client.post("/api/miners/sample", json=sample, headers=bearer("earlier")).status_code == 202
    )
    assert client.get("/api/agents", headers=bearer("earlier")).status_code == 403


def test_a_default_scope_of_none_refuses_unknown_scopes(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    verifier.valid["earlier"] = {"sub": "u-1", "scope": ["ops"]}
    client = make_client(auth_verify_url=verifier.url, auth_verify_default_scope="none")
    response = client.get("/api/agents", headers=bearer("earlier"))
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid or revoked token"})
    assert client.get("/api/agents", headers=bearer(READER)).status_code == 200


@pytest.mark.parametrize(
    "answer",
    [
        {"active": False, "sub": "u-1", "scope": "read"},
        {"active": "false", "scope": "read"},  # not a boolean: not a yes either
        {"sub": "u-1", "scope": "read", "exp": 1_000_000},  # 1970: long passed
        {"sub": "u-1", "scope": "read", "exp": -5},
        {"sub": "u-1", "scope": "read", "exp": "tomorrow"},
        {"sub": "u-1", "scope": "read", "exp": True},
    ],
)
def test_an_inactive_expired_or_unreadable_answer_is_401(
    make_client: Callable[..., TestClient], verifier: FakeVerifier, answer: dict[str, Any]
) -> None:
    verifier.valid["told-no"] = answer
    client = make_client(auth_verify_url=verifier.url)
    response = client.get("/api/agents", headers=bearer("told-no"))
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid or revoked token"})


def test_a_token_works_until_its_exp_even_from_the_cache(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    client = make_client(auth_verify_url=verifier.url)
    wall = FakeClock()
    wall.now = 1_800_000_000.0
    verifier.valid["short"] = {"sub": "u-1", "scope": "read", "exp": 1_800_000_010}
    state_of(client).token_verifier = TokenVerifier(
        verifier.url, timeout=WAIT, cache=TtlCache(ttl=3600, max_size=10), clock=wall
    )
    assert client.get("/api/agents", headers=bearer("short")).status_code == 200
    wall.now += 9
    assert client.get("/api/agents", headers=bearer("short")).status_code == 200
    wall.now += 1  # exp reached, although the cache would keep the answer for an hour
    assert client.get("/api/agents", headers=bearer("short")).status_code == 401
    assert verifier.calls == ["short"]


def test_the_earlier_id_names_the_token_in_rate_limits(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    # Two tokens the verifier says belong to one `sub` share its ingest allowance.
    verifier.valid["first"] = {"sub": "bridge-7", "scope": "ingest"}
    verifier.valid["second"] = {"sub": "bridge-7", "scope": "ingest"}
    client = make_client(auth_verify_url=verifier.url, ingest_rate_limit=1)
    sample = {"miner_id": "m-1"}
    assert (
        client.post("/api/miners/sample", json=sample, headers=bearer("first")).status_code == 202
    )
    assert (
        client.post("/api/miners/sample", json=sample, headers=bearer("second")).status_code == 429
    )


def test_a_token_revoked_at_the_verifier_stops_working_once_the_ttl_passes(
    make_client: Callable[..., TestClient], verifier: FakeVerifier
) -> None:
    client = make_client(auth_verify_url=verifier.url)
    clock = FakeClock()
    cache = TtlCache(ttl=30, max_size=100, clock=clock)
    state_of(client).token_verifier = TokenVerifier(verifier.url, timeout=WAIT, cache=cache)
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
    # A TTL of 0 caches nothing: the revocation is seen at the very next request.
    client = make_client(auth_verify_url=verifier.url, auth_verify_cache_seconds=0)
    assert client.get("/api/agents", headers=bearer(READER)).status_code == 200
    del verifier.valid[READER]
    assert client.get("/api/agents", headers=bearer(READER)).status_code == 401
    assert state_of(client).token_verifier.cache.ttl == 0


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
    [
        (500, None),
        (502, None),
        (429, None),
        (302, None),
        (200, "not json"),
        (200, '["not", "an", "object"]'),
        (204, ""),
    ],
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
    verifier.delay = WAIT  # far past the timeout however slow the machine; cut short at teardown
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
