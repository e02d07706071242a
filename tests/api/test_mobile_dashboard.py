"""GET /api/mobile/dashboard: the compatible shape, with a summary of the real fleet."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.timeutil import parse_datetime, utcnow
from app.models import Agent, Metric, Miner, MinerSample, Runbook
from app.models.alerts import HEALTH_NAMES as HEALTHS
from tests.support.factories import add_rule, add_silence, add_state, make_agent

SHORTCUTS = [
    {"id": "runbooks", "title": "Runbooks", "icon": "book", "url": "http://testserver/runbooks"},
    {"id": "agents", "title": "Agents", "icon": "cpu", "url": "http://testserver/agents"},
]


def _agent(agent_id: str, status: str, seconds_ago: float | None) -> Agent:
    seen = None if seconds_ago is None else utcnow() - timedelta(seconds=seconds_ago)
    return make_agent(agent_id, name=agent_id, domain="ops", status=status, last_seen_at=seen)


def _miner(session: Session, miner_id: str, seconds_ago: float, **sample: object) -> None:
    at = utcnow() - timedelta(seconds=seconds_ago)
    older = MinerSample(miner_id=miner_id, recorded_at=at - timedelta(minutes=1), hashrate_1m=1e9)
    row = MinerSample(miner_id=miner_id, recorded_at=at, **sample)  # type: ignore[arg-type]
    session.add_all([older, row])
    session.flush()
    session.add(
        Miner(
            miner_id=miner_id,
            first_seen_at=older.recorded_at,
            last_recorded_at=at,
            last_sample_id=row.id,
        )
    )
    session.commit()


def test_an_empty_fleet_has_zero_counts_and_the_two_shortcuts(client: TestClient) -> None:
    before = utcnow()
    response = client.get("/api/mobile/dashboard")
    after = utcnow()
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["summary", "fleet", "metrics", "shortcuts"]
    assert body["summary"] == "No agents or miners yet."
    fleet = body["fleet"]
    # Made while the request ran, however long it took.
    assert before <= parse_datetime(fleet.pop("generatedAt")) <= after
    assert fleet == {
        "agentsTotal": 0,
        "agentsOnline": 0,
        "agentsDegraded": 0,
        "agentsOffline": 0,
        "runbooks": 0,
        "minersTotal": 0,
        "minersReporting": 0,
        "minersCritical": 0,
        "minersWarning": 0,
        "minersStale": 0,
        "fleetHashrate": 0.0,
        "agentsHealth": dict.fromkeys(HEALTHS, 0),
        "minersHealth": dict.fromkeys(HEALTHS, 0),
        "problems": 0,
    }
    assert body["metrics"] == []
    assert body["shortcuts"] == SHORTCUTS


def test_metrics_are_sorted_by_title_with_the_tile_keys(
    client: TestClient, db_session: Session
) -> None:
    db_session.add_all(
        [
            Metric(
                metric_id="uptime",
                title="Platform Uptime",
                value="99.95%",
                caption="Last 24h",
                icon="activity",
                status="good",
            ),
            Metric(
                metric_id="latency",
                title="Gateway P99 Latency",
                value="420ms",
                caption="Last 5m",
                icon="zap",
                status="warning",
            ),
        ]
    )
    db_session.commit()
    metrics = client.get("/api/mobile/dashboard").json()["metrics"]
    assert metrics == [
        {
            "id": "latency",
            "title": "Gateway P99 Latency",
            "value": "420ms",
            "caption": "Last 5m",
            "icon": "zap",
            "status": "warning",
        },
        {
            "id": "uptime",
            "title": "Platform Uptime",
            "value": "99.95%",
            "caption": "Last 24h",
            "icon": "activity",
            "status": "good",
        },
    ]


def test_agents_are_counted_by_the_status_operators_see(
    client: TestClient, db_session: Session
) -> None:
    db_session.add_all(
        [
            _agent("a1", "online", 10),
            _agent("a2", "online", 20),
            _agent("a3", "degraded", 10),
            _agent("a4", "offline", 10),
            _agent("silent", "online", 3600),  # reported online, silent for an hour
            _agent("never", "online", None),
        ]
    )
    db_session.add_all([Runbook(id="r1", title="R1"), Runbook(id="r2", title="R2")])
    db_session.commit()
    summary = client.get("/api/mobile/dashboard").json()["fleet"]
    assert (summary["agentsTotal"], summary["agentsOnline"]) == (6, 2)
    assert (summary["agentsDegraded"], summary["agentsOffline"]) == (1, 3)
    assert summary["runbooks"] == 2


def test_the_offline_threshold_follows_the_setting(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    client = make_client(agent_offline_after=7200)
    db_session.add(_agent("silent", "online", 3600))
    db_session.commit()
    summary = client.get("/api/mobile/dashboard").json()["fleet"]
    assert (summary["agentsOnline"], summary["agentsOffline"]) == (1, 0)


def test_miners_and_hashrate_come_from_each_miners_newest_sample(
    client: TestClient, db_session: Session
) -> None:
    # 1000 H/s with 1 stale of 4 shares → 750; 1m rate of 0 falls back to the 15m rate.
    _miner(db_session, "rig-a", 30, hashrate_1m=1000.0, shares_accepted=3, shares_stale=1)
    _miner(db_session, "rig-b", 60, hashrate_1m=0.0, hashrate_15m=500.0)
    _miner(db_session, "rig-c", 7200, hashrate_1m=250.0)  # silent for two hours
    _miner(db_session, "rig-d", 10)  # reported no rate at all
    summary = client.get("/api/mobile/dashboard").json()["fleet"]
    assert (summary["minersTotal"], summary["minersReporting"]) == (4, 3)
    assert summary["fleetHashrate"] == pytest.approx(750.0 + 500.0 + 250.0)


def test_a_miner_whose_sample_was_pruned_still_counts(
    client: TestClient, db_session: Session
) -> None:
    now = utcnow()
    db_session.add(
        Miner(miner_id="rig", first_seen_at=now, last_recorded_at=now, last_sample_id=None)
    )
    db_session.commit()
    summary = client.get("/api/mobile/dashboard").json()["fleet"]
    assert (summary["minersTotal"], summary["fleetHashrate"]) == (1, 0.0)


def _rules(session: Session) -> None:
    """Rules as the defaults judge: offline and silent critical, degraded and warm warnings."""
    add_rule(session, "down", kind="agent_offline", severity="critical")
    add_rule(session, "slow", kind="agent_status", severity="warning")
    add_rule(session, "silent", kind="miner_silent", severity="critical")
    add_rule(session, "hot", kind="miner_temperature", severity="critical")
    add_rule(session, "warm", kind="miner_temperature", severity="warning")


def test_the_summary_is_a_sentence_naming_each_problem(
    client: TestClient, db_session: Session
) -> None:
    db_session.add_all([_agent("a1", "online", 10), _agent("a2", "online", 3600)])
    db_session.commit()
    _miner(db_session, "rig-ok", 10, hashrate_1m=1000.0, temperature_c=60.0)
    _miner(db_session, "rig-hot", 10, hashrate_1m=1000.0, temperature_c=90.0)
    # What the evaluator judged of them.
    _rules(db_session)
    add_state(db_session, "down", "a2", subject_type="agent")
    add_state(db_session, "hot", "rig-hot")
    body = client.get("/api/mobile/dashboard").json()
    assert body["summary"] == "2 problems: 1 agent offline, 1 miner critical."
    assert (body["fleet"]["minersCritical"], body["fleet"]["agentsOffline"]) == (1, 1)
    assert body["fleet"]["problems"] == 2
    assert body["fleet"]["agentsHealth"] == {**dict.fromkeys(HEALTHS, 0), "critical": 1, "ok": 1}
    assert body["fleet"]["minersHealth"] == {**dict.fromkeys(HEALTHS, 0), "critical": 1, "ok": 1}


def test_every_kind_of_problem_is_counted_in_the_sentence(
    client: TestClient, db_session: Session
) -> None:
    db_session.add_all(
        [
            _agent("down-1", "offline", 10),
            _agent("down-2", "offline", 10),
            _agent("slow", "degraded", 10),
        ]
    )
    db_session.commit()
    _miner(db_session, "rig-warm", 10, temperature_c=82.0)
    _miner(db_session, "rig-silent", 7200, temperature_c=60.0)
    _rules(db_session)
    add_state(db_session, "down", "down-1", subject_type="agent")
    add_state(db_session, "down", "down-2", subject_type="agent")
    add_state(db_session, "slow", "slow", subject_type="agent")
    add_state(db_session, "warm", "rig-warm")
    add_state(db_session, "silent", "rig-silent")
    body = client.get("/api/mobile/dashboard").json()
    # Worst first, agents before miners.
    assert body["summary"] == (
        "5 problems: 2 agents offline, 1 miner not reporting, 1 agent in warning, "
        "1 miner in warning."
    )
    fleet = body["fleet"]
    assert (fleet["minersWarning"], fleet["minersStale"], fleet["minersCritical"]) == (1, 1, 0)


def test_a_healthy_fleet_says_so_with_its_size(client: TestClient, db_session: Session) -> None:
    db_session.add_all(_agent(f"agent-{number}", "online", 10) for number in range(1, 9))
    db_session.commit()
    for number in range(4):
        _miner(db_session, f"rig-{number}", 10, hashrate_1m=1000.0, temperature_c=60.0)
    body = client.get("/api/mobile/dashboard").json()
    assert body["summary"] == "All 8 agents and 4 miners healthy."


def test_pending_and_never_reported_are_problems_too(
    client: TestClient, db_session: Session
) -> None:
    db_session.add_all([_agent("a1", "online", 10), _agent("never", "online", None)])
    db_session.commit()
    _miner(db_session, "rig-heating", 10, temperature_c=86.0)
    _rules(db_session)
    add_state(db_session, "hot", "rig-heating", state="pending")
    body = client.get("/api/mobile/dashboard").json()
    assert body["summary"] == "2 problems: 1 miner pending, 1 agent never reported."


def test_maintenance_is_said_apart_from_problems_and_health(
    client: TestClient, db_session: Session
) -> None:
    db_session.add_all(_agent(f"agent-{number}", "online", 10) for number in range(1, 4))
    db_session.commit()
    for number in range(3):
        _miner(db_session, f"rig-{number}", 10, temperature_c=60.0)
    _rules(db_session)
    add_state(db_session, "hot", "rig-0")
    add_silence(db_session, "fans", {"subjectType": "miner", "subject": "rig-0"})
    summary = client.get("/api/mobile/dashboard").json()["summary"]
    assert summary == "All 3 agents and 2 miners healthy; 1 miner in maintenance."
    add_state(db_session, "down", "agent-1", subject_type="agent")
    summary = client.get("/api/mobile/dashboard").json()["summary"]
    assert summary == "1 problem: 1 agent offline; 1 miner in maintenance."


def test_a_fleet_all_in_maintenance_says_only_that(client: TestClient, db_session: Session) -> None:
    _miner(db_session, "rig-0", 10)
    _miner(db_session, "rig-1", 10)
    add_silence(db_session, "all-miners", {"subjectType": "miner"})
    assert client.get("/api/mobile/dashboard").json()["summary"] == "2 miners in maintenance."


def test_a_fleet_of_one_agent_reads_naturally(client: TestClient, db_session: Session) -> None:
    db_session.add(_agent("solo", "online", 10))
    db_session.commit()
    assert client.get("/api/mobile/dashboard").json()["summary"] == "1 agent healthy."


def test_shortcut_urls_are_absolute_under_the_request_base_url(client: TestClient) -> None:
    shortcuts = client.get("/api/mobile/dashboard", headers={"Host": "console.lan:8080"}).json()[
        "shortcuts"
    ]
    assert [item["url"] for item in shortcuts] == [
        "http://console.lan:8080/runbooks",
        "http://console.lan:8080/agents",
    ]


def test_shortcut_urls_start_with_the_public_url(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(public_url="https://console.example.com")
    shortcuts = client.get("/api/mobile/dashboard").json()["shortcuts"]
    assert [item["url"] for item in shortcuts] == [
        "https://console.example.com/runbooks",
        "https://console.example.com/agents",
    ]


def test_the_dashboard_needs_a_read_token(
    anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> None:
    assert anon_client.get("/api/mobile/dashboard").status_code == 401
    assert anon_client.get("/api/mobile/dashboard", headers=token_for("read")).status_code == 200
    assert anon_client.get("/api/mobile/dashboard", headers=token_for("ingest")).status_code == 403
