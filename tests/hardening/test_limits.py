"""Input limits on every ingest and admin body: a 422 naming the field, and nothing written.

Each refused request is checked against the row count of every console table, taken before
and after, so a half-written request cannot hide in a table the test did not think of.
"""

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.agents import events as event_service
from app.core.errors import UnprocessableError
from app.core.timeutil import isoformat, utcnow
from app.models.agent import EventIn
from tests.hardening.ingest_support import row_counts
from tests.support.factories import add_agent

CONTROL_CHARACTERS = ["\x00", "\n", "\t", "\r", "\x1b", "\x7f", "\x85"]


def _post(client: TestClient, path: str, body: Any, method: str = "POST") -> Any:
    """Send `body` as JSON; a str is sent as written (NaN and Infinity are not JSON)."""
    if isinstance(body, str):
        headers = {"Content-Type": "application/json"}
        return client.request(method, path, content=body, headers=headers)
    return client.request(method, path, json=body)


def assert_refused(response: Any, loc: list[Any]) -> None:
    """422 in FastAPI's shape, with exactly one error, at `loc`."""
    sent = response.request.content[:200]
    assert response.status_code == 422, (sent, response.text)
    assert [error["loc"] for error in response.json()["detail"]] == [loc], (sent, response.text)


Check = Callable[[], None]


@pytest.fixture
def rows_unchanged(client: TestClient, engine: Engine) -> Callable[[], Check]:
    """Snapshot the row counts now; the returned check asserts every table still has them."""

    def snapshot() -> Check:
        before = row_counts(engine)

        def check() -> None:
            assert row_counts(engine) == before

        return check

    return snapshot


def _in(seconds: float) -> str:
    return isoformat(utcnow() + timedelta(seconds=seconds))


# --- agents: heartbeats -------------------------------------------------------------------


BAD_REGISTRATIONS: list[tuple[Any, list[Any]]] = [
    ({"name": "Agent\x00one", "domain": "ops"}, ["body", "name"]),
    ({"name": "Agent\none", "domain": "ops"}, ["body", "name"]),
    ({"name": "n" * 201, "domain": "ops"}, ["body", "name"]),
    ({"name": "Agent", "domain": "o\tps"}, ["body", "domain"]),
    ({"name": "Agent", "domain": "d" * 101}, ["body", "domain"]),
    ({"name": "Agent", "domain": "ops", "version": "1.0\x00"}, ["body", "version"]),
    ({"name": "Agent", "domain": "ops", "version": "v" * 65}, ["body", "version"]),
    ({"name": "Agent", "domain": "ops", "memoryUsedMB": -1}, ["body", "memoryUsedMB"]),
    ({"name": "Agent", "domain": "ops", "memoryUsedMB": 1e13}, ["body", "memoryUsedMB"]),
    ({"name": "Agent", "domain": "ops", "status": "asleep"}, ["body", "status"]),
]


def test_a_bad_registration_heartbeat_is_422_naming_the_field_and_registers_nothing(
    client: TestClient, rows_unchanged: Callable[[], Check]
) -> None:
    unchanged = rows_unchanged()
    for body, loc in BAD_REGISTRATIONS:
        assert_refused(_post(client, "/api/agents/agent-1/heartbeat", body), loc)
    unchanged()


def test_a_heartbeat_with_a_non_finite_memory_is_422_and_changes_nothing(
    client: TestClient, db_session: Session, rows_unchanged: Callable[[], Check]
) -> None:
    add_agent(db_session, "agent-1", memory_used_mb=100.0)
    unchanged = rows_unchanged()
    for number in ("NaN", "Infinity", "-Infinity", "1e400"):
        body = f'{{"memoryUsedMB": {number}}}'
        assert_refused(
            _post(client, "/api/agents/agent-1/heartbeat", body), ["body", "memoryUsedMB"]
        )
    unchanged()
    assert client.get("/api/agents/agent-1").json()["agent"]["memoryUsedMB"] == 100.0


# --- agents: events -----------------------------------------------------------------------


# The body is one event or a batch: pydantic names which shape it validated.
BAD_EVENTS: list[tuple[Any, list[Any]]] = [
    ({"kind": "warn", "message": "disk\x00full"}, ["body", "event", "message"]),
    ({"kind": "warn", "message": "bell\x07"}, ["body", "event", "message"]),
    ({"kind": "warn", "message": "m" * 65_537}, ["body", "event", "message"]),
    ({"kind": "panic", "message": "m"}, ["body", "event", "kind"]),
    ({"kind": "warn", "message": "m", "at": "0001-99-01"}, ["body", "event", "at"]),
    (
        {"events": [{"kind": "warn", "message": "ok"}, {"kind": "warn", "message": "\x00"}]},
        ["body", "batch", "events", 1, "message"],
    ),
    ({"events": [{"kind": "warn", "message": "m"}] * 1001}, ["body", "batch", "events"]),
    ('{"kind": "warn", "message": "m", "at": NaN}', ["body", "event", "at"]),
]


