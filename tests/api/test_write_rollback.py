"""A write that fails after it wrote answers 5xx only after rolling back: walk every API write.

For each POST / PUT / PATCH / DELETE of the API (its route table, so a new route cannot be
forgotten), a valid request is made while a failure is injected once the route has done its
work: when its function returns, and while its answer is serialized. The answer must be a
5xx and every table must hold exactly what it held before.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session

from app.models import AlertRule, Incident, Runbook, metadata
from tests.conftest import lenient_client
from tests.support.db import wipe
from tests.support.fake_gateway import running_fake_gateway

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
SAMPLE = {"miner_id": "rig-1", "hashrate_1m": 1200.0, "shares_accepted": 10}
AGENT = {"id": "agent-1", "name": "Agent 1", "domain": "ops"}


@dataclass(frozen=True)
class Write:
    """A valid request to one write route, after `arrange` made what it needs."""

    path: str
    body: Any = None
    arrange: tuple[tuple[str, str, Any], ...] = field(default=())
    # Rows no API creates (an incident), written straight to the database first.
    rows: Callable[[Engine], None] | None = None


def _agent() -> tuple[tuple[str, str, Any], ...]:
    return (("POST", "/api/agents", AGENT),)


RUNBOOK = (("POST", "/api/runbooks", {"id": "rb", "title": "RB", "linkedWorkflow": "wf"}),)
METRIC = (("POST", "/api/metrics", {"id": "uptime", "title": "Uptime", "value": "99%"}),)
SETTING = (("PUT", "/api/settings/site.name", {"value": "Before"}),)

RULE = (
    (
        "POST",
        "/api/alerts/rules",
        {"id": "r1", "name": "R1", "kind": "miner_silent", "severity": "critical"},
    ),
)
CHANNEL = (("POST", "/api/channels", {"id": "c1", "name": "C1", "url": "json://127.0.0.1:9/h"}),)
# Silences may end at most a few years ahead: relative to the real clock the routes read.
LATER = (datetime.now(UTC) + timedelta(days=1)).isoformat()
SILENCE = (
    ("POST", "/api/silences", {"id": "s1", "matchers": {"subject": "rig-1"}, "endsAt": LATER}),
)
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _incident(engine: Engine) -> None:
    """Incident 1 of rule r1 (with a runbook), as the evaluator would have made it."""
    with Session(engine) as session:
        session.add(Runbook(id="rb", title="RB", linked_workflow="wf"))
        session.add(
            AlertRule(
                id="r1",
                name="R1",
                kind="miner_silent",
                severity="critical",
                runbook_id="rb",
                runbook_input={"miner": "{subject}"},
                created_at=T0,
                updated_at=T0,
            )
        )
        session.flush()
        session.add(
            Incident(
                id=1,
                rule_id="r1",
                rule_name="R1",
                kind="miner_silent",
                severity="critical",
                subject_type="miner",
                subject="rig-1",
                started_at=T0,
                runbook_id="rb",
            )
        )
        session.commit()


WRITES: dict[tuple[str, str], Write] = {
    ("POST", "/api/alerts/rules"): Write(
        "/api/alerts/rules",
        {"id": "r-new", "name": "New", "kind": "miner_silent", "severity": "info"},
    ),
    ("PUT", "/api/alerts/rules/{rule_id}"): Write(
        "/api/alerts/rules/r1", {"name": "X", "kind": "agent_offline", "severity": "info"}, RULE
    ),
    ("PATCH", "/api/alerts/rules/{rule_id}"): Write(
        "/api/alerts/rules/r1", {"severity": "info"}, RULE
    ),
    ("DELETE", "/api/alerts/rules/{rule_id}"): Write("/api/alerts/rules/r1", arrange=RULE),
    ("POST", "/api/channels"): Write(
        "/api/channels", {"id": "c-new", "name": "N", "url": "json://127.0.0.1:9/h"}
    ),
    ("PUT", "/api/channels/{channel_id}"): Write("/api/channels/c1", {"name": "X"}, CHANNEL),
    ("DELETE", "/api/channels/{channel_id}"): Write("/api/channels/c1", arrange=CHANNEL),
    ("POST", "/api/channels/{channel_id}/test"): Write("/api/channels/c1/test", arrange=CHANNEL),
    ("POST", "/api/silences"): Write(
        "/api/silences", {"matchers": {"subject": "rig-1"}, "endsAt": LATER}
    ),
    ("DELETE", "/api/silences/{silence_id}"): Write("/api/silences/s1", arrange=SILENCE),
    ("POST", "/api/incidents/{incident_id}/ack"): Write(
        "/api/incidents/1/ack",
        arrange=(*CHANNEL, ("PATCH", "/api/alerts/rules/r1", {"channels": ["c1"]})),
        rows=_incident,
    ),
    ("POST", "/api/incidents/{incident_id}/run"): Write("/api/incidents/1/run", {}, rows=_incident),
    ("PUT", "/api/miners/{miner_id}"): Write(
        "/api/miners/rig-1",
        {"expectedHashrate": 1e12, "name": "Rig", "location": "Shelf 2"},
        (("POST", "/api/miners/sample", SAMPLE),),
    ),
    ("POST", "/api/agents"): Write("/api/agents", AGENT),
    ("PATCH", "/api/agents/{agent_id}"): Write("/api/agents/agent-1", {"name": "X"}, _agent()),
    ("PUT", "/api/agents/{agent_id}"): Write("/api/agents/agent-1", {"name": "X"}, _agent()),
    ("DELETE", "/api/agents/{agent_id}"): Write(
        "/api/agents/agent-1",
        arrange=(
            *_agent(),
            ("POST", "/api/agents/agent-1/events", {"kind": "started", "message": "m"}),
        ),
    ),
    ("POST", "/api/agents/{agent_id}/heartbeat"): Write(
        "/api/agents/agent-2/heartbeat", {"name": "Agent 2", "domain": "ops", "memoryUsedMB": 5}
    ),
    ("POST", "/api/agents/{agent_id}/events"): Write(
        "/api/agents/agent-1/events",
        {
            "events": [
                {"kind": "started", "message": "one"},
                {"kind": "completed", "message": "two"},
            ]
        },
        _agent(),
    ),
    ("POST", "/api/runbooks"): Write("/api/runbooks", {"id": "rb-new", "title": "New"}),
    ("PATCH", "/api/runbooks/{runbook_id}"): Write("/api/runbooks/rb", {"title": "X"}, RUNBOOK),
    ("DELETE", "/api/runbooks/{runbook_id}"): Write(
        "/api/runbooks/rb", arrange=(*RUNBOOK, ("POST", "/api/runbooks/rb/execute", {}))
    ),
    ("POST", "/api/runbooks/{runbook_id}/execute"): Write(
        "/api/runbooks/rb/execute", {"input": {}, "idempotencyKey": "k1"}, RUNBOOK
    ),
    ("POST", "/api/metrics"): Write("/api/metrics", {"id": "latency", "title": "Latency"}),
    ("PATCH", "/api/metrics/{metric_id}"): Write("/api/metrics/uptime", {"value": "1%"}, METRIC),
    ("DELETE", "/api/metrics/{metric_id}"): Write("/api/metrics/uptime", arrange=METRIC),
    ("PUT", "/api/settings/{key}"): Write("/api/settings/site.name", {"value": "After"}, SETTING),
    ("DELETE", "/api/settings/{key}"): Write("/api/settings/site.name", arrange=SETTING),
    ("POST", "/api/tokens"): Write("/api/tokens", {"name": "ci", "scope": "read"}),
    ("DELETE", "/api/tokens/{token_id}"): Write(
        "/api/tokens/{made}", arrange=(("POST", "/api/tokens", {"name": "ci", "scope": "read"}),)
    ),
    ("POST", "/api/miners/sample"): Write("/api/miners/sample", SAMPLE),
    ("POST", "/api/miners/samples"): Write("/api/miners/samples", {"samples": [SAMPLE, SAMPLE]}),
    ("POST", "/events"): Write(
        "/events",
        {
            "topic": "miner.sample",
            "payload": {"type": "miner.sample", "sample": {"miner": "rig-2", "hashrate_1m": 5}},
        },
    ),
}


def _api_writes(app: FastAPI) -> dict[tuple[str, str], APIRoute]:
    """Every write route of the JSON API: in the route table and in the OpenAPI document."""
    found = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in route.methods & UNSAFE:
                found[(method, str(context.path))] = route
    return found


class InjectedError(RuntimeError):
    """The failure the test makes happen after the route's work."""


