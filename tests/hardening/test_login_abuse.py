"""Guessing tokens at /login: failures are slowed, logged without the token, then limited;
the right token always signs in."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.auth import pages as auth_routes
from tests.conftest import ADMIN_TOKEN
from tests.hardening.conftest import LogCapture, PeerClientFactory, assert_security_headers
from tests.support.limits import still_login_limits
from tests.support.signin import post_login

WRONG = "prism_" + "wrongwrongwrong" * 3


def wrong(n: int) -> str:
    """The n-th distinct wrong token (a guesser tries a new one each time)."""
    return f"{WRONG}-{n}"


@pytest.fixture
def make_client(make_client: Callable[..., TestClient]) -> Callable[..., TestClient]:
    """As make_client, with the sign-in limits on a clock that stands still: no allowance
    comes back and no run of failures is forgotten during a test, however slowly it runs."""

    def make(**overrides: object) -> TestClient:
        client = make_client(**overrides)
        still_login_limits(client.app)
        return client

    return make


@pytest.fixture
def peer_client(peer_client: PeerClientFactory) -> PeerClientFactory:
    """As peer_client, with the sign-in limits on a clock that stands still (as make_client)."""

    def make(*args: object, **overrides: object) -> TestClient:
        client = peer_client(*args, **overrides)
        still_login_limits(client.app)
        return client

    return make


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delay of every failed attempt, recorded instead of waited."""
    seen: list[float] = []

    async def record(seconds: float) -> None:
        seen.append(seconds)

    monkeypatch.setattr(auth_routes, "pause", record)
    return seen


def _login(client: TestClient, token: str, **headers: str) -> int:
    return post_login(client, token, **headers).status_code


def test_each_bad_attempt_is_held_longer_up_to_a_second(
    make_client: Callable[..., TestClient], pauses: list[float]
) -> None:
    client = make_client(login_rate_limit=100)
    assert [_login(client, wrong(n)) for n in range(6)] == [401] * 6
    assert pauses == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_the_same_wrong_token_from_many_addresses_is_held_longer_too(
    peer_client: PeerClientFactory, pauses: list[float]
) -> None:
    client = peer_client("10.0.0.2", login_rate_limit=100, trusted_proxies=["10.0.0.0/8"])
    for n in range(1, 4):
        _login(client, WRONG, **{"X-Forwarded-For": f"203.0.113.{n}"})
    # Each address failed once; the token's own run of failures still grows.
    assert pauses == [0.1, 0.2, 0.4]


def test_a_successful_sign_in_ends_the_slow_down_of_its_address(
    make_client: Callable[..., TestClient], pauses: list[float]
) -> None:
    client = make_client(login_rate_limit=100)
    for token in (wrong(1), wrong(2), ADMIN_TOKEN, wrong(3)):
        _login(client, token)
    assert pauses == [0.1, 0.2, 0.1]


def test_bad_attempts_are_logged_with_the_client_and_no_more_than_the_public_prefix(
    make_client: Callable[..., TestClient],
    pauses: list[float],
    prism_logs: Callable[..., LogCapture],
) -> None:
    client = make_client(login_rate_limit=100)
    logs = prism_logs()
    _login(client, WRONG)
    _login(client, "an-admin-token-mistyped-by-one-char")
    refused = [record for record in logs.of("prism.auth") if "refused" in record.getMessage()]
    assert len(refused) == 2
    first, second = (vars(record) for record in refused)
    assert (first["client"], first["failures"]) == ("testclient", 1)
    assert first["token_prefix"] == "prism_wron…"
    assert second["token_prefix"] == "(not a console token)"
    for record in logs.records:
        text = record.getMessage() + repr(vars(record))
        assert WRONG not in text
        assert "mistyped" not in text


def test_over_the_limit_failures_get_429_and_the_right_token_still_signs_in(
    make_client: Callable[..., TestClient], pauses: list[float]
) -> None:
    client = make_client(login_rate_limit=3)
    assert [_login(client, wrong(n)) for n in range(3)] == [401, 401, 401]
    response = post_login(client, wrong(3), **{"X-Request-ID": "login-probe"})
    assert response.status_code == 429
    assert response.headers["content-type"].startswith("text/html")
    assert "Too many failed sign-in attempts" in response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-Request-ID"] == "login-probe"
    assert_security_headers(response)
    assert "prism_session" not in response.headers.get("set-cookie", "")
    assert len(pauses) == 4  # the refused failure was held too

    signed_in = post_login(client, ADMIN_TOKEN)
    assert signed_in.status_code == 303
    assert signed_in.cookies.get("prism_session")


def test_successful_sign_ins_do_not_use_up_the_allowance(
    make_client: Callable[..., TestClient], pauses: list[float]
) -> None:
    client = make_client(login_rate_limit=2)
    assert [_login(client, ADMIN_TOKEN) for _ in range(6)] == [303] * 6
    assert [_login(client, wrong(n)) for n in range(3)] == [401, 401, 429]


def test_the_same_wrong_token_is_limited_whichever_address_sends_it(
    peer_client: PeerClientFactory, pauses: list[float]
) -> None:
    client = peer_client("10.0.0.2", login_rate_limit=2, trusted_proxies=["10.0.0.0/8"])
    answers = [_login(client, WRONG, **{"X-Forwarded-For": f"203.0.113.{n}"}) for n in range(1, 4)]
    assert answers == [401, 401, 429]


def test_users_sharing_an_untrusted_proxy_still_sign_in_while_someone_guesses(
    peer_client: PeerClientFactory, pauses: list[float]
) -> None:
    # No PRISM_TRUSTED_PROXIES: every user behind the proxy has the proxy's address.
    client = peer_client("10.0.0.2", login_rate_limit=2)
    assert [_login(client, wrong(n)) for n in range(5)] == [401, 401, 429, 429, 429]
    assert _login(client, ADMIN_TOKEN) == 303


def test_clients_behind_a_trusted_proxy_are_limited_one_by_one(
    peer_client: PeerClientFactory, pauses: list[float]
) -> None:
    client = peer_client("10.0.0.2", login_rate_limit=1, trusted_proxies=["10.0.0.0/8"])
    alice = {"X-Forwarded-For": "203.0.113.7"}
    bob = {"X-Forwarded-For": "198.51.100.9"}
    assert [_login(client, wrong(n), **alice) for n in range(2)] == [401, 429]
    assert _login(client, wrong(9), **bob) == 401


def test_an_untrusted_peer_cannot_escape_the_limit_by_forging_x_forwarded_for(
    peer_client: PeerClientFactory, pauses: list[float]
) -> None:
    client = peer_client("192.0.2.50", login_rate_limit=1, trusted_proxies=["10.0.0.0/8"])
    assert _login(client, wrong(1), **{"X-Forwarded-For": "203.0.113.1"}) == 401
    assert _login(client, wrong(2), **{"X-Forwarded-For": "203.0.113.2"}) == 429
