"""Ingest is limited per token: 429 with the compatible body, Retry-After and every header."""

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.core.ratelimit import RATE_LIMITED_BODY, FailureDelay, RateLimiter
from app.models import MinerSample
from tests.hardening.conftest import assert_security_headers


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limited_client(make_client: Callable[..., TestClient], per_minute: int) -> TestClient:
    """An app allowing `per_minute` ingests per token, on a clock that stands still: no
    request of the allowance comes back during the test, however slowly it runs."""
    client = make_client(ingest_rate_limit=per_minute)
    client.app.state.rate_limiters = {"ingest": RateLimiter(per_minute, clock=FakeClock())}  # type: ignore[attr-defined]
    return client


def _sample(client: TestClient, headers: dict[str, str], miner: str = "m-1") -> int:
    response = client.post("/api/miners/sample", json={"miner_id": miner}, headers=headers)
    return response.status_code


def _count_samples(db_session: Session) -> int:
    db_session.expire_all()
    return db_session.exec(select(func.count()).select_from(MinerSample)).one()


# --- the limiter itself ---------------------------------------------------------------------


def test_a_key_gets_its_allowance_then_waits_for_the_refill() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, clock=clock)
    assert [limiter.hit("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.hit("a") == 20  # one request comes back every 60/3 seconds
    clock.now += 20
    assert limiter.hit("a") == 0
    assert limiter.hit("a") == 20


def test_keys_are_counted_apart_and_a_refund_gives_one_back() -> None:
    limiter = RateLimiter(1, clock=FakeClock())
    assert limiter.hit("a") == 0
    assert limiter.hit("a") > 0
    assert limiter.hit("b") == 0
    limiter.refund("a")
    assert limiter.hit("a") == 0


def test_memory_stays_bounded_with_many_distinct_keys() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, max_keys=100, clock=clock)
    for number in range(10_000):
        limiter.hit(f"client-{number}")
        assert len(limiter) <= 100
    assert len(limiter) == 100
    # The most recent keys are the ones kept: they are still limited.
    assert limiter.hit("client-9999") > 0
    # A forgotten key starts afresh, as it would after a quiet minute.
    assert limiter.hit("client-0") == 0


def test_failures_are_held_longer_each_time_up_to_a_cap() -> None:
    clock = FakeClock()
    delays = FailureDelay(base=0.1, cap=1.0, forget_after=900, clock=clock)
    seen = [delays.failed("a") for _ in range(6)]
    assert seen == [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (6, 1.0)]
    delays.succeeded("a")
    assert delays.failed("a") == (1, 0.1)
    clock.now += 901
    assert delays.failed("a") == (1, 0.1)  # an old run of failures is forgotten


def test_failure_delays_keep_a_bounded_number_of_keys() -> None:
    delays = FailureDelay(max_keys=50, clock=FakeClock())
    for number in range(5_000):
        delays.failed(f"client-{number}")
    assert len(delays) == 50


# --- through the API ------------------------------------------------------------------------


def test_ingest_over_the_limit_is_429_with_the_compatible_body_and_every_header(
    make_client: Callable[..., TestClient],
    token_for: Callable[[str], dict[str, str]],
    db_session: Session,
) -> None:
    client = _limited_client(make_client, 3)
    ingest = token_for("ingest")
    assert [_sample(client, ingest) for _ in range(3)] == [202, 202, 202]
    response = client.post(
        "/api/miners/sample",
        json={"miner_id": "m-1"},
        headers={**ingest, "X-Request-ID": "abuse-probe-1"},
    )
    assert response.status_code == 429
    assert response.json() == RATE_LIMITED_BODY
    assert response.json() == {
        "type": "about:blank",
        "title": "Too Many Requests",
        "status": 429,
        "detail": "Rate limit exceeded.",
    }
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-Request-ID"] == "abuse-probe-1"
    assert_security_headers(response)
    assert _count_samples(db_session) == 3  # the refused sample was not stored


def test_one_tokens_usage_does_not_limit_another_token(
    make_client: Callable[..., TestClient], token_for: Callable[[str], dict[str, str]]
) -> None:
    client = _limited_client(make_client, 2)
    first, second = token_for("ingest"), token_for("ingest")
    assert [_sample(client, first) for _ in range(3)] == [202, 202, 429]
    assert [_sample(client, second) for _ in range(2)] == [202, 202]


def test_every_ingest_route_spends_the_same_allowance(
    make_client: Callable[..., TestClient], token_for: Callable[[str], dict[str, str]]
) -> None:
    client = _limited_client(make_client, 3)
    ingest = token_for("ingest")
    heartbeat = {"name": "Agent", "domain": "ops"}
    assert client.post("/api/agents/a-1/heartbeat", json=heartbeat, headers=ingest).is_success
    batch = {"samples": [{"miner_id": "m-1"}]}
    assert client.post("/api/miners/samples", json=batch, headers=ingest).status_code == 202
    assert _sample(client, ingest) == 202
    events = {"kind": "warn", "message": "hot"}
    refused = client.post("/api/agents/a-1/events", json=events, headers=ingest)
    assert refused.status_code == 429


def test_reads_are_not_spent_from_the_ingest_allowance(
    make_client: Callable[..., TestClient],
) -> None:
    client = _limited_client(make_client, 1)  # the admin token: may read and ingest
    assert _sample(client, {}) == 202
    assert _sample(client, {}) == 429
    assert client.get("/api/miners/latest").status_code == 200
    assert client.get("/api/agents").status_code == 200


def test_without_a_token_the_answer_stays_401(make_client: Callable[..., TestClient]) -> None:
    client = _limited_client(make_client, 1)
    client.headers.clear()
    assert [_sample(client, {}) for _ in range(3)] == [401, 401, 401]
