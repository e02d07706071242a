"""A runbook's inputsSchema cannot make the server fetch a URL, loop, crash or backtrack."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.core.config import Settings
from app.main import create_app
from app.models import Runbook, RunbookRun, inputs_schema
from tests.conftest import AUTH
from tests.support.counting_server import SECRET, CountingServer, counting_server
from tests.support.servers import running_server

NEW = {"id": "rb-safe", "title": "Safe"}
RECURSIVE = {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}
CATASTROPHIC = "^(a+)+$"


@pytest.fixture
def internal() -> Iterator[CountingServer]:
    with counting_server() as server:
        yield server


def _runbooks(session: Session) -> list[Runbook]:
    session.expire_all()
    return list(session.exec(select(Runbook)).all())


def _run_count(session: Session) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(RunbookRun)).one()


def _store(session: Session, schema: dict[str, Any], runbook_id: str = "stored") -> None:
    """A row written before these rules (an adopted database, a script): not validated."""
    session.add(Runbook(id=runbook_id, title="Stored", inputs_schema=schema))
    session.commit()


def _refused_naming_inputs_schema(response: httpx.Response, *words: str) -> str:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "inputsSchema"]
    for word in words:
        assert word in error["msg"]
    return str(error["msg"])


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param(lambda url: {"$ref": f"{url}/internal"}, id="top-level"),
        pytest.param(
            lambda url: {"properties": {"s": {"allOf": [{"$ref": f"{url}/s.json#/x"}]}}},
            id="nested",
        ),
        pytest.param(lambda url: {"$dynamicRef": f"{url}/meta#node"}, id="dynamic"),
    ],
)
def test_a_remote_reference_is_refused_at_create_and_never_fetched(
    client: TestClient, db_session: Session, internal: CountingServer, schema: Any
) -> None:
    response = client.post("/api/runbooks", json={**NEW, "inputsSchema": schema(internal.url)})
    message = _refused_naming_inputs_schema(response, "does not resolve inside the schema")
    assert internal.url in message
    assert internal.hits == 0
    assert SECRET not in response.text
    assert _runbooks(db_session) == []


def test_a_remote_reference_is_refused_at_update(
    client: TestClient, db_session: Session, internal: CountingServer
) -> None:
    assert client.post("/api/runbooks", json={**NEW, "inputsSchema": {}}).status_code == 201
    response = client.patch(
        f"/api/runbooks/{NEW['id']}",
        json={"title": "Changed", "inputsSchema": {"$ref": f"{internal.url}/internal"}},
    )
    _refused_naming_inputs_schema(response, "does not resolve")
    assert internal.hits == 0
    [stored] = _runbooks(db_session)
    assert (stored.title, stored.inputs_schema) == ("Safe", {})


def test_a_stored_remote_reference_is_a_409_at_execute_and_never_fetched(
    client: TestClient, db_session: Session, internal: CountingServer
) -> None:
    _store(db_session, {"$ref": f"{internal.url}/internal"})
    for _ in range(2):
        response = client.post("/api/runbooks/stored/execute", json={"input": {}})
        assert response.status_code == 409
        assert "invalid inputsSchema" in response.json()["detail"]
        assert SECRET not in response.text
    assert internal.hits == 0
    assert _run_count(db_session) == 0


def test_local_references_still_validate_the_input(client: TestClient) -> None:
    schema = {
        "$defs": {"service": {"$anchor": "svc", "type": "string", "minLength": 2}},
        "type": "object",
        "required": ["service"],
        "properties": {"service": {"$ref": "#/$defs/service"}, "other": {"$ref": "#svc"}},
    }
    assert client.post("/api/runbooks", json={**NEW, "inputsSchema": schema}).status_code == 201
    url = f"/api/runbooks/{NEW['id']}/execute"
    bad = client.post(url, json={"input": {"service": "x"}})
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("'x' is too short")
    assert client.post(url, json={"input": {"service": "api", "other": "ok"}}).status_code == 200


def test_the_bundled_meta_schema_may_be_referenced(client: TestClient) -> None:
    schema = {"properties": {"spec": {"$ref": "https://json-schema.org/draft/2020-12/schema"}}}
    assert client.post("/api/runbooks", json={**NEW, "inputsSchema": schema}).status_code == 201
    url = f"/api/runbooks/{NEW['id']}/execute"
    assert client.post(url, json={"input": {"spec": {"type": 5}}}).status_code == 400
    assert client.post(url, json={"input": {"spec": {"type": "string"}}}).status_code == 200


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param(RECURSIVE, id="self"),
        pytest.param({"$ref": "#"}, id="root"),
        pytest.param(
            {
                "$defs": {
                    "a": {"anyOf": [{"$ref": "#/$defs/b"}]},
                    "b": {"not": {"$ref": "#/$defs/a"}},
                },
                "properties": {"x": {"$ref": "#/$defs/a"}},
            },
            id="through-combinators",
        ),
    ],
)
def test_a_reference_loop_is_refused_at_create(
    client: TestClient, db_session: Session, schema: dict[str, Any]
) -> None:
    response = client.post("/api/runbooks", json={**NEW, "inputsSchema": schema})
    _refused_naming_inputs_schema(response, "endless loop")
    assert _runbooks(db_session) == []


def test_a_recursive_schema_that_descends_is_accepted(client: TestClient) -> None:
    tree = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            }
        },
        "$ref": "#/$defs/node",
    }
    assert client.post("/api/runbooks", json={**NEW, "inputsSchema": tree}).status_code == 201
    url = f"/api/runbooks/{NEW['id']}/execute"
    nested = {"children": [{"children": [{"children": 5}]}]}
    assert client.post(url, json={"input": nested}).status_code == 400
    assert client.post(url, json={"input": {"children": [{"children": []}]}}).status_code == 200


def test_input_nested_deeper_than_the_validator_can_follow_is_a_422(
    client: TestClient, db_session: Session
) -> None:
    lists = {"$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}}}
    schema = {**lists, "properties": {"x": {"$ref": "#/$defs/n"}}}
    assert client.post("/api/runbooks", json={**NEW, "inputsSchema": schema}).status_code == 201
    deep: list[Any] = []
    for _ in range(900):
        deep = [deep]
    response = client.post(f"/api/runbooks/{NEW['id']}/execute", json={"input": {"x": deep}})
    assert response.status_code == 422
    assert "nested too deeply" in response.json()["detail"]
    assert _run_count(db_session) == 0


def _nested(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


def test_a_schema_nested_too_deeply_is_refused_at_create(
    client: TestClient, db_session: Session
) -> None:
    response = client.post("/api/runbooks", json={**NEW, "inputsSchema": _nested(150)})
    _refused_naming_inputs_schema(response, f"more than {inputs_schema.MAX_SCHEMA_DEPTH} levels")
    assert _runbooks(db_session) == []
    ok = client.post("/api/runbooks", json={**NEW, "inputsSchema": _nested(20)})
    assert ok.status_code == 201


def test_a_schema_too_large_is_refused_at_create(client: TestClient, db_session: Session) -> None:
    properties = {f"p{i}": {"type": "string", "description": "x" * 100} for i in range(1000)}
    response = client.post(
        "/api/runbooks", json={**NEW, "inputsSchema": {"properties": properties}}
    )
    _refused_naming_inputs_schema(response, f"larger than {inputs_schema.MAX_SCHEMA_BYTES} bytes")
    assert _runbooks(db_session) == []


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param(RECURSIVE, id="reference-loop"),
        pytest.param(_nested(150), id="nested-150"),
        pytest.param({"properties": {"s": {"pattern": "(a)\\1"}}}, id="backreference"),
    ],
)
def test_a_stored_schema_breaking_the_rules_is_a_409_at_execute_never_a_500(
    client: TestClient, db_session: Session, schema: dict[str, Any]
) -> None:
    _store(db_session, schema)
    response = client.post("/api/runbooks/stored/execute", json={"input": {}})
    assert response.status_code == 409, response.text
    assert "fix it first" in response.json()["detail"]
    assert _run_count(db_session) == 0


def test_a_pattern_re2_cannot_run_is_refused_at_create(client: TestClient) -> None:
    schema = {"properties": {"s": {"type": "string", "pattern": "^(?=a)a$"}}}
    response = client.post("/api/runbooks", json={**NEW, "inputsSchema": schema})
    _refused_naming_inputs_schema(response, "/properties/s/pattern", "RE2")


def test_pattern_properties_with_unevaluated_properties_are_refused(client: TestClient) -> None:
    schema = {"patternProperties": {"^a": {}}, "unevaluatedProperties": False}
    response = client.post("/api/runbooks", json={**NEW, "inputsSchema": schema})
    _refused_naming_inputs_schema(response, "unevaluatedProperties")


def test_unique_items_compares_as_json_schema_does(client: TestClient) -> None:
    schema = {"properties": {"xs": {"type": "array", "uniqueItems": True}}}
    assert client.post("/api/runbooks", json={**NEW, "inputsSchema": schema}).status_code == 201
    url = f"/api/runbooks/{NEW['id']}/execute"
    for duplicated in ([1, 1.0], [{"a": [1, {"b": 2}]}, {"a": [1, {"b": 2.0}]}]):
        response = client.post(url, json={"input": {"xs": duplicated}})
        assert response.status_code == 400
        assert "non-unique elements" in response.json()["detail"]
    distinct = [1, True, 0, False, {"a": 1}, {"a": True}, [1], [True], "1", None]
    assert client.post(url, json={"input": {"xs": distinct}}).status_code == 200


def test_validation_over_its_deadline_is_a_422_and_records_nothing(
    client: TestClient, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = {"properties": {"s": {"type": "string"}}}
    assert client.post("/api/runbooks", json={**NEW, "inputsSchema": schema}).status_code == 201
    ticks = iter(range(0, 10**6, 10))  # every reading of the clock is ten seconds later
    monkeypatch.setattr(inputs_schema, "clock", lambda: float(next(ticks)))
    response = client.post(f"/api/runbooks/{NEW['id']}/execute", json={"input": {"s": "a"}})
    assert response.status_code == 422
    assert "took longer than" in response.json()["detail"]
    assert _run_count(db_session) == 0


def test_catastrophic_patterns_answer_at_once_on_a_real_server(
    client: TestClient, app_settings: Settings
) -> None:
    """With backtracking each of these requests would run for longer than the universe has."""
    evil = "a" * 64 + "!"
    schema = {
        "type": "object",
        "properties": {"s": {"type": "string", "pattern": CATASTROPHIC}},
        "patternProperties": {CATASTROPHIC: {"type": "integer"}},
        "additionalProperties": {"type": "string"},
    }
    # A generous timeout: a busy machine is slow, a backtracking engine never answers.
    with (
        running_server(create_app(app_settings)) as base_url,
        httpx.Client(base_url=base_url, headers=AUTH, timeout=60) as http,
    ):
        created = http.post(
            "/api/runbooks", json={"id": "rb-redos", "title": "R", "inputsSchema": schema}
        )
        assert created.status_code == 201, created.text
        url = "/api/runbooks/rb-redos/execute"
        by_value = http.post(url, json={"input": {"s": evil}})
        assert by_value.status_code == 400
        assert "does not match" in by_value.json()["detail"]
        by_key = http.post(url, json={"input": {evil: "text"}})
        assert by_key.status_code == 200, by_key.text
