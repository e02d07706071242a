"""Main users with their wallets, exact balances and transactions."""

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from app.maindb import MainDatabase
from tests.support.maindb_fixtures import BIG_BALANCE, MainTarget


def _ids(response: Any) -> list[Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["available"] is True, body
    return [item["id"] for item in body["items"]]


def test_users_are_listed_newest_first_with_their_public_fields(api: TestClient) -> None:
    body = api.get("/api/main/users").json()
    assert [user["id"] for user in body["items"]] == [3, 2, 1]
    assert body["items"][2] == {
        "id": 1,
        "email": "alice@example.com",
        "name": "Alice Admin",
        "role": "admin",
        "isActive": True,
        "lastLoginAt": "2026-01-05T11:00:00Z",
        "createdAt": "2026-01-02T10:00:00Z",
    }
    assert body["nextCursor"] is None


def test_users_filter_by_text_role_and_active_flag(api: TestClient) -> None:
    assert _ids(api.get("/api/main/users", params={"q": "ALICE"})) == [1]
    assert _ids(api.get("/api/main/users", params={"q": "builder"})) == [2]
    assert _ids(api.get("/api/main/users", params={"q": "%"})) == []  # wildcards are literal
    assert _ids(api.get("/api/main/users", params={"role": "member"})) == [3, 2]
    assert _ids(api.get("/api/main/users", params={"active": "false"})) == [3]
    assert _ids(api.get("/api/main/users", params={"active": "true", "role": "member"})) == [2]


def test_users_page_with_a_cursor(api: TestClient) -> None:
    first = api.get("/api/main/users", params={"limit": 2}).json()
    assert [user["id"] for user in first["items"]] == [3, 2]
    second = api.get("/api/main/users", params={"limit": 2, "cursor": first["nextCursor"]})
    assert _ids(second) == [1]
    assert second.json()["nextCursor"] is None


def test_a_user_comes_with_wallets_exact_balances_and_latest_transactions(
    api: TestClient,
) -> None:
    body = api.get("/api/main/users/1").json()
    assert body["available"] is True
    assert body["user"]["email"] == "alice@example.com"
    wallets = body["wallets"]
    assert wallets["available"] is True
    assert [(w["id"], w["balance"]) for w in wallets["items"]] == [(1, 150_000), (2, BIG_BALANCE)]
    assert wallets["totalBalance"] == 150_000 + BIG_BALANCE  # exact: no float on the way
    transactions = body["transactions"]
    assert [(t["id"], t["direction"]) for t in transactions["items"]] == [
        (4, "internal"),
        (3, "out"),
        (2, "in"),
        (1, "in"),
    ]
    assert transactions["items"][3] == {
        "id": 1,
        "walletFrom": 4,
        "walletTo": 1,
        "amount": 100_000,
        "memo": "grant",
        "createdAt": "2026-01-05T10:01:00Z",
        "direction": "in",
    }


def test_a_users_transactions_page_and_filter_by_direction(api: TestClient) -> None:
    url = "/api/main/users/2/transactions"
    assert _ids(api.get(url)) == [6, 5, 3, 2]
    first = api.get(url, params={"limit": 3}).json()
    assert [t["id"] for t in first["items"]] == [6, 5, 3]
    assert _ids(api.get(url, params={"limit": 3, "cursor": first["nextCursor"]})) == [2]
    assert _ids(api.get(url, params={"direction": "out"})) == [2]
    assert _ids(api.get(url, params={"direction": "in"})) == [6, 5, 3]
    assert _ids(api.get("/api/main/users/1/transactions", params={"direction": "internal"})) == [4]
    assert _ids(api.get(url, params={"since": "2026-01-05T10:03:00Z"})) == [6, 5, 3]


def test_a_user_the_main_database_does_not_know_is_404(api: TestClient) -> None:
    for path in ("/api/main/users/99", "/api/main/users/abc", "/api/main/users/99/transactions"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "User not found in the main database"}


def test_a_missing_wallets_table_hides_only_the_wallet_panels(
    api_for: Callable[[MainDatabase | None], TestClient],
    make_main: Callable[..., MainTarget],
    opened: Callable[..., MainDatabase],
) -> None:
    client = api_for(opened(make_main(omit=frozenset({"wallets", "transactions"}))))
    body = client.get("/api/main/users/1").json()
    assert body["available"] is True
    assert body["user"]["id"] == 1
    missing = {"available": False, "reason": "table wallets not found in the main database"}
    assert body["wallets"] == missing
    assert body["transactions"] == missing
    transactions = client.get("/api/main/users/1/transactions")
    assert transactions.status_code == 200
    assert transactions.json() == {
        "available": False,
        "reason": "table wallets not found in the main database",
    }


def test_a_missing_transactions_table_hides_only_the_transactions_panel(
    api_for: Callable[[MainDatabase | None], TestClient],
    make_main: Callable[..., MainTarget],
    opened: Callable[..., MainDatabase],
) -> None:
    client = api_for(opened(make_main(omit=frozenset({"transactions"}))))
    body = client.get("/api/main/users/1").json()
    assert body["wallets"]["totalBalance"] == 150_000 + BIG_BALANCE
    assert body["transactions"] == {
        "available": False,
        "reason": "table transactions not found in the main database",
    }
