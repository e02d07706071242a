"""The API document names each operation's scope, read off the route's own dependencies."""

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.ops.api.docs import PUBLIC_LINE


def _descriptions(client: TestClient) -> dict[tuple[str, str], str]:
    document = client.get("/openapi.json").json()
    return {
        (method.upper(), path): operation.get("description", "")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


def test_every_operation_ends_with_the_scope_it_needs(app: FastAPI, client: TestClient) -> None:
    descriptions = _descriptions(client)
    assert descriptions[("GET", "/api/agents")].endswith(
        "Scope: `read` (a token with `read`, `operate` or `admin`)."
    )
    assert descriptions[("POST", "/api/agents/{agent_id}/heartbeat")].endswith(
        "Scope: `ingest` (a token with `ingest` or `admin`)."
    )
    for operation in (
        ("POST", "/api/incidents/{incident_id}/ack"),
        ("POST", "/api/silences"),
        ("DELETE", "/api/silences/{silence_id}"),
        ("POST", "/api/runbooks/{runbook_id}/execute"),
    ):
        assert descriptions[operation].endswith(
            "Scope: `operate` (a token with `operate` or `admin`)."
        ), operation
    for operation in (("POST", "/api/alerts/rules"), ("GET", "/api/audit")):
        assert descriptions[operation].endswith("Scope: `admin` (a token with `admin`)."), operation
    assert descriptions[("GET", "/api/health")].endswith(PUBLIC_LINE)
    unstated = [
        operation
        for operation, text in descriptions.items()
        if not (text.endswith(PUBLIC_LINE) or "Scope: `" in text.rsplit("\n", 1)[-1])
    ]
    assert unstated == []
    # Once: route docstrings no longer repeat what the document now states for them.
    repeated = [operation for operation, text in descriptions.items() if text.count("Scope: `") > 1]
    assert repeated == []


def test_a_route_docstring_stays_ahead_of_the_scope(client: TestClient) -> None:
    text = _descriptions(client)[("GET", "/api/audit")]
    assert text.startswith("Every state-changing action, newest first")
    assert text.count("Scope: `") == 1
