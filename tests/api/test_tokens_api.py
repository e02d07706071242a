"""/api/tokens (admin): create shows the secret once, list never shows hashes, revoke works."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.auth import tokens
from app.models import ApiToken

PUBLIC_KEYS = {"id", "name", "scope", "prefix", "createdAt", "lastUsedAt", "revokedAt"}


def _count(session: Session) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(ApiToken)).one()


def test_create_answers_201_with_the_secret_once(client: TestClient, db_session: Session) -> None:
    response = client.post("/api/tokens", json={"name": "miner bridge", "scope": "ingest"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == PUBLIC_KEYS | {"token"}
    assert (body["name"], body["scope"]) == ("miner bridge", "ingest")
    assert body["token"].startswith(body["prefix"])
    assert body["createdAt"].endswith("Z")
    assert body["lastUsedAt"] is None and body["revokedAt"] is None
    stored = db_session.get(ApiToken, body["id"])
    assert stored is not None
    assert stored.token_hash == tokens.hash_token(body["token"])
    assert body["token"] not in client.get("/api/tokens").text


def test_a_created_token_works_with_its_scope(client: TestClient, anon_client: TestClient) -> None:
    secret = client.post("/api/tokens", json={"name": "viewer", "scope": "read"}).json()["token"]
    headers = {"Authorization": f"Bearer {secret}"}
    assert anon_client.get("/api/settings", headers=headers).status_code == 200
    assert anon_client.get("/api/tokens", headers=headers).status_code == 403


def test_the_list_shows_every_token_without_hashes(client: TestClient) -> None:
    first = client.post("/api/tokens", json={"name": "one", "scope": "read"}).json()
    second = client.post("/api/tokens", json={"name": "two", "scope": "admin"}).json()
    response = client.get("/api/tokens")
    assert response.status_code == 200
    body = response.json()
    assert body["nextCursor"] is None
    assert sorted(item["id"] for item in body["items"]) == sorted([first["id"], second["id"]])
    for item in body["items"]:
        assert set(item) == PUBLIC_KEYS
    assert "token_hash" not in response.text and "tokenHash" not in response.text


def test_revoke_answers_the_revoked_token_and_it_stops_working(
    client: TestClient, anon_client: TestClient
) -> None:
    created = client.post("/api/tokens", json={"name": "temp", "scope": "read"}).json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert anon_client.get("/api/settings", headers=headers).status_code == 200
    response = client.delete(f"/api/tokens/{created['id']}")
    assert response.status_code == 200
    assert response.json()["id"] == created["id"]
    assert response.json()["revokedAt"].endswith("Z")
    assert set(response.json()) == PUBLIC_KEYS
    assert anon_client.get("/api/settings", headers=headers).status_code == 401
    again = client.delete(f"/api/tokens/{created['id']}")
    assert again.json()["revokedAt"] == response.json()["revokedAt"]


def test_revoking_an_unknown_token_is_404(client: TestClient) -> None:
    response = client.delete("/api/tokens/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Token not found"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scope": "root"}, "scope"),
        ({"name": "x"}, "scope"),
        ({"name": "   ", "scope": "read"}, "name"),
        ({"scope": "read"}, "name"),
        ({"name": "n" * 201, "scope": "read"}, "name"),
    ],
)
def test_invalid_input_is_422_naming_the_field_and_creates_nothing(
    client: TestClient, db_session: Session, body: dict[str, str], field: str
) -> None:
    response = client.post("/api/tokens", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert _count(db_session) == 0


def test_tokens_need_a_token(anon_client: TestClient) -> None:
    for method, path in (
        ("GET", "/api/tokens"),
        ("POST", "/api/tokens"),
        ("DELETE", "/api/tokens/x"),
    ):
        assert (
            anon_client.request(method, path, json={"name": "x", "scope": "read"}).status_code
            == 401
        )


@pytest.mark.parametrize("scope", ["read", "ingest"])
def test_only_admin_tokens_manage_tokens(
    anon_client: TestClient,
    db_session: Session,
    token_for: Callable[[str], dict[str, str]],
    scope: str,
) -> None:
    headers = token_for(scope)
    own = db_session.exec(select(ApiToken)).one()
    responses = [
        anon_client.get("/api/tokens", headers=headers),
        anon_client.post("/api/tokens", json={"name": "x", "scope": "admin"}, headers=headers),
        anon_client.delete(f"/api/tokens/{own.id}", headers=headers),
    ]
    assert [response.status_code for response in responses] == [403, 403, 403]
    assert _count(db_session) == 1
    db_session.expire_all()
    assert db_session.get(ApiToken, own.id).revoked_at is None  # type: ignore[union-attr]
