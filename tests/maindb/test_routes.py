"""The /api/main routes: read scope required, every status code documented."""

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth import tokens
from app.maindb.api import router


def _paths() -> list[str]:
    return sorted({route.path for route in router.routes})  # type: ignore[attr-defined]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _headers(session: Session, scope: str) -> dict[str, str]:
    _, plaintext = tokens.create_token(session=session, name=f"main-{scope}", scope=scope)
    return {"Authorization": f"Bearer {plaintext}"}


def test_every_main_route_needs_a_read_token(api: TestClient, console_session: Session) -> None:
    app: FastAPI = api.app  # type: ignore[assignment]
    anonymous = TestClient(app)
    ingest = _headers(console_session, "ingest")
    read = _headers(console_session, "read")
    assert len(_paths()) == 12
    for path in map(_concrete, _paths()):
        missing = anonymous.get(path)
        assert missing.status_code == 401, path
        assert missing.json() == {"detail": "Missing token"}
        wrong_scope = anonymous.get(path, headers=ingest)
        assert wrong_scope.status_code == 403, path
        allowed = anonymous.get(path, headers=read)
        assert allowed.status_code in (200, 404), (path, allowed.text)


def test_the_openapi_document_describes_both_answers_and_every_error(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    for path in _paths():
        operation = document["paths"][path]["get"]
        assert {"200", "401", "403"} <= set(operation["responses"]), path
        if "{" in path:
            assert "404" in operation["responses"], path
    users = document["paths"]["/api/main/users"]["get"]["responses"]["200"]
    schema = users["content"]["application/json"]["schema"]
    refs = {option["$ref"].rsplit("/", 1)[1] for option in schema["anyOf"]}
    assert refs == {"UserPage", "Unavailable"}
    assert "password_hash" not in str(document)
