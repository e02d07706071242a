"""Guessing tokens at /login: failures are slowed, logged without the token, then refused."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.web.routes import auth as auth_routes
from tests.conftest import ADMIN_TOKEN
from tests.hardening.conftest import LogCapture, PeerClientFactory, assert_security_headers

WRONG = "prism_" + "wrongwrongwrong" * 3


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delay of every failed attempt, recorded instead of waited."""
    seen: list[float] = []

    async def record(seconds: float) -> None:
        seen.append(seconds)

    monkeypatch.setattr(auth_routes, "pause", record)
    return seen


def _login(client: TestClient, token: str, **headers: str) -> int:
    return client.post(
        "/login", data={"token": token}, headers=headers, follow_redirects=False
    ).status_code


def test_each_bad_attempt_is_held_longer_up_to_a_second(
    make_client: Callable[..., TestClient], pauses: list[float]
) -> None:
    client = make_client(login_rate_limit=100)
    assert [_login(client, WRONG) for _ in range(6)] == [401] * 6
    assert pauses == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_a_successful_sign_in_ends_the_slow_down(
    make_client: Callable[..., TestClient], pauses: list[float]
) -> None:
    client = make_client(login_rate_limit=100)
    for token in (WRONG, WRONG, ADMIN_TOKEN, WRONG):
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


def test_over_the_limit_even_the_right_token_is_refused_with_429(
    make_client: Callable[..., TestClient], pauses: list[float]
) -> None:
    client = make_client(login_rate_limit=3)
    assert [_login(client, WRONG) for _ in range(3)] == [401, 401, 401]
    response = client.post(
        "/login",
        data={"token": ADMIN_TOKEN},
        headers={"X-Request-ID": "login-probe"},
        follow_redirects=False,
    )
    assert response.status_code == 429
    assert response.headers["content-type"].startswith("text/html")
    assert "Too many sign-in attempts" in response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-Request-ID"] == "login-probe"
    assert_security_headers(response)
    assert "prism_session" not in response.headers.get("set-cookie", "")
    assert len(pauses) == 3  # the refused attempt was not even checked


def test_successful_sign_ins_do_not_use_up_the_allowance(
    make_client: Callable[..., TestClient], pauses: list[float]
) -> None:
    client = make_client(login_rate_limit=2)
    assert [_login(client, ADMIN_TOKEN) for _ in range(6)] == [303] * 6
    assert [_login(client, WRONG) for _ in range(3)] == [401, 401, 429]


def test_clients_behind_a_trusted_proxy_are_limited_one_by_one(
    peer_client: PeerClientFactory, pauses: list[float]
) -> None:
    client = peer_client("10.0.0.2", login_rate_limit=1, trusted_proxies=["10.0.0.0/8"])
    alice = {"X-Forwarded-For": "203.0.113.7"}
    bob = {"X-Forwarded-For": "198.51.100.9"}
    assert [_login(client, WRONG, **alice) for _ in range(2)] == [401, 429]
    assert _login(client, WRONG, **bob) == 401


def test_an_untrusted_peer_cannot_escape_the_limit_by_forging_x_forwarded_for(
    peer_client: PeerClientFactory, pauses: list[float]
) -> None:
    client = peer_client("192.0.2.50", login_rate_limit=1, trusted_proxies=["10.0.0.0/8"])
    assert _login(client, WRONG, **{"X-Forwarded-For": "203.0.113.1"}) == 401
    assert _login(client, WRONG, **{"X-Forwarded-For": "203.0.113.2"}) == 429