def test_a_bad_event_is_422_naming_the_field_and_stores_no_event_of_the_request(
    client: TestClient, db_session: Session, rows_unchanged: Callable[[], Check]
) -> None:
    add_agent(db_session, "agent-1")
    unchanged = rows_unchanged()
    for body, loc in BAD_EVENTS:
        assert_refused(_post(client, "/api/agents/agent-1/events", body), loc)
    unchanged()


def test_an_event_batch_over_the_limit_names_the_limit(
    client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "agent-1")
    events = [{"kind": "warn", "message": "m"}] * 1001
    response = client.post("/api/agents/agent-1/events", json={"events": events})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["ctx"]["max_length"] == 1000


def test_tabs_and_newlines_in_an_event_message_are_kept(
    client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "agent-1")
    message = "Traceback:\n\tline 1\r\n"
    response = client.post("/api/agents/agent-1/events", json={"kind": "error", "message": message})
    assert response.status_code == 202
    assert client.get("/api/agents/agent-1").json()["recent"][0]["message"] == message


def test_an_event_dated_beyond_the_clock_skew_is_422_naming_at(
    client: TestClient, db_session: Session, rows_unchanged: Callable[[], Check]
) -> None:
    add_agent(db_session, "agent-1")
    unchanged = rows_unchanged()
    response = client.post(
        "/api/agents/agent-1/events", json={"kind": "warn", "message": "m", "at": _in(3600)}
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("at: ")
    assert "more than 300 s in the future" in response.json()["detail"]
    unchanged()


def test_one_event_of_a_batch_beyond_the_skew_rejects_the_batch_naming_its_index(
    client: TestClient, db_session: Session, rows_unchanged: Callable[[], Check]
) -> None:
    add_agent(db_session, "agent-1")
    unchanged = rows_unchanged()
    events = [{"kind": "warn", "message": f"m{i}", "at": _in(-60)} for i in range(5)]
    events[3]["at"] = _in(86_400)
    response = client.post("/api/agents/agent-1/events", json={"events": events})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("events.3.at: ")
    unchanged()


def test_an_event_within_the_clock_skew_is_accepted(
    client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "agent-1")
    response = client.post(
        "/api/agents/agent-1/events", json={"kind": "warn", "message": "m", "at": _in(60)}
    )
    assert response.status_code == 202


def test_the_event_clock_skew_is_the_one_configured(
    client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "agent-1")
    now = utcnow()
    soon = EventIn(kind="warn", message="m", at=now + timedelta(seconds=30))
    with pytest.raises(UnprocessableError, match="more than 10 s in the future"):
        event_service.check_event_times([soon], now=now, max_skew_seconds=10, batch=None)
    event_service.check_event_times([soon], now=now, max_skew_seconds=60, batch=None)
    stored = event_service.store_events(
        session=db_session, agent_id="agent-1", events=[soon], received=now
    )
    assert len(stored) == 1


# --- miners: one sample -------------------------------------------------------------------


def test_a_miner_id_with_a_control_character_is_422_and_stores_nothing(
    client: TestClient, rows_unchanged: Callable[[], Check]
) -> None:
    unchanged = rows_unchanged()
    for character in CONTROL_CHARACTERS:
        response = client.post("/api/miners/sample", json={"miner_id": f"rig{character}1"})
        assert_refused(response, ["body", "miner_id"])
        assert response.json()["detail"][0]["type"] == "string_control_character"
    unchanged()


ABSURD_SAMPLES: list[tuple[dict[str, Any], str]] = [
    ({"miner_id": "r" * 129}, "miner_id"),
    ({"pool": "p" * 201}, "pool"),
    ({"pool": "stratum\x00"}, "pool"),
    ({"profile": "rx/0\n"}, "profile"),
    ({"temperature_c": 151}, "temperature_c"),
    ({"temperature_c": -51}, "temperature_c"),
    ({"temperature_c": 1e300}, "temperature_c"),
    ({"hashrate_1m": -1}, "hashrate_1m"),
    ({"hashrate_15m": 1e22}, "hashrate_15m"),
    ({"latency_ms": -0.1}, "latency_ms"),
    ({"latency_ms": 1e12}, "latency_ms"),
    ({"shares_accepted": -1}, "shares_accepted"),
    ({"shares_rejected": 2**31}, "shares_rejected"),
    ({"last_share_difficulty": -5}, "last_share_difficulty"),
]


def test_an_absurd_sample_is_422_naming_the_field_and_stores_nothing(
    client: TestClient, rows_unchanged: Callable[[], Check]
) -> None:
    unchanged = rows_unchanged()
    for fields, field in ABSURD_SAMPLES:
        body = {"miner_id": "rig-1", **fields}
        assert_refused(_post(client, "/api/miners/sample", body), ["body", field])
    unchanged()


def test_a_non_finite_sample_value_is_422_and_stores_nothing(
    client: TestClient, rows_unchanged: Callable[[], Check]
) -> None:
    unchanged = rows_unchanged()
    for field in ("hashrate_1m", "hashrate_15m", "temperature_c", "latency_ms"):
        for number in ("NaN", "Infinity", "-Infinity", "1e400"):
            raw = f'{{"miner_id": "rig-1", "{field}": {number}}}'
            assert_refused(_post(client, "/api/miners/sample", raw), ["body", field])
    unchanged()


def test_a_sample_time_beyond_the_clock_skew_is_422_naming_it(
    client: TestClient, rows_unchanged: Callable[[], Check]
) -> None:
    unchanged = rows_unchanged()
    for field in ("timestamp", "last_share_at"):
        response = client.post("/api/miners/sample", json={"miner_id": "rig-1", field: _in(3600)})
        assert response.status_code == 422
        assert response.json()["detail"].startswith(f"{field}: ")
    unchanged()


def test_the_sample_clock_skew_is_the_one_configured(
    make_client: Callable[..., TestClient], engine: Engine
) -> None:
    strict = make_client(max_clock_skew_seconds=5)
    response = strict.post("/api/miners/sample", json={"miner_id": "rig-1", "timestamp": _in(60)})
    assert response.status_code == 422
    assert "more than 5 s in the future" in response.json()["detail"]
    lenient = make_client(max_clock_skew_seconds=3600)
    response = lenient.post("/api/miners/sample", json={"miner_id": "rig-1", "timestamp": _in(60)})
    assert response.status_code == 202
    assert row_counts(engine)["minersample"] == 1


def test_the_bridge_envelope_names_the_sample_time_beyond_the_skew(
    client: TestClient, rows_unchanged: Callable[[], Check]
) -> None:
    unchanged = rows_unchanged()
    body = {"topic": "miner.sample", "payload": {"sample": {"miner": "rig-1", "ts": _in(3600)}}}
    response = client.post("/events", json=body)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("payload.sample.ts: ")
    unchanged()


def test_the_bridge_envelope_refuses_a_miner_with_a_control_character(
    client: TestClient, rows_unchanged: Callable[[], Check]
) -> None:
    unchanged = rows_unchanged()
    body = {"topic": "miner.sample", "payload": {"sample": {"miner": "rig\x00"}}}
    assert_refused(client.post("/events", json=body), ["body", "payload", "sample", "miner"])
    unchanged()


def test_plausible_extremes_are_accepted(client: TestClient, engine: Engine) -> None:
    sample = {
        "miner_id": "rig-1_(hall:B)@ñ",
        "temperature_c": -40,
        "hashrate_1m": 1e20,
        "latency_ms": 60_000,
        "shares_accepted": 2**31 - 1,
        "timestamp": _in(60),
    }
    assert client.post("/api/miners/sample", json=sample).status_code == 202
    assert row_counts(engine)["minersample"] == 1


# --- miners: batches ----------------------------------------------------------------------


def _batch(size: int) -> list[dict[str, Any]]:
    start = utcnow() - timedelta(hours=1)
    return [
        {
            "miner_id": f"rig-{index % 7}",
            "timestamp": isoformat(start + timedelta(seconds=index)),
            "hashrate_1m": 1000.0 + index,
            "temperature_c": 60.0,
            "shares_accepted": index,
        }
        for index in range(size)
    ]


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("temperature_c", 999.0),
        ("miner_id", "rig\x00"),
        ("shares_rejected", -3),
        ("pool", "p" * 201),
    ],
)
def test_one_bad_sample_in_a_thousand_rejects_the_batch_naming_it_and_stores_nothing(
    client: TestClient, engine: Engine, field: str, bad: Any
) -> None:
    samples = _batch(1000)
    samples[737][field] = bad
    response = client.post("/api/miners/samples", json={"samples": samples})
    assert_refused(response, ["body", "samples", 737, field])
    counts = row_counts(engine)
    assert (counts["minersample"], counts["miner"]) == (0, 0)


