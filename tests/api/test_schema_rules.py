"""The OpenAPI document states the rules the service enforces (schemathesis finds).

A client that follows the document must never be refused, and what the document calls
invalid must be refused: control characters (in URLs and one-line text), the bounds of
numbers, null in partial updates, and the time forms (fractional unix seconds included).
"""

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.validators import MULTI_LINE_PATTERN, ONE_LINE_PATTERN


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _strings(schema: dict[str, Any]) -> list[dict[str, Any]]:
    found = [schema] if schema.get("type") == "string" else []
    for branch in schema.get("anyOf", []):
        found += _strings(branch)
    if isinstance(schema.get("items"), dict):
        found += _strings(schema["items"])
    return found


def test_every_string_in_a_url_says_control_characters_are_refused(
    document: dict[str, Any],
) -> None:
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] not in ("path", "query"):
                    continue
                for string in _strings(parameter["schema"]):
                    checked += 1
                    said = {"pattern", "enum", "format", "const"} & string.keys()
                    assert said, (method, path, parameter["name"])
                    if "pattern" in string:
                        assert not re.search(string["pattern"], "a\x00b"), (path, parameter)
    assert checked > 50


def _component(document: dict[str, Any], model: str, field: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][model]["properties"][field]
    return schema


def test_text_fields_say_which_characters_they_refuse(document: dict[str, Any]) -> None:
    assert _component(document, "MetricCreate", "title")["pattern"] == ONE_LINE_PATTERN
    assert _component(document, "SettingWrite", "value")["pattern"] == MULTI_LINE_PATTERN
    name = _component(document, "AgentCreate", "name")["pattern"]
    # A name is stripped and may not be empty: the schema asks for a visible character.
    assert re.fullmatch(name, " Ops Agent 1 ") and not re.fullmatch(name, "   ")
    assert not re.fullmatch(name, "Ops\x85Agent")


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        ("AgentUpdate", ["name", "domain", "status", "memoryUsedMB", "version"]),
        ("Heartbeat", ["name", "domain", "status", "memoryUsedMB", "version"]),
        ("MetricUpdate", ["title", "value", "caption", "icon", "status"]),
    ],
)
def test_partial_updates_offer_no_null_for_what_they_refuse_as_null(
    document: dict[str, Any], model: str, fields: list[str]
) -> None:
    for field in fields:
        schema = _component(document, model, field)
        assert {"type": "null"} not in schema.get("anyOf", []), (model, field)
        assert "default" not in schema, (model, field)


def test_a_blank_name_the_schema_refuses_is_refused(client: TestClient) -> None:
    response = client.post("/api/agents", json={"id": "a", "name": "   ", "domain": "ops"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


def test_share_counts_as_text_are_read_in_the_forms_the_schema_gives(
    client: TestClient, document: dict[str, Any]
) -> None:
    schema = _component(document, "MinerSampleIn", "shares_accepted")
    (text,) = [branch for branch in schema["anyOf"] if branch["type"] == "string"]
    assert re.fullmatch(text["pattern"], "100")
    ok = client.post("/api/miners/sample", json={"miner_id": "rig-1", "shares_accepted": "100"})
    assert ok.status_code == 202
    latest = client.get("/api/miners/latest").json()["samples"][0]
    assert latest["shares_accepted"] == 100


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/miners/sample", {"miner_id": "rig-1", "shares_accepted": True}, "shares_accepted"),
        ("/api/miners/sample", {"miner_id": "rig-1", "hashrate_1m": True}, "hashrate_1m"),
        ("/api/miners/sample", {"miner_id": "rig-1", "hashrate_1m": "1e3"}, "hashrate_1m"),
        ("/api/miners/sample", {"miner_id": "rig-1", "shares_accepted": 1.5}, "shares_accepted"),
        (
            "/api/agents",
            {"id": "a", "name": "A", "domain": "d", "memoryUsedMB": "5"},
            "memoryUsedMB",
        ),
        (
            "/api/agents",
            {"id": "a", "name": "A", "domain": "d", "memoryUsedMB": False},
            "memoryUsedMB",
        ),
    ],
)
def test_what_the_schema_calls_no_number_is_refused(
    client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == field


def _time_forms(document: dict[str, Any]) -> list[dict[str, Any]]:
    (since,) = [
        parameter
        for parameter in document["paths"]["/api/events"]["get"]["parameters"]
        if parameter["name"] == "since"
    ]
    (forms,) = [branch for branch in since["schema"]["anyOf"] if "anyOf" in branch]
    branches: list[dict[str, Any]] = forms["anyOf"]
    return branches


def test_fractional_unix_seconds_are_declared_and_accepted(
    client: TestClient, document: dict[str, Any]
) -> None:
    (number,) = [branch for branch in _time_forms(document) if branch["type"] == "number"]
    assert (number["minimum"], number["exclusiveMaximum"]) == (-62_135_596_800, 253_402_300_800)
    assert client.get("/api/events", params={"until": "1767607200.5"}).status_code == 200
    created = client.post(
        "/api/agents",
        json={"id": "a", "name": "A", "domain": "d", "lastSeenAt": 1767607200.25},
    )
    assert created.status_code == 201, created.text
    seen = datetime(2026, 1, 5, 10, 0, 0, 250000, tzinfo=UTC)
    assert created.json()["lastSeenAt"] == seen.isoformat().replace("+00:00", "Z")


def test_every_declared_time_form_is_accepted(client: TestClient) -> None:
    for moment in (
        "2026-01-05T10:00:00Z",
        "2026-01-05T11:00:00+01:00",
        "2026-01-05 10:00",
        "2026-01-05",
        "1767607200",
        "-1.5",
        "1e9",
    ):
        response = client.get("/api/events", params={"until": moment})
        assert response.status_code == 200, (moment, response.text)


@pytest.mark.parametrize("moment", ["253402300800", "-62135596801", "yesterday", "1_000"])
def test_times_outside_the_declared_forms_are_refused(client: TestClient, moment: str) -> None:
    response = client.get("/api/events", params={"until": moment})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "until"]
