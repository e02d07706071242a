"""/metrics: Prometheus text 0.0.4, HTTP metrics by route template, fleet gauges, access."""

import re
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlmodel import Session

from app import __version__
from app.core.config import Settings
from app.core.timeutil import utcnow
from app.main import create_app
from app.miners.fold import fold_all
from app.models import Miner, MinerSample, Runbook
from app.models.alerts import HEALTH_NAMES
from tests.conftest import AUTH
from tests.support.factories import add_miner, add_rule, add_silence, add_state, make_agent
from tests.support.fake_gateway import running_fake_gateway
from tests.support.fake_verifier import running_fake_verifier
from tests.support.servers import running_server
from tests.support.waits import HTTP_TIMEOUT, WAIT, wait_until

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient | httpx.Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def labels(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


def test_metrics_are_prometheus_text_0_0_4_without_a_token(anon_client: TestClient) -> None:
    response = anon_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    samples = scrape(anon_client)
    assert samples[("prism_build_info", (("version", __version__),))] == 1
    assert samples[("prism_fleet_scrape_error", ())] == 0
    assert ("prism_stream_subscribers", ()) in samples


def test_the_fold_backlog_is_a_gauge(client: TestClient, engine: Engine) -> None:
    for number in range(3):
        body = {"miner_id": "rig-0", "hashrate_1m": 10.0 + number}
        assert client.post("/api/miners/sample", json=body).status_code == 202
    assert scrape(client)[("prism_rollup_unfolded_samples", ())] == 3
    fold_all(engine)
    assert scrape(client)[("prism_rollup_unfolded_samples", ())] == 0


def _route_labels(body: str) -> set[str]:
    return set(re.findall(r'prism_http_requests_total\{[^}]*route="([^"]*)"', body))


def test_http_metrics_are_labelled_by_route_template(app_settings: Settings) -> None:
    app = create_app(app_settings)

    @app.get("/api/probe-items/{item_id}")
    def probe_item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    with TestClient(app) as client:
        assert client.get("/api/probe-items/abc-123").status_code == 200
        body = client.get("/metrics").text
    assert "/api/probe-items/{item_id}" in _route_labels(body)
    assert "abc-123" not in body


def test_the_api_routes_are_labelled_by_their_template(app: FastAPI, client: TestClient) -> None:
    assert client.get("/api/agents/raw-id-4242").status_code == 404
    body = client.get("/metrics").text
    assert re.search(
        r'prism_http_requests_total\{method="GET",route="/api/agents/\{agent_id\}",'
        r'status="404"\} [1-9]',
        body,
    )
    templates = [
        context.path
        for context in iter_route_contexts(app.routes)
        if context.path and "{" in context.path and "GET" in (context.methods or set())
    ]
    for template in templates:
        client.get(re.sub(r"\{[^}]+\}", "raw-id-4242", template))
    body = client.get("/metrics").text
    assert set(templates) <= _route_labels(body)
    assert "raw-id-4242" not in body


def test_unknown_paths_share_one_label(client: TestClient) -> None:
    assert client.get("/no/such/page-98765").status_code == 404
    body = client.get("/metrics").text
    assert "unmatched" in _route_labels(body)
    assert "page-98765" not in body


def test_agents_are_counted_by_the_status_operators_see(
    client: TestClient, db_session: Session
) -> None:
    now = utcnow()
    stale = now - timedelta(days=1)
    db_session.add_all(
        [
            make_agent("a1", name="A1", domain="ops", status="online", last_seen_at=now),
            make_agent("a2", name="A2", domain="ops", status="online", last_seen_at=now),
            make_agent("a3", name="A3", domain="ops", status="degraded", last_seen_at=now),
            make_agent("a4", name="A4", domain="ops", status="online", last_seen_at=stale),
            make_agent("a5", name="A5", domain="ops", status="offline", last_seen_at=now),
            make_agent("a6", name="A6", domain="ops", status="online", last_seen_at=None),
        ]
    )
    db_session.commit()
    samples = scrape(client)
    assert samples[("prism_agents", (("status", "online"),))] == 2
    assert samples[("prism_agents", (("status", "degraded"),))] == 1
    assert samples[("prism_agents", (("status", "offline"),))] == 3


def test_an_empty_fleet_still_exports_every_status_at_zero(client: TestClient) -> None:
    samples = scrape(client)
    for status in ("online", "degraded", "offline"):
        assert samples[("prism_agents", (("status", status),))] == 0


def test_agents_and_miners_are_counted_by_health(client: TestClient, db_session: Session) -> None:
    now = utcnow()
    db_session.add_all(
        [
            make_agent("a1", status="online", last_seen_at=now),
            make_agent("a2", status="online", last_seen_at=now),
            make_agent("never", status="online", last_seen_at=None),
        ]
    )
    db_session.commit()
    for miner_id in ("rig-1", "rig-2", "rig-3"):
        add_miner(db_session, miner_id)
    add_rule(db_session, "down", kind="agent_offline", severity="critical")
    add_rule(db_session, "warm", kind="miner_temperature", severity="warning")
    add_state(db_session, "down", "a2", subject_type="agent")
    add_state(db_session, "warm", "rig-1")
    add_state(db_session, "warm", "rig-2", state="pending")
    add_silence(db_session, "rig-3", {"subject": "rig-3"})
    samples = scrape(client)
    agents = {h: samples[("prism_fleet_agents_health", (("health", h),))] for h in HEALTH_NAMES}
    miners = {h: samples[("prism_fleet_miners_health", (("health", h),))] for h in HEALTH_NAMES}
    assert agents == {**dict.fromkeys(HEALTH_NAMES, 0), "ok": 1, "critical": 1, "unknown": 1}
    assert miners == {
        **dict.fromkeys(HEALTH_NAMES, 0),
        "warning": 1,
        "pending": 1,
        "maintenance": 1,
    }
    # The status gauges stay as they were, beside them.
    assert samples[("prism_agents", (("status", "online"),))] == 2


def test_an_empty_fleet_exports_every_health_at_zero(client: TestClient) -> None:
    samples = scrape(client)
    for family in ("prism_fleet_agents_health", "prism_fleet_miners_health"):
        assert {h: samples[(family, (("health", h),))] for h in HEALTH_NAMES} == dict.fromkeys(
            HEALTH_NAMES, 0
        )


def test_miner_gauges_come_from_each_miners_newest_sample(
    client: TestClient, db_session: Session
) -> None:
    newest = utcnow().replace(microsecond=0)
    older = MinerSample(
        miner_id="rig-1",
        recorded_at=newest - timedelta(minutes=5),
        hashrate_1m=5000,
        temperature_c=90,
    )
    latest = MinerSample(
        miner_id="rig-1",
        recorded_at=newest,
        hashrate_1m=0,  # 0 falls back to the 15-minute rate
        hashrate_15m=1000,
        shares_accepted=90,
        shares_stale=10,
        temperature_c=71.5,
    )
    quiet = MinerSample(miner_id="rig-2", recorded_at=newest - timedelta(hours=1))
    db_session.add_all([older, latest, quiet])
    db_session.flush()
    db_session.add_all(
        [
            Miner(
                miner_id="rig-1",
                first_seen_at=older.recorded_at,
                last_recorded_at=newest,
                last_sample_id=latest.id,
            ),
            Miner(
                miner_id="rig-2",
                first_seen_at=quiet.recorded_at,
                last_recorded_at=quiet.recorded_at,
                last_sample_id=quiet.id,
            ),
        ]
    )
    db_session.commit()

    samples = scrape(client)
    rig1 = (("miner_id", "rig-1"),)
    rig2 = (("miner_id", "rig-2"),)
    assert samples[("prism_miner_hashrate", rig1)] == pytest.approx(900)
    assert samples[("prism_miner_temperature_celsius", rig1)] == 71.5
    assert samples[("prism_miner_last_seen_timestamp_seconds", rig1)] == newest.timestamp()
    assert samples[("prism_miner_last_seen_timestamp_seconds", rig2)] == pytest.approx(
        quiet.recorded_at.timestamp()
    )
    # No rate and no temperature reported: no made-up zero.
    assert ("prism_miner_hashrate", rig2) not in samples
    assert ("prism_miner_temperature_celsius", rig2) not in samples


def test_ingest_counters_and_query_durations_are_exported(client: TestClient, app: FastAPI) -> None:
    before = scrape(client).get(("prism_ingest_items_total", (("kind", "sample"),)), 0)
    app.state.metrics.count_ingest("sample", 3)
    samples = scrape(client)
    assert samples[("prism_ingest_items_total", (("kind", "sample"),))] == before + 3
    assert samples[("prism_db_query_duration_seconds_count", ())] > 0


def test_metrics_need_a_read_token_when_not_public(
    make_client: Callable[..., TestClient], token_for: Callable[[str], dict[str, str]]
) -> None:
    private = make_client(metrics_public=False)
    anonymous = TestClient(private.app)
    response = anonymous.get("/metrics")
    assert response.status_code == 401
    assert response.json() == {"detail": "Missing token"}

    assert anonymous.get("/metrics", headers=token_for("ingest")).status_code == 403
    read = anonymous.get("/metrics", headers=token_for("read"))
    assert read.status_code == 200
    assert read.headers["content-type"] == CONTENT_TYPE


# --- the earlier service's names (SPEC appendix A), beside ours ----------------------------


def test_the_earlier_request_metrics_count_real_requests(client: TestClient) -> None:
    route = labels(method="GET", route="/api/agents")
    ok = labels(method="GET", route="/api/agents", status="200")
    before = scrape(client)
    for _ in range(3):
        assert client.get("/api/agents").status_code == 200
    after = scrape(client)
    assert after[("prism_requests_total", ok)] == before.get(("prism_requests_total", ok), 0) + 3
    count = ("prism_request_duration_seconds_count", route)
    assert after[count] == before.get(count, 0) + 3
    every = ("prism_request_duration_seconds_bucket", (("le", "+Inf"), *route))
    assert after[every] == after[count]
    assert after[("prism_request_duration_seconds_sum", route)] > 0
    # The same samples as the new names, not a second count that could drift.
    assert after[("prism_requests_total", ok)] == after[("prism_http_requests_total", ok)]
    assert after[count] == after[("prism_http_request_duration_seconds_count", route)]


def test_the_standard_process_and_python_collectors_are_exported(client: TestClient) -> None:
    samples = scrape(client)
    assert samples[("process_resident_memory_bytes", ())] > 0
    assert samples[("process_open_fds", ())] > 0
    assert ("process_cpu_seconds_total", ()) in samples
    assert ("process_start_time_seconds", ()) in samples
    assert any(name == "python_info" for name, _ in samples)
    assert ("python_gc_objects_collected_total", (("generation", "0"),)) in samples


def _add_runbook(session: Session, runbook_id: str) -> None:
    session.add(
        Runbook(id=runbook_id, title="Restart", inputs_schema={}, linked_workflow="wf.restart")
    )
    session.commit()


def test_runbook_executions_are_counted_by_runbook_and_status(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    _add_runbook(db_session, "restart-api")
    queued = labels(runbook_id="restart-api", status="queued")
    accepted = labels(runbook_id="restart-api", status="accepted")
    with running_fake_gateway() as gateway:
        without_gateway = make_client()
        with_gateway = make_client(gateway_url=gateway.url, gateway_timeout=WAIT)
        assert ("prism_runbook_exec_total", queued) not in scrape(without_gateway)
        for _ in range(2):
            response = without_gateway.post("/api/runbooks/restart-api/execute", json={})
            assert response.status_code == 200
        assert with_gateway.post("/api/runbooks/restart-api/execute", json={}).status_code == 200
    # Read from the console database: every replica reports every execution.
    for replica in (without_gateway, with_gateway):
        samples = scrape(replica)
        assert samples[("prism_runbook_exec_total", queued)] == 2
        assert samples[("prism_runbook_exec_total", accepted)] == 1


def test_verifier_cache_hits_are_counted(make_client: Callable[..., TestClient]) -> None:
    token = "ext-dashboard-token-with-plenty-of-entropy-07"
    with running_fake_verifier(valid={token: {"active": True, "scope": "read"}}) as verifier:
        # Limits no busy machine reaches: the answer stays cached for the whole test.
        client = make_client(
            auth_verify_url=verifier.url, auth_verify_timeout=WAIT, auth_verify_cache_seconds=86_400
        )
        assert scrape(client)[("prism_auth_cache_hits_total", ())] == 0
        for _ in range(3):
            response = client.get("/api/agents", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200
        assert verifier.calls == [token]  # asked once, then answered from the cache twice
    assert scrape(client)[("prism_auth_cache_hits_total", ())] == 2


def test_open_live_streams_are_counted_under_the_earlier_name(app_settings: Settings) -> None:
    ops = ("prism_sse_clients", labels(route="/api/stream/ops"))
    with (
        running_server(create_app(app_settings)) as base_url,
        httpx.Client(base_url=base_url, headers=AUTH, timeout=HTTP_TIMEOUT) as http,
    ):
        assert scrape(http)[ops] == 0
        with http.stream("GET", "/api/stream/ops") as stream:
            # The first message (a heartbeat) is sent once the stream is subscribed. The
            # iterator is kept: dropping it would close the stream.
            lines = stream.iter_lines()
            assert next(lines).startswith("retry:")
            samples = scrape(http)
            assert samples[ops] == 1
            assert samples[("prism_stream_subscribers", ())] == 1
        wait_until(lambda: scrape(http)[ops] == 0, "the closed stream to be counted out")
