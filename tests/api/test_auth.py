"""Bearer tokens: missing → 401, unknown or revoked → 401, wrong scope → 403."""

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.auth import tokens
from app.models import ApiToken


def test_a_missing_token_is_401_with_the_earlier_detail(anon_client: TestClient) -> None:
    response = anon_client.get("/api/agents")
    assert response.status_code == 401
    assert response.json() == {"detail": "Missing token"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_an_unknown_token_is_401(anon_client: TestClient) -> None:
    response = anon_client.get("/api/agents", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked token"}


def test_a_malformed_authorization_header_is_401(anon_client: TestClient) -> None:
    response = anon_client.get("/api/agents", headers={"Authorization": "Basic dXNlcg=="})
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]


def test_a_stored_read_token_works_and_records_last_use(
    anon_client: TestClient, db_session: Session, token_for: Callable[[str], dict[str, str]]
) -> None:
    headers = token_for("read")
    assert anon_client.get("/api/agents", headers=headers).status_code == 200
    db_session.expire_all()
    token = db_session.exec(select(ApiToken)).one()
    assert token.last_used_at is not None


def test_a_revoked_token_stops_working(
    anon_client: TestClient, db_session: Session, token_for: Callable[[str], dict[str, str]]
) -> None:
    headers = token_for("read")
    token = db_session.exec(select(ApiToken)).one()
    tokens.revoke_token(session=db_session, token_id=token.id)
    response = anon_client.get("/api/agents", headers=headers)
    assert response.status_code == 401


def test_tokens_are_stored_hashed(db_session: Session) -> None:
    row, plaintext = tokens.create_token(session=db_session, name="bridge", scope="ingest")
    assert plaintext.startswith("prism_")
    assert plaintext not in (row.token_hash, row.prefix)
    assert row.token_hash == tokens.hash_token(plaintext)


def test_an_ingest_token_cannot_read(
    anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> None:
    response = anon_client.get("/api/agents", headers=token_for("ingest"))
    assert response.status_code == 403
    assert response.json() == {"detail": "This token's scope (ingest) does not allow read access"}


def test_every_response_carries_request_id_and_security_headers(anon_client: TestClient) -> None:
    response = anon_client.get("/no-such-page", headers={"X-Request-ID": "caller-id-1"})
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    assert response.headers["X-Request-ID"] == "caller-id-1"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_a_request_id_is_generated_when_none_is_sent(anon_client: TestClient) -> None:
    first = anon_client.get("/no-such-page").headers["X-Request-ID"]
    second = anon_client.get("/no-such-page").headers["X-Request-ID"]
    assert len(first) == 36 and first != second


def test_non_finite_numbers_get_a_422_not_a_500(client: TestClient) -> None:
    response = client.post(
        "/api/agents",
        content=b'{"id": "a-1", "name": "A", "domain": "ops", "memoryUsedMB": NaN}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    fields = [error["loc"][-1] for error in response.json()["detail"]]
    assert "memoryUsedMB" in fields


def test_non_finite_sample_values_get_a_422_naming_the_field(client: TestClient) -> None:
    response = client.post(
        "/api/miners/sample",
        content=b'{"miner_id": "m-1", "hashrate_1m": Infinity}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"][-1] == "hashrate_1m"
    assert error["input"] == "inf"