def test_one_non_finite_sample_in_a_thousand_rejects_the_batch(
    client: TestClient, engine: Engine
) -> None:
    samples = _batch(1000)
    samples[512]["hashrate_15m"] = "__NAN__"
    raw = json.dumps({"samples": samples}).replace('"__NAN__"', "NaN")
    response = _post(client, "/api/miners/samples", raw)
    assert_refused(response, ["body", "samples", 512, "hashrate_15m"])
    counts = row_counts(engine)
    assert (counts["minersample"], counts["miner"]) == (0, 0)


def test_one_future_sample_in_a_thousand_rejects_the_batch_naming_its_index(
    client: TestClient, engine: Engine
) -> None:
    samples = _batch(1000)
    samples[3]["timestamp"] = _in(7200)
    response = client.post("/api/miners/samples", json={"samples": samples})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("samples.3.timestamp: ")
    counts = row_counts(engine)
    assert (counts["minersample"], counts["miner"]) == (0, 0)


def test_the_same_thousand_samples_without_the_bad_one_are_all_stored(
    client: TestClient, engine: Engine
) -> None:
    response = client.post("/api/miners/samples", json={"samples": _batch(1000)})
    assert (response.status_code, response.json()["count"]) == (202, 1000)
    counts = row_counts(engine)
    assert (counts["minersample"], counts["miner"]) == (1000, 7)