@pytest.fixture
def failing_client(app: FastAPI) -> TestClient:
    return lenient_client(app)


def _snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every row of every console table, as text, in a stable order."""
    with engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            for table in metadata.sorted_tables
        }


def _arrange(client: TestClient, write: Write) -> str:
    """Make what the write needs; its path, with the id of anything it named `{made}`."""
    made = ""
    if write.rows is not None:
        write.rows(client.app.state.engine)
    for method, path, body in write.arrange:
        response = client.request(method, path, json=body)
        assert response.status_code < 300, (method, path, response.text)
        made = str(response.json().get("id", "")) if response.content else made
    return write.path.replace("{made}", made)


def _fail_after_the_route(monkeypatch: pytest.MonkeyPatch) -> None:
    real = fastapi.routing.run_endpoint_function

    async def run_then_fail(**kwargs: Any) -> Any:
        await real(**kwargs)
        raise InjectedError("after the route's work")

    monkeypatch.setattr(fastapi.routing, "run_endpoint_function", run_then_fail)


def _fail_in_serialization(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(**kwargs: Any) -> Any:
        raise InjectedError("while serializing the answer")

    monkeypatch.setattr(fastapi.routing, "serialize_response", fail)


INJECTIONS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "after-the-route": _fail_after_the_route,
    "in-serialization": _fail_in_serialization,
}


def test_the_walk_covers_every_write_route_of_the_api(app: FastAPI) -> None:
    routes = set(_api_writes(app))
    assert routes - set(WRITES) == set(), "add a valid request for each new write route"
    assert set(WRITES) - routes == set(), "these routes are gone: remove their requests"


@pytest.mark.parametrize("route", sorted(WRITES), ids=" ".join)
def test_a_failure_after_the_write_answers_5xx_and_leaves_nothing_behind(
    app: FastAPI,
    engine: Engine,
    failing_client: TestClient,
    route: tuple[str, str],
) -> None:
    api_route = _api_writes(app).get(route)
    if api_route is None:
        pytest.fail(f"{route} is no longer a route of the API")
    injections = sorted(INJECTIONS)
    if api_route.response_field is None:  # it answers without serializing a response model
        injections.remove("in-serialization")
    method, write = route[0], WRITES[route]
    for injection in injections:
        wipe(engine)
        path = _arrange(failing_client, write)
        before = _snapshot(engine)
        with pytest.MonkeyPatch.context() as monkeypatch:
            INJECTIONS[injection](monkeypatch)
            response = failing_client.request(method, path, json=write.body)
        assert response.status_code >= 500, (injection, response.status_code, response.text)
        assert _snapshot(engine) == before, injection


def test_without_a_failure_the_same_requests_write(
    engine: Engine, failing_client: TestClient
) -> None:
    """The walk's requests are valid: each one changes the database when nothing fails."""
    for (method, _), write in sorted(WRITES.items()):
        wipe(engine)
        path = _arrange(failing_client, write)
        before = _snapshot(engine)
        response = failing_client.request(method, path, json=write.body)
        assert response.status_code < 300, (method, path, response.text)
        assert _snapshot(engine) != before, (method, path)


def test_a_run_the_gateway_started_stays_on_record_when_the_answer_then_fails(
    make_client: Callable[..., TestClient], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one deliberate exception: the gateway's workflow exists, so must its record."""
    with running_fake_gateway(reply={"runId": "gw-7"}) as gateway:
        client = make_client(gateway_url=gateway.url, gateway_timeout=30)
        _arrange(client, Write("", arrange=RUNBOOK))
        _fail_after_the_route(monkeypatch)
        response = client.post("/api/runbooks/rb/execute", json={"input": {}})
        assert response.status_code == 500
    [run] = _snapshot(engine)["runbookrun"]
    assert "'accepted'" in run
    assert "'gw-7'" in run
    assert len(gateway.requests) == 1
