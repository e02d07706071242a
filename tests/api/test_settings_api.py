"""/api/settings: key-value CRUD; internal `_` keys never listed, shown or changed."""

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.core.timeutil import parse_datetime
from app.models import Setting
from app.settings import service as settings_store

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def _add(session: Session, key: str, value: str = "v") -> None:
    session.add(Setting(key=key, value=value, updated_at=T0))
    session.commit()


def _count(session: Session) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(Setting)).one()


def test_put_creates_a_setting(client: TestClient, db_session: Session) -> None:
    response = client.put("/api/settings/site.title", json={"value": "Prism"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"key", "value", "updatedAt"}
    assert (body["key"], body["value"]) == ("site.title", "Prism")
    assert body["updatedAt"].endswith("Z")
    stored = db_session.get(Setting, "site.title")
    assert stored is not None and stored.value == "Prism"


def test_put_replaces_the_value_and_the_time(client: TestClient, db_session: Session) -> None:
    _add(db_session, "site.title", "Old")
    response = client.put("/api/settings/site.title", json={"value": "New"})
    assert response.status_code == 200
    assert response.json()["value"] == "New"
    assert parse_datetime(response.json()["updatedAt"]) > T0
    assert _count(db_session) == 1


def test_the_list_is_sorted_by_key_and_hides_internal_keys(
    client: TestClient, db_session: Session
) -> None:
    for key in ("theme", "_secret_key", "alerts.email", "_other"):
        _add(db_session, key)
    response = client.get("/api/settings")
    assert response.status_code == 200
    body = response.json()
    assert [item["key"] for item in body["items"]] == ["alerts.email", "theme"]
    assert body["nextCursor"] is None
    assert body["items"][0] == {
        "key": "alerts.email",
        "value": "v",
        "updatedAt": "2026-01-05T10:00:00Z",
    }


def test_the_list_pages_by_key(client: TestClient, db_session: Session) -> None:
    for key in ("a", "b", "c", "_x", "d", "e"):
        _add(db_session, key)
    first = client.get("/api/settings?limit=2").json()
    second = client.get(f"/api/settings?limit=2&cursor={first['nextCursor']}").json()
    third = client.get(f"/api/settings?limit=2&cursor={second['nextCursor']}").json()
    pages = [[item["key"] for item in page["items"]] for page in (first, second, third)]
    assert pages == [["a", "b"], ["c", "d"], ["e"]]
    assert third["nextCursor"] is None


def test_one_setting_by_key(client: TestClient, db_session: Session) -> None:
    _add(db_session, "theme", "dark")
    response = client.get("/api/settings/theme")
    assert response.status_code == 200
    assert response.json() == {"key": "theme", "value": "dark", "updatedAt": "2026-01-05T10:00:00Z"}


def test_an_unknown_setting_is_404(client: TestClient) -> None:
    for response in (client.get("/api/settings/nope"), client.delete("/api/settings/nope")):
        assert response.status_code == 404
        assert response.json() == {"detail": "Setting not found"}


def test_internal_keys_read_as_missing_and_leak_nothing(
    client: TestClient, db_session: Session
) -> None:
    _add(db_session, "_secret_key", "very-secret-value")
    response = client.get("/api/settings/_secret_key")
    assert response.status_code == 404
    assert response.json() == {"detail": "Setting not found"}
    assert "very-secret-value" not in client.get("/api/settings").text


def test_internal_keys_cannot_be_written_or_deleted(
    client: TestClient, db_session: Session
) -> None:
    _add(db_session, "_secret_key", "kept")
    for response in (
        client.put("/api/settings/_secret_key", json={"value": "mine"}),
        client.put("/api/settings/_new", json={"value": "mine"}),
        client.delete("/api/settings/_secret_key"),
    ):
        assert response.status_code == 422
        (error,) = response.json()["detail"]
        assert (error["loc"], error["type"]) == (["path", "key"], "setting_key_reserved")
    db_session.expire_all()
    assert settings_store.get_value(session=db_session, key="_secret_key") == "kept"
    assert _count(db_session) == 1


@pytest.mark.parametrize("key", ["has space", "a" * 129, "no\u00a0break", "zero\ufeffwidth"])
def test_an_invalid_key_is_422_naming_the_key(
    client: TestClient, db_session: Session, key: str
) -> None:
    response = client.put(f"/api/settings/{key}", json={"value": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "key"]
    assert _count(db_session) == 0


@pytest.mark.parametrize("key", ["semi;colon", "é", "a:b@c", "...", "%"])
def test_any_other_id_is_a_key_that_can_be_read_back(client: TestClient, key: str) -> None:
    path = f"/api/settings/{quote(key, safe='')}"
    assert client.put(path, json={"value": "x"}).status_code == 200
    assert client.get(path).json()["key"] == key


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "value"]),
        ({"value": 5}, ["body", "value"]),
        ({"value": None}, ["body", "value"]),
        ({"value": "x" * 10_001}, ["body", "value"]),
    ],
)
def test_an_invalid_value_is_422_and_writes_nothing(
    client: TestClient, db_session: Session, body: dict[str, object], loc: list[str]
) -> None:
    response = client.put("/api/settings/theme", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc
    assert _count(db_session) == 0


def test_delete_answers_204_and_removes_the_setting(
    client: TestClient, db_session: Session
) -> None:
    _add(db_session, "theme")
    _add(db_session, "keep")
    response = client.delete("/api/settings/theme")
    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/api/settings/theme").status_code == 404
    assert _count(db_session) == 1


def test_settings_need_a_token(anon_client: TestClient) -> None:
    for method, path in (
        ("GET", "/api/settings"),
        ("GET", "/api/settings/theme"),
        ("PUT", "/api/settings/theme"),
        ("DELETE", "/api/settings/theme"),
    ):
        assert anon_client.request(method, path, json={"value": "x"}).status_code == 401


def test_a_read_token_reads_but_cannot_write(
    anon_client: TestClient, db_session: Session, token_for: Callable[[str], dict[str, str]]
) -> None:
    _add(db_session, "theme", "dark")
    headers = token_for("read")
    assert anon_client.get("/api/settings", headers=headers).status_code == 200
    assert anon_client.get("/api/settings/theme", headers=headers).status_code == 200
    put = anon_client.put("/api/settings/theme", json={"value": "light"}, headers=headers)
    delete = anon_client.delete("/api/settings/theme", headers=headers)
    assert (put.status_code, delete.status_code) == (403, 403)
    db_session.expire_all()
    assert settings_store.get_value(session=db_session, key="theme") == "dark"
