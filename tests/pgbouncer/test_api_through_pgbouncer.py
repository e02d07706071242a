"""The console's core API paths through PgBouncer in transaction pooling mode, each statement
repeated past psycopg's prepare threshold (5) so that a server-side prepare would fail, and
an alert that fires is evaluated and delivered to a local receiver through the bouncer."""

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from app.live.pg_fanout import PgFanout
from app.main import create_app
from app.ops.scheduler import PeriodicJob
from tests.conftest import AUTH
from tests.pgbouncer.conftest import pooled_settings
from tests.support.pgbouncer import PgBouncer
from tests.support.receivers import Receiver, receiver
from tests.support.servers import running_server
from tests.support.waits import HTTP_TIMEOUT, wait_until

pytestmark = pytest.mark.postgres

REPETITIONS = 12  # over twice the threshold: every statement would be prepared and reused


@pytest.fixture(scope="module")
def hook() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


@pytest.fixture(scope="module")
def pooled_app(pooled_url: str, direct_url: str) -> FastAPI:
    # The evaluator runs every half second (under its advisory lock, on the listen URL).
    return create_app(
        pooled_settings(pooled_url, direct_url, alert_interval_seconds=0.5, alert_group_seconds=0)
    )


@pytest.fixture(scope="module")
def api(pooled_app: FastAPI) -> Iterator[httpx.Client]:
    with (
        running_server(pooled_app) as base_url,
        httpx.Client(base_url=base_url, headers=AUTH, timeout=HTTP_TIMEOUT) as client,
    ):
        yield client


def test_the_engine_goes_through_the_bouncer_and_listens_directly(
    pooled_app: FastAPI, api: httpx.Client, bouncer: PgBouncer
) -> None:
    assert pooled_app.state.engine.url.port == bouncer.port
    fanout = pooled_app.state.live_fanout
    assert isinstance(fanout, PgFanout)
    # LISTEN through the bouncer would not fail, only hear nothing: the replica tests show
    # the notifications arriving; here, that the listener's session is not a pooled one.
    wait_until(fanout.listening.is_set, "the fan-out listening")
    assert fanout.listener_pid not in bouncer.server_pids()
    assert isinstance(pooled_app.state.alerts, PeriodicJob)


def test_heartbeats_and_the_agent_list_repeat_without_errors(api: httpx.Client) -> None:
    for turn in range(REPETITIONS):
        agent = f"bouncer-agent-{turn % 3}"
        response = api.post(f"/api/agents/{agent}/heartbeat", json={"name": agent, "domain": "ops"})
        assert response.status_code in (200, 201), response.text
        listed = api.get("/api/agents")
        assert listed.status_code == 200, listed.text
    ids = {agent["id"] for agent in api.get("/api/agents").json()["items"]}
    assert {"bouncer-agent-0", "bouncer-agent-1", "bouncer-agent-2"} <= ids


def test_miner_samples_and_the_miner_reads_repeat_without_errors(api: httpx.Client) -> None:
    for turn in range(REPETITIONS):
        body = {"miner_id": "bouncer-rig", "hashrate_1m": 1000.0 + turn, "shares_accepted": turn}
        assert api.post("/api/miners/sample", json=body).status_code == 202
        latest = api.get("/api/miners/latest", params={"miner_id": "bouncer-rig"})
        assert latest.status_code == 200, latest.text
        assert api.get("/api/miners").status_code == 200
    assert latest.json()["samples"][0]["hashrate_1m"] == 1000.0 + REPETITIONS - 1


def test_runbook_crud_repeats_without_errors(api: httpx.Client) -> None:
    for turn in range(REPETITIONS):
        runbook_id = f"bouncer-runbook-{turn}"
        created = api.post("/api/runbooks", json={"id": runbook_id, "title": f"Task {turn}"})
        assert created.status_code == 201, created.text
        changed = api.patch(f"/api/runbooks/{runbook_id}", json={"title": f"Renamed {turn}"})
        assert changed.status_code == 200, changed.text
        assert api.get(f"/api/runbooks/{runbook_id}").json()["runbook"]["title"] == (
            f"Renamed {turn}"
        )
        assert api.delete(f"/api/runbooks/{runbook_id}").status_code in (200, 204)
        assert api.get(f"/api/runbooks/{runbook_id}").status_code == 404


def test_settings_repeat_without_errors(api: httpx.Client) -> None:
    for turn in range(REPETITIONS):
        stored = api.put("/api/settings/site.title", json={"value": f"Prism {turn}"})
        assert stored.status_code == 200, stored.text
        read = api.get("/api/settings/site.title")
        assert read.status_code == 200, read.text
        assert read.json()["value"] == f"Prism {turn}"


def test_a_firing_rule_is_evaluated_and_its_notification_delivered(
    api: httpx.Client, hook: Receiver
) -> None:
    channel = api.post(
        "/api/channels", json={"id": "bouncer-hook", "name": "Hook", "url": hook.url()}
    )
    assert channel.status_code == 201, channel.text
    rule = {
        "id": "bouncer-hot",
        "name": "Rig too hot behind the bouncer",
        "kind": "miner_temperature",
        "params": {"aboveC": 90},
        "target": {"miners": ["bouncer-hot-rig"]},
        "forSeconds": 0,
        "severity": "critical",
        "channels": ["bouncer-hook"],
    }
    created = api.post("/api/alerts/rules", json=rule)
    assert created.status_code == 201, created.text
    sample = {"miner_id": "bouncer-hot-rig", "temperature_c": 95.0}
    assert api.post("/api/miners/sample", json=sample).status_code == 202
    received = hook.wait_for(1)
    assert "bouncer-hot-rig" in received[0].text

    def recorded_as_sent() -> bool:
        rows = api.get("/api/notifications").json()
        items = rows["items"] if isinstance(rows, dict) else rows
        return any(row.get("status") == "sent" for row in items)

    wait_until(recorded_as_sent, "the notification recorded as sent")
