"""/openapi.json documents the error answers the API really gives (found by the API fuzzer).

A 422 is FastAPI's list or one string naming the field; a JSON body that cannot be decoded
is a 400; ingest can be rate limited (429 with Retry-After); the ops stream documents its
events. Each answer below is validated against the schema the document gives for it.
"""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

NO_INPUT = {
    ("get", "/livez"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/api/health"),
    ("get", "/health"),
    ("get", "/api/tokens"),
    ("get", "/api/mobile/dashboard"),
    ("get", "/api/main/status"),
    ("get", "/api/main/roadchain"),
    ("get", "/api/stream/ops"),
    ("get", "/metrics"),
}


def _document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def _validate(document: dict[str, Any], method: str, path: str, response: Any) -> None:
    """The answer's body matches the schema documented for its status code."""
    documented = document["paths"][path][method]["responses"][str(response.status_code)]
    schema = documented["content"]["application/json"]["schema"]
    # The document's own "#/components/..." references resolve inside it.
    registry: Registry[Any] = Registry().with_resource(
        "urn:openapi", Resource(contents=document, specification=DRAFT202012)
    )
    validator = Draft202012Validator({"$ref": f"urn:openapi{schema['$ref']}"}, registry=registry)
    problems = [error.message for error in validator.iter_errors(response.json())]
    assert problems == [], (path, response.json())


def test_every_operation_with_input_documents_422_as_a_list_or_a_string(
    client: TestClient,
) -> None:
    document = _document(client)
    invalid = document["components"]["schemas"]["InvalidInput"]["properties"]["detail"]
    assert {option.get("type") for option in invalid["anyOf"]} == {"array", "string"}
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        if (method, path) in NO_INPUT:
            assert "422" not in responses, (method, path)
            continue
        schema = responses["422"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/InvalidInput"}, (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/api/agents?cursor=not-a-cursor", str),
        ("/api/export/events.json?kind=nope", str),
        ("/api/agents?limit=0", list),
        ("/api/events?since=2026-01-02&until=2026-01-01", str),
    ],
)
def test_a_422_of_either_shape_matches_the_document(
    client: TestClient, path: str, shape: type
) -> None:
    document = _document(client)
    response = client.get(path)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], shape)
    _validate(document, "get", path.split("?")[0], response)


def test_a_body_that_is_not_utf8_is_a_documented_400(client: TestClient) -> None:
    document = _document(client)
    response = client.post(
        "/api/agents", content=b'{"id": "\xff"}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "There was an error parsing the body"}
    _validate(document, "post", "/api/agents", response)
    undocumented = [
        (method, path)
        for method, path, operation in _operations(document)
        if "requestBody" in operation and "400" not in operation["responses"]
    ]
    assert undocumented == []


def test_ingest_routes_document_the_rate_limit_with_retry_after(
    client: TestClient, make_client: Callable[..., TestClient]
) -> None:
    document = _document(client)
    limited_client = make_client(ingest_rate_limit=1)
    heartbeat = {"name": "Agent", "domain": "ops"}
    assert limited_client.post("/api/agents/a-1/heartbeat", json=heartbeat).status_code == 201
    refused = limited_client.post("/api/agents/a-1/heartbeat", json=heartbeat)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 0
    _validate(document, "post", "/api/agents/{agent_id}/heartbeat", refused)
    for path in ("/api/agents/{agent_id}/heartbeat", "/api/agents/{agent_id}/events"):
        limited = document["paths"][path]["post"]["responses"]["429"]
        assert limited["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/RateLimited"
        }
        assert limited["headers"]["Retry-After"]["schema"]["type"] == "integer"
    body = document["components"]["schemas"]["RateLimited"]
    assert set(body["required"]) == {"type", "title", "status", "detail"}


def test_the_ops_stream_documents_one_event_with_json_data(client: TestClient) -> None:
    document = _document(client)
    stream = document["paths"]["/api/stream/ops"]["get"]["responses"]["200"]
    event = stream["content"]["text/event-stream"]["schema"]
    assert event["type"] == "object"
    assert event["required"] == ["data"]
    assert event["properties"]["data"]["contentMediaType"] == "application/json"
    assert event["properties"]["retry"]["type"] == "integer"