def test_a_batch_over_the_configured_limit_is_422_naming_the_field_and_the_limit(
    make_client: Callable[..., TestClient], engine: Engine
) -> None:
    limited = make_client(max_batch_samples=50)
    response = limited.post("/api/miners/samples", json={"samples": _batch(51)})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("samples: at most 50 samples")
    assert row_counts(engine)["minersample"] == 0
    assert limited.post("/api/miners/samples", json={"samples": _batch(50)}).status_code == 202


# --- runbooks, metrics, settings, tokens: the lengths of their columns --------------------


BAD_ADMIN_FIELDS: list[tuple[str, str, dict[str, Any], list[Any]]] = [
    ("POST", "/api/runbooks", {"id": "rb-1", "title": "t" * 201}, ["body", "title"]),
    ("POST", "/api/runbooks", {"id": "r" * 129, "title": "t"}, ["body", "id"]),
    ("POST", "/api/runbooks", {"id": "rb\x00", "title": "t"}, ["body", "id"]),
    ("POST", "/api/runbooks", {"id": "rb-1", "title": "t\x00"}, ["body", "title"]),
    (
        "POST",
        "/api/runbooks",
        {"id": "rb-1", "title": "t", "description": "\x00"},
        ["body", "description"],
    ),
    (
        "POST",
        "/api/runbooks",
        {"id": "rb-1", "title": "t", "linkedWorkflow": "w" * 201},
        ["body", "linkedWorkflow"],
    ),
    ("POST", "/api/metrics", {"id": "m" * 129, "title": "t"}, ["body", "id"]),
    ("POST", "/api/metrics", {"id": "m-1", "title": "t\x00"}, ["body", "title"]),
    ("POST", "/api/metrics", {"id": "m-1", "title": "t", "value": "v" * 201}, ["body", "value"]),
    ("POST", "/api/metrics", {"id": "m-1", "title": "t", "icon": "i" * 65}, ["body", "icon"]),
    ("PUT", "/api/settings/theme", {"value": "v" * 10_001}, ["body", "value"]),
    ("PUT", "/api/settings/theme", {"value": "dark\x00"}, ["body", "value"]),
    ("PUT", f"/api/settings/{'k' * 129}", {"value": "v"}, ["path", "key"]),
    ("POST", "/api/tokens", {"name": "n" * 201, "scope": "read"}, ["body", "name"]),
    ("POST", "/api/tokens", {"name": "ci\x00", "scope": "read"}, ["body", "name"]),
]


def test_an_over_long_or_nul_admin_field_is_422_naming_it_and_writes_nothing(
    client: TestClient, rows_unchanged: Callable[[], Check]
) -> None:
    unchanged = rows_unchanged()
    for method, path, body, loc in BAD_ADMIN_FIELDS:
        assert_refused(client.request(method, path, json=body), loc)
    unchanged()


# --- 500s the limits tests found ------------------------------------------------------


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_out_of_range_once_in_utc_is_422_naming_it(
    client: TestClient, rows_unchanged: Callable[[], Check], moment: str
) -> None:
    unchanged = rows_unchanged()
    response = client.post("/api/miners/sample", json={"miner_id": "rig-1", "timestamp": moment})
    assert_refused(response, ["body", "timestamp"])
    unchanged()


def test_a_lone_surrogate_is_422_naming_the_field(
    client: TestClient, rows_unchanged: Callable[[], Check]
) -> None:
    unchanged = rows_unchanged()
    response = _post(client, "/api/miners/sample", '{"miner_id": "rig\\ud800"}')
    assert_refused(response, ["body", "miner_id"])
    unchanged()


def test_the_event_clock_skew_setting_reaches_the_route(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    strict = make_client(max_clock_skew_seconds=5)
    add_agent(db_session, "agent-1")
    batch = {"events": [{"kind": "warn", "message": "m", "at": _in(60)}]}
    response = strict.post("/api/agents/agent-1/events", json=batch)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("events.0.at: ")
    assert "more than 5 s in the future" in response.json()["detail"]
