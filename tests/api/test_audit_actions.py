"""Every state-changing action of the API writes its audit row in its own transaction.

Both directions, for each action: a change that succeeds comes with exactly one row naming
it; a change that fails (invalid input, a conflict, a database error injected after the
change was written) leaves neither the change nor a row.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from app.audit import chain
from app.audit.deps import AuditActorDep
from app.audit.verify import verify_chain
from app.auth.deps import AdminPrincipal
from app.models import metadata
from app.models.audit import AuditEvent
from tests.conftest import lenient_client
from tests.support.db import wipe

AGENT = {"id": "agent-1", "name": "Agent 1", "domain": "ops"}
RUNBOOK = {"id": "rb", "title": "RB", "linkedWorkflow": "wf"}
METRIC = {"id": "uptime", "title": "Uptime", "value": "99%"}
MAKE_AGENT = (("POST", "/api/agents", AGENT),)
MAKE_RUNBOOK = (("POST", "/api/runbooks", RUNBOOK),)
MAKE_METRIC = (("POST", "/api/metrics", METRIC),)
MAKE_SETTING = (("PUT", "/api/settings/site.name", {"value": "Before"}),)
MAKE_TOKEN = (("POST", "/api/tokens", {"name": "ci", "scope": "read"}),)
MAKE_MINER = (("POST", "/api/miners/sample", {"miner_id": "rig-1", "hashrate_1m": 1e12}),)


@dataclass(frozen=True)
class Action:
    """A valid request making one audited change, after `arrange` made what it needs."""

    method: str
    path: str
    body: Any
    action: str
    target_type: str
    target_id: str  # "{made}": the id of what arrange made last
    table: str  # where the change itself lands
    arrange: tuple[tuple[str, str, Any], ...] = field(default=())


ACTIONS = [
    Action(
        "POST",
        "/api/tokens",
        {"name": "ci", "scope": "operate"},
        "token.create",
        "token",
        "{new}",
        "apitoken",
    ),
    Action(
        "DELETE",
        "/api/tokens/{made}",
        None,
        "token.revoke",
        "token",
        "{made}",
        "apitoken",
        MAKE_TOKEN,
    ),
    Action(
        "PUT",
        "/api/settings/site.name",
        {"value": "A"},
        "setting.set",
        "setting",
        "site.name",
        "setting",
    ),
    Action(
        "DELETE",
        "/api/settings/site.name",
        None,
        "setting.delete",
        "setting",
        "site.name",
        "setting",
        MAKE_SETTING,
    ),
    Action("POST", "/api/agents", AGENT, "agent.create", "agent", "agent-1", "agent"),
    Action(
        "PATCH",
        "/api/agents/agent-1",
        {"name": "X"},
        "agent.update",
        "agent",
        "agent-1",
        "agent",
        MAKE_AGENT,
    ),
    Action(
        "PUT",
        "/api/agents/agent-1",
        {"status": "degraded"},
        "agent.update",
        "agent",
        "agent-1",
        "agent",
        MAKE_AGENT,
    ),
    Action(
        "DELETE",
        "/api/agents/agent-1",
        None,
        "agent.delete",
        "agent",
        "agent-1",
        "agent",
        MAKE_AGENT,
    ),
    Action("POST", "/api/runbooks", RUNBOOK, "runbook.create", "runbook", "rb", "runbook"),
    Action(
        "PATCH",
        "/api/runbooks/rb",
        {"title": "New"},
        "runbook.update",
        "runbook",
        "rb",
        "runbook",
        MAKE_RUNBOOK,
    ),
    Action(
        "DELETE",
        "/api/runbooks/rb",
        None,
        "runbook.delete",
        "runbook",
        "rb",
        "runbook",
        MAKE_RUNBOOK,
    ),
    Action(
        "POST",
        "/api/runbooks/rb/execute",
        {"input": {}},
        "runbook.execute",
        "runbook",
        "rb",
        "runbookrun",
        MAKE_RUNBOOK,
    ),
    Action("POST", "/api/metrics", METRIC, "metric.create", "metric", "uptime", "metric"),
    Action(
        "PATCH",
        "/api/metrics/uptime",
        {"value": "1%"},
        "metric.update",
        "metric",
        "uptime",
        "metric",
        MAKE_METRIC,
    ),
    Action(
        "DELETE",
        "/api/metrics/uptime",
        None,
        "metric.delete",
        "metric",
        "uptime",
        "metric",
        MAKE_METRIC,
    ),
    Action(
        "PUT",
        "/api/miners/rig-1",
        {"expectedHashrate": 1.1e12, "name": "Rig one"},
        "miner.update",
        "miner",
        "rig-1",
        "miner",
        MAKE_MINER,
    ),
]
IDS = [f"{action.action} {action.method}" for action in ACTIONS]

# Refused changes: (arrange, method, path, body, status).
REFUSALS = [
    ((), "POST", "/api/tokens", {"name": "ci", "scope": "root"}, 422),
    ((), "POST", "/api/tokens", {"name": "", "scope": "read"}, 422),
    ((), "DELETE", "/api/tokens/nope", None, 404),
    ((), "PUT", "/api/settings/_secret_key", {"value": "x"}, 422),
    ((), "PUT", "/api/settings/site.name", {"value": 5}, 422),
    ((), "DELETE", "/api/settings/missing", None, 404),
    ((), "POST", "/api/agents", {"id": "a b", "name": "n", "domain": "d"}, 422),
    (MAKE_AGENT, "POST", "/api/agents", AGENT, 409),
    (MAKE_AGENT, "PATCH", "/api/agents/agent-1", {"status": "sleepy"}, 422),
    ((), "DELETE", "/api/agents/ghost", None, 404),
    (MAKE_RUNBOOK, "POST", "/api/runbooks", RUNBOOK, 409),
    ((), "POST", "/api/runbooks", {"id": "x", "title": "X", "inputsSchema": {"type": 5}}, 422),
    ((), "POST", "/api/runbooks/ghost/execute", {"input": {}}, 404),
    (MAKE_METRIC, "POST", "/api/metrics", METRIC, 409),
    (MAKE_METRIC, "PATCH", "/api/metrics/uptime", {"status": "purple"}, 422),
    (MAKE_MINER, "PUT", "/api/miners/rig-1", {"expectedHashrate": 0}, 422),
    (MAKE_MINER, "PUT", "/api/miners/rig-1", {"expected_hashrate_typo": 1}, 422),
    ((), "PUT", "/api/miners/ghost", {"name": "X"}, 404),
]


@pytest.fixture
def api(app: FastAPI, engine: Engine) -> TestClient:
    """An admin client whose server errors are answers (5xx), not exceptions."""
    wipe(engine)
    return lenient_client(app)


def _snapshot(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            for table in metadata.sorted_tables
        }


def _arrange(client: TestClient, steps: tuple[tuple[str, str, Any], ...]) -> str:
    made = ""
    for method, path, body in steps:
        response = client.request(method, path, json=body)
        assert response.status_code < 300, (method, path, response.text)
        made = str(response.json().get("id", "")) if response.content else made
    return made


def _rows(engine: Engine) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).scalars())


@pytest.mark.parametrize("case", ACTIONS, ids=IDS)
def test_a_change_and_its_audit_row_appear_together(
    api: TestClient, engine: Engine, case: Action
) -> None:
    made = _arrange(api, case.arrange)
    before = _snapshot(engine)
    audited_before = len(_rows(engine))
    response = api.request(case.method, case.path.replace("{made}", made), json=case.body)
    assert response.status_code < 300, response.text
    after = _snapshot(engine)
    assert after[case.table] != before[case.table]
    new_rows = _rows(engine)[audited_before:]
    assert len(new_rows) == 1
    [row] = new_rows
    new_id = str(response.json().get("id", "")) if response.content else ""
    expected_target = case.target_id.replace("{made}", made).replace("{new}", new_id)
    assert (row.action, row.target_type, row.target_id) == (
        case.action,
        case.target_type,
        expected_target,
    )
    # The bootstrap admin token acted, from the test client's address.
    assert (row.actor, row.actor_id, row.scope) == ("PRISM_ADMIN_TOKEN", "admin-env", "admin")
    assert row.ip == "testclient"
    assert row.request_id == response.headers["X-Request-ID"]
    assert row.summary
    with Session(engine) as session:
        assert verify_chain(session=session).ok


@pytest.mark.parametrize("case", ACTIONS, ids=IDS)
def test_a_database_error_after_the_change_leaves_neither_change_nor_row(
    api: TestClient, engine: Engine, case: Action, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _arrange(api, case.arrange)
    before = _snapshot(engine)

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("UPDATE auditchain", {}, RuntimeError("injected"))

    # The change is flushed and the row inserted when the chain's head is moved: fail there.
    monkeypatch.setattr(chain, "advance_head", fail)
    response = api.request(case.method, case.path.replace("{made}", made), json=case.body)
    assert response.status_code >= 500, response.text
    assert _snapshot(engine) == before


@pytest.mark.parametrize(
    ("arrange", "method", "path", "body", "status"),
    REFUSALS,
    ids=[f"{r[1]} {r[2]} {r[4]}" for r in REFUSALS],
)
def test_a_refused_change_writes_no_audit_row(
    api: TestClient,
    engine: Engine,
    arrange: tuple[tuple[str, str, Any], ...],
    method: str,
    path: str,
    body: Any,
    status: int,
) -> None:
    _arrange(api, arrange)
    before = _snapshot(engine)
    response = api.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert _snapshot(engine) == before


def test_a_repeated_idempotency_key_starts_nothing_and_is_audited_once(
    api: TestClient, engine: Engine
) -> None:
    _arrange(api, MAKE_RUNBOOK)
    for _ in range(2):
        response = api.post("/api/runbooks/rb/execute", json={"input": {}, "idempotencyKey": "k"})
        assert response.status_code == 200
    assert [row.action for row in _rows(engine)] == ["runbook.create", "runbook.execute"]


def test_revoking_a_revoked_token_changes_nothing_and_writes_no_row(
    api: TestClient, engine: Engine
) -> None:
    made = _arrange(api, MAKE_TOKEN)
    assert api.delete(f"/api/tokens/{made}").status_code == 200
    before = _snapshot(engine)
    assert api.delete(f"/api/tokens/{made}").status_code == 200
    assert _snapshot(engine) == before


def test_ingest_is_telemetry_and_not_audited(api: TestClient, engine: Engine) -> None:
    _arrange(api, MAKE_AGENT)
    audited = len(_rows(engine))
    sample = {"miner_id": "rig-1", "hashrate_1m": 1200.0, "shares_accepted": 10}
    assert api.post("/api/agents/agent-1/heartbeat", json={"memoryUsedMB": 5}).status_code < 300
    assert api.post("/api/miners/sample", json=sample).status_code < 300
    event = {"kind": "started", "message": "m"}
    assert api.post("/api/agents/agent-1/events", json=event).status_code < 300
    assert len(_rows(engine)) == audited


def test_a_token_acting_is_named_by_its_name_id_and_scope(api: TestClient, engine: Engine) -> None:
    created = api.post("/api/tokens", json={"name": "on-call", "scope": "operate"}).json()
    _arrange(api, MAKE_RUNBOOK)
    response = api.post(
        "/api/runbooks/rb/execute",
        json={"input": {}},
        headers={"Authorization": f"Bearer {created['token']}"},
    )
    assert response.status_code == 200, response.text
    row = _rows(engine)[-1]
    assert (row.actor, row.actor_id, row.scope, row.action) == (
        "on-call",
        created["id"],
        "operate",
        "runbook.execute",
    )


def test_the_actor_is_known_whatever_order_a_route_declares_its_dependencies(
    make_client: Callable[..., TestClient],
    engine: Engine,
    token_for: Callable[[str], dict[str, str]],
) -> None:
    """A route may name its actor before its scope: the caller is then looked up for the
    actor (bearer token or session), the scope still checked by the scope dependency."""
    client = make_client()
    app: FastAPI = client.app  # type: ignore[assignment]

    def probe(actor: AuditActorDep, _principal: AdminPrincipal) -> dict[str, Any]:
        return {"name": actor.name, "id": actor.actor_id, "scope": actor.scope}

    app.add_api_route("/api/probe-actor", probe, methods=["GET"])
    assert client.get("/api/probe-actor").json() == {
        "name": "PRISM_ADMIN_TOKEN",
        "id": "admin-env",
        "scope": "admin",
    }
    reader = TestClient(app)
    assert reader.get("/api/probe-actor").status_code == 401
    assert reader.get("/api/probe-actor", headers=token_for("read")).status_code == 403
