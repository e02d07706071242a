"""A lone surrogate ("\\ud800") in any JSON body, however deep, is a 422 and writes nothing."""

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select
from starlette.exceptions import HTTPException

from app.core.json_input import LoneSurrogateMiddleware
from app.models import Runbook, RunbookRun

JSON = {"Content-Type": "application/json"}


def _raw(text: str) -> bytes:
    """A JSON body written by hand, its escapes exactly as a client would send them."""
    return text.encode()


def _count(session: Session, model: Any) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(model)).one()


def _the_error(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["type"] == "string_unicode"
    assert "lone surrogate" in error["msg"]
    return dict(error)


def test_a_surrogate_inside_an_inputs_schema_is_refused_and_reads_keep_working(
    client: TestClient, db_session: Session
) -> None:
    body = (
        '{"id": "rb", "title": "T", '
        '"inputsSchema": {"properties": {"a": {"description": "\\ud800"}}}}'
    )
    error = _the_error(client.post("/api/runbooks", content=_raw(body), headers=JSON))
    assert error["loc"] == ["body", "inputsSchema", "properties", "a", "description"]
    assert error["input"] == "\\ud800"
    assert _count(db_session, Runbook) == 0
    assert client.get("/api/runbooks").status_code == 200


def test_a_surrogate_in_execute_input_records_no_run(
    client: TestClient, db_session: Session
) -> None:
    assert client.post("/api/runbooks", json={"id": "rb", "title": "T"}).status_code == 201
    body = '{"input": {"list": ["ok", {"\\udc00key": 1}]}}'
    error = _the_error(client.post("/api/runbooks/rb/execute", content=_raw(body), headers=JSON))
    assert error["loc"] == ["body", "input", "list", 1, "\\udc00key"]
    assert _count(db_session, RunbookRun) == 0
    assert client.get("/api/runbooks/rb/runs").status_code == 200


def test_a_surrogate_in_a_patched_title_changes_nothing(
    client: TestClient, db_session: Session
) -> None:
    assert client.post("/api/runbooks", json={"id": "rb", "title": "T"}).status_code == 201
    response = client.patch("/api/runbooks/rb", content=_raw('{"title": "a\\uDBFF"}'), headers=JSON)
    assert _the_error(response)["loc"] == ["body", "title"]
    assert client.get("/api/runbooks/rb").json()["runbook"]["title"] == "T"


def test_a_pair_of_surrogates_is_one_character_and_welcome(client: TestClient) -> None:
    body = (
        '{"id": "rb", "title": "Deploy \\ud83d\\ude80", '
        '"inputsSchema": {"description": "\\ud83d\\ude80"}}'
    )
    response = client.post("/api/runbooks", content=_raw(body), headers=JSON)
    assert response.status_code == 201, response.text
    runbook = client.get("/api/runbooks/rb").json()["runbook"]
    assert (runbook["title"], runbook["inputsSchema"]["description"]) == ("Deploy 🚀", "🚀")


def test_an_escaped_backslash_before_u_is_not_a_surrogate(client: TestClient) -> None:
    body = '{"id": "rb", "title": "path \\\\ud800", "inputsSchema": {}}'
    response = client.post("/api/runbooks", content=_raw(body), headers=JSON)
    assert response.status_code == 201, response.text
    assert client.get("/api/runbooks/rb").json()["runbook"]["title"] == "path \\ud800"


def _json_writes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema and route.body_field:
            found.extend((method, str(context.path)) for method in sorted(route.methods))
    return found


def test_every_json_body_of_the_api_refuses_a_nested_surrogate(
    app: FastAPI, client: TestClient
) -> None:
    routes = _json_writes(app)
    assert ("POST", "/api/miners/samples") in routes
    assert ("PUT", "/api/settings/{key}") in routes
    body = _raw(
        '{"samples": [{"miner_id": "rig", "pool": "\\ud800"}], "deep": [[{"x": "\\udfff"}]]}'
    )
    for method, path in routes:
        response = client.request(method, re.sub(r"\{[^}]+\}", "probe-id", path), content=body)
        assert response.status_code == 422, (method, path, response.text)
        errors = response.json()["detail"]
        assert [error["type"] for error in errors] == ["string_unicode"] * 2, (method, path)
        assert [error["loc"] for error in errors] == [
            ["body", "samples", 0, "pool"],
            ["body", "deep", 0, 0, "x"],
        ], (method, path)


@pytest.mark.parametrize("split", range(1, 12))
def test_an_escape_split_between_two_chunks_is_still_found(split: int) -> None:
    """The body arrives in pieces: the cut may fall inside the escape."""
    body = b'{"a": "\\ud800"}'
    chunks = [body[:split], body[split:]]
    answered: list[Any] = []

    async def route(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if not message.get("more_body"):
                break
        answered.append("read")

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: Any) -> None:
        answered.append(message)

    middleware = LoneSurrogateMiddleware(route)
    scope = {"type": "http", "headers": [(b"content-type", b"application/json")]}
    with pytest.raises(HTTPException) as raised:
        asyncio.run(middleware(scope, receive, send))
    assert raised.value.status_code == 422
    assert json.loads(json.dumps(raised.value.detail))[0]["loc"] == ["body", "a"]
    assert answered == []


def test_rows_stored_before_the_rule_are_answered_escaped_not_with_a_500(
    client: TestClient, db_session: Session
) -> None:
    """An adopted database may hold what was taken in before: reads keep working."""
    at = datetime(2026, 12, 1, tzinfo=UTC)
    db_session.add(Runbook(id="old", title="Old", inputs_schema={"description": "x\ud800"}))
    db_session.add(
        RunbookRun(id="r1", runbook_id="old", input={"a": "\udc00"}, created_at=at, updated_at=at)
    )
    db_session.commit()
    listed = client.get("/api/runbooks")
    assert listed.status_code == 200
    assert listed.json()["items"][0]["inputsSchema"] == {"description": "x\\ud800"}
    runs = client.get("/api/runbooks/old/runs")
    assert runs.status_code == 200
    assert runs.json()["items"][0]["input"] == {"a": "\\udc00"}
    execute = client.post("/api/runbooks/old/execute", json={"input": {}})
    assert execute.status_code == 409
    assert "lone surrogate (at /description)" in execute.json()["detail"]
