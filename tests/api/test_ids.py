"""One id rule for agents, miners, runbooks, metrics and setting keys, in bodies and paths.

An id a body accepts is one its URL can address: `ghost\\u0099` (a C1 control) was created
as an agent and then refused in every path, and `rig/01` was stored as a miner whose
series path could never match. Now every body and path take the same characters (no
control characters, whitespace or '/', not '.' or '..', 1-128 of them), and the OpenAPI
document says so.
"""

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.validators import ID_PATTERN
from app.models import Agent, Metric, MinerSample, Runbook, Setting
from tests.support.factories import count_rows

# Unusual but valid: each must be stored, then found again through its own URL.
ROUTABLE = ["é-1", "a:b@c", "semi;colon", "...", "50%", "q?x", "hash#1", "a" * 128]
# Refused everywhere, each for one reason: C1 and C0 controls, '/', whitespace, dot segments.
UNROUTABLE = ["ghost\u0099", "rig/01", "has space", "no\u00a0break", ".", "..", "a" * 129, ""]

Create = Callable[[TestClient, str], Any]


def _agent(client: TestClient, id_: str) -> Any:
    return client.post("/api/agents", json={"id": id_, "name": "Agent", "domain": "ops"})


def _miner(client: TestClient, id_: str) -> Any:
    return client.post("/api/miners/sample", json={"miner_id": id_, "hashrate_1m": 100})


def _bridge(client: TestClient, id_: str) -> Any:
    return client.post(
        "/events", json={"topic": "miner.sample", "payload": {"sample": {"miner": id_}}}
    )


def _runbook(client: TestClient, id_: str) -> Any:
    return client.post("/api/runbooks", json={"id": id_, "title": "Runbook"})


def _metric(client: TestClient, id_: str) -> Any:
    return client.post("/api/metrics", json={"id": id_, "title": "Metric"})


def _setting(client: TestClient, id_: str) -> Any:
    return client.put(f"/api/settings/{quote(id_, safe='')}", json={"value": "v"})


# (create, the body field or path parameter it names, the URL that reads the id back)
RESOURCES: dict[str, tuple[Create, list[str], str]] = {
    "agent": (_agent, ["body", "id"], "/api/agents/{}"),
    "miner": (_miner, ["body", "miner_id"], "/api/miners/{}/series"),
    "bridge miner": (_bridge, ["body", "payload", "sample", "miner"], "/api/miners/{}/series"),
    "runbook": (_runbook, ["body", "id"], "/api/runbooks/{}"),
    "metric": (_metric, ["body", "id"], "/api/metrics/{}"),
    "setting": (_setting, ["path", "key"], "/api/settings/{}"),
}
TABLES = {
    "agent": Agent,
    "miner": MinerSample,
    "bridge miner": MinerSample,
    "runbook": Runbook,
    "metric": Metric,
    "setting": Setting,
}


@pytest.mark.parametrize("id_", ROUTABLE)
@pytest.mark.parametrize("resource", list(RESOURCES))
def test_an_id_a_body_accepts_is_found_again_through_its_url(
    client: TestClient, resource: str, id_: str
) -> None:
    create, _, url = RESOURCES[resource]
    created = create(client, id_)
    assert created.status_code in (200, 201, 202), created.text
    found = client.get(url.format(quote(id_, safe="")))
    assert found.status_code == 200, found.text


@pytest.mark.parametrize("id_", UNROUTABLE)
@pytest.mark.parametrize("resource", [name for name in RESOURCES if name != "setting"])
def test_an_id_no_url_could_address_is_refused_and_nothing_is_stored(
    client: TestClient, db_session: Session, resource: str, id_: str
) -> None:
    create, loc, _ = RESOURCES[resource]
    response = create(client, id_)
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [loc]
    assert count_rows(db_session, TABLES[resource]) == 0


def test_the_refusal_says_what_is_wrong_with_the_id(client: TestClient) -> None:
    messages = {
        id_: _agent(client, id_).json()["detail"][0]["msg"]
        for id_ in ("ghost\u0099", "rig/01", "has space", "..")
    }
    assert messages == {
        "ghost\u0099": "String must not contain control characters (found U+0099 at index 5)",
        "rig/01": "An id must not contain '/' (found U+002F at index 3)",
        "has space": "An id must not contain whitespace (found U+0020 at index 3)",
        "..": "An id must not be '.' or '..': no URL can address it",
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/agents/has%20space",
        "/api/agents/has%20space/events",
        "/api/miners/has%20space/series",
        "/api/runbooks/has%20space",
        "/api/metrics/has%20space",
        "/api/settings/has%20space",
    ],
)
def test_a_path_refuses_the_ids_a_body_refuses_naming_the_parameter(
    client: TestClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"][0] == "path" and error["type"] == "id_character"


def test_a_setting_key_no_url_could_address_is_refused(
    client: TestClient, db_session: Session
) -> None:
    for key in ("no%C2%A0break", "ghost%C2%99", "a" * 129):
        assert client.put(f"/api/settings/{key}", json={"value": "v"}).status_code == 422
    assert count_rows(db_session, Setting) == 0


# Every path parameter and body field holding one of these ids, in the OpenAPI document
# (/api/main/ serves the main database's own ids, whatever its rules).
ID_PARAMETERS = {"agent_id", "miner_id", "runbook_id", "metric_id", "key"}
ID_FIELDS = {
    ("AgentCreate", "id"),
    ("MinerSampleIn", "miner_id"),
    ("BridgeSample", "miner"),
    ("RunbookCreate", "id"),
    ("MetricCreate", "id"),
}


def _id_path_parameters(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if path.startswith("/api/main/"):
                    continue
                if parameter["in"] == "path" and parameter["name"] in ID_PARAMETERS:
                    found.append((f"{method.upper()} {path}", parameter["name"], parameter))
    return found


def test_the_openapi_document_gives_every_id_the_rule(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    parameters = _id_path_parameters(document)
    assert len(parameters) > 20  # agents, miners, runbooks, metrics and settings all there
    for operation, name, parameter in parameters:
        schema = parameter["schema"]
        assert (schema["minLength"], schema["maxLength"]) == (1, 128), operation
        assert schema["not"] == {"enum": [".", ".."]}, operation
        # Setting keys written through the API also may not start with '_' (reserved).
        expected = ID_PATTERN if not schema["pattern"].startswith("^[^_") else schema["pattern"]
        assert schema["pattern"] == expected, (operation, name)
    components = document["components"]["schemas"]
    for model, field in ID_FIELDS:
        schema = components[model]["properties"][field]
        assert (schema["pattern"], schema["not"]) == (ID_PATTERN, {"enum": [".", ".."]}), model
