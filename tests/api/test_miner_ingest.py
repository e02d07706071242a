"""Miner sample ingest: one sample, batches (all or nothing), the miner bridge's envelope."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.miners import api as miner_routes
from app.models import Miner, MinerSample

T0 = "2026-01-05T10:00:00Z"


def _counts(session: Session) -> tuple[int, int]:
    session.expire_all()
    samples = session.exec(select(func.count()).select_from(MinerSample)).one()
    miners = session.exec(select(func.count()).select_from(Miner)).one()
    return samples, miners


def _stored(session: Session, miner_id: str) -> list[MinerSample]:
    session.expire_all()
    query = select(MinerSample).where(col(MinerSample.miner_id) == miner_id)
    return list(session.exec(query.order_by(col(MinerSample.id))).all())


@pytest.fixture
def published(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Messages the routes hand to the live stream (as if someone listened)."""
    messages: list[dict[str, Any]] = []
    broadcaster = app.state.broadcaster
    monkeypatch.setattr(type(broadcaster), "has_audience", property(lambda _self: True))
    monkeypatch.setattr(broadcaster, "publish", messages.append)
    return messages


def test_stream_messages_are_built_only_when_someone_may_listen(
    client: TestClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[int] = []
    monkeypatch.setattr(miner_routes, "live_messages", lambda rows, now: built.append(1) or [])
    sample = {"miner_id": "rig-1", "timestamp": T0}
    assert client.post("/api/miners/sample", json=sample).status_code == 202
    # On PostgreSQL every message is relayed: another replica's browsers may be listening.
    relayed = app.state.engine.dialect.name == "postgresql"
    assert built == ([1] if relayed else [])


def _ingested(app: FastAPI) -> float:
    value = app.state.metrics.registry.get_sample_value(
        "prism_ingest_items_total", {"kind": "sample"}
    )
    return value or 0.0


def test_one_sample_is_accepted_and_stored_with_its_values(
    client: TestClient, db_session: Session
) -> None:
    response = client.post(
        "/api/miners/sample",
        json={
            "miner_id": "rig-1",
            "timestamp": "2026-01-05T11:00:00+01:00",
            "pool": "pool.example:3333",
            "profile": "rx/0",
            "hashrate_1m": 1500.5,
            "hashrate_15m": 1490,
            "shares_accepted": 12,
            "shares_rejected": 2,
            "latency_ms": 41.5,
            "temperature_c": 72.5,
            "last_share_difficulty": 15000,
            "last_share_at": 1767607190,
        },
    )
    assert (response.status_code, response.json()) == (202, {"status": "accepted"})
    (sample,) = _stored(db_session, "rig-1")
    assert sample.recorded_at == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert (sample.pool, sample.profile) == ("pool.example:3333", "rx/0")
    assert (sample.hashrate_1m, sample.hashrate_15m) == (1500.5, 1490.0)
    assert (sample.shares_accepted, sample.shares_rejected) == (12, 2)
    assert (sample.latency_ms, sample.temperature_c) == (41.5, 72.5)
    assert sample.last_share_difficulty == 15000.0
    assert sample.last_share_at == datetime(2026, 1, 5, 9, 59, 50, tzinfo=UTC)
    miner = db_session.get(Miner, "rig-1")
    assert miner is not None and miner.last_sample_id == sample.id


def test_a_sample_without_timestamp_is_recorded_now(
    client: TestClient, db_session: Session
) -> None:
    before = datetime.now(UTC)
    assert client.post("/api/miners/sample", json={"miner_id": "rig-1"}).status_code == 202
    (sample,) = _stored(db_session, "rig-1")
    assert before <= sample.recorded_at <= datetime.now(UTC)
    assert (sample.shares_accepted, sample.shares_rejected, sample.shares_stale) == (0, 0, 0)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ({"shares_rejected": 3}, 3),
        ({"shares_rejected": 3, "shares_stale": None}, 3),
        ({"shares_rejected": 3, "shares_stale": 0}, 0),
        ({"shares_rejected": 3, "shares_stale": 5}, 5),
    ],
)
def test_missing_or_null_stale_shares_take_the_rejected_count(
    client: TestClient, db_session: Session, sent: dict[str, Any], stored: int
) -> None:
    response = client.post("/api/miners/sample", json={"miner_id": "rig-1", **sent})
    assert response.status_code == 202
    assert _stored(db_session, "rig-1")[0].shares_stale == stored


def test_share_counts_sent_as_numeric_strings_are_accepted(
    client: TestClient, db_session: Session
) -> None:
    response = client.post(
        "/api/miners/sample",
        json={"miner_id": "rig-1", "shares_accepted": "100", "shares_rejected": "2"},
    )
    assert response.status_code == 202
    sample = _stored(db_session, "rig-1")[0]
    assert (sample.shares_accepted, sample.shares_rejected) == (100, 2)


def test_unknown_keys_are_ignored(client: TestClient, db_session: Session) -> None:
    response = client.post(
        "/api/miners/sample", json={"miner_id": "rig-1", "firmware": "6.21", "id": 99}
    )
    assert response.status_code == 202
    assert _stored(db_session, "rig-1")[0].id != 99


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "miner_id"),
        ({"miner_id": ""}, "miner_id"),
        ({"miner_id": 7}, "miner_id"),
        ({"miner_id": "r", "shares_accepted": 1.5}, "shares_accepted"),
        ({"miner_id": "r", "shares_rejected": -1}, "shares_rejected"),
        ({"miner_id": "r", "shares_stale": -2}, "shares_stale"),
        ({"miner_id": "r", "shares_accepted": None}, "shares_accepted"),
        ({"miner_id": "r", "hashrate_1m": -0.5}, "hashrate_1m"),
        ({"miner_id": "r", "hashrate_15m": "fast"}, "hashrate_15m"),
        ({"miner_id": "r", "timestamp": "yesterday"}, "timestamp"),
        ({"miner_id": "r", "last_share_at": "2026-13-01"}, "last_share_at"),
        ({"miner_id": "r", "pool": "p" * 201}, "pool"),
    ],
)
def test_invalid_samples_are_422_naming_the_field_and_store_nothing(
    client: TestClient, db_session: Session, body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/miners/sample", json=body)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]
    assert _counts(db_session) == (0, 0)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_422_not_a_server_error(
    client: TestClient, db_session: Session, literal: str
) -> None:
    # Python's JSON parser accepts these literals; the field must refuse them.
    response = client.post(
        "/api/miners/sample",
        content=f'{{"miner_id": "rig-1", "temperature_c": {literal}}}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "temperature_c"]
    assert _counts(db_session) == (0, 0)


def test_a_batch_is_stored_whole_and_counted(
    client: TestClient, db_session: Session, app: FastAPI
) -> None:
    before = _ingested(app)
    samples = [
        {"miner_id": "rig-1", "timestamp": f"2026-01-05T10:00:0{i}Z", "shares_accepted": i}
        for i in range(5)
    ] + [{"miner_id": "rig-2", "timestamp": T0}]
    response = client.post("/api/miners/samples", json={"samples": samples})
    assert (response.status_code, response.json()) == (202, {"status": "accepted", "count": 6})
    assert _counts(db_session) == (6, 2)
    assert _ingested(app) - before == 6
    newest = db_session.get(Miner, "rig-1")
    assert newest is not None
    assert newest.last_recorded_at == datetime(2026, 1, 5, 10, 0, 4, tzinfo=UTC)
    assert newest.first_seen_at == datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)


def test_one_invalid_sample_rejects_the_whole_batch_naming_its_index(
    client: TestClient, db_session: Session
) -> None:
    client.post("/api/miners/sample", json={"miner_id": "rig-0", "timestamp": T0})
    samples = [
        {"miner_id": "rig-1"},
        {"miner_id": "rig-2", "shares_accepted": 2.5},
        {"miner_id": "rig-3"},
    ]
    response = client.post("/api/miners/samples", json={"samples": samples})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "samples", 1, "shares_accepted"]
    assert _counts(db_session) == (1, 1)


def test_an_empty_batch_is_422(client: TestClient) -> None:
    response = client.post("/api/miners/samples", json={"samples": []})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "samples"]
    assert client.post("/api/miners/samples", json={}).status_code == 422


def test_a_batch_over_the_limit_is_422_naming_the_field_and_the_limit(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    limited = make_client(max_batch_samples=5)
    at_limit = [{"miner_id": "rig-1", "timestamp": f"2026-01-05T10:00:0{i}Z"} for i in range(5)]
    assert limited.post("/api/miners/samples", json={"samples": at_limit}).status_code == 202
    response = limited.post("/api/miners/samples", json={"samples": [*at_limit, at_limit[0]]})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("samples: at most 5 samples")
    assert _counts(db_session) == (5, 1)


def test_the_miner_bridge_envelope_is_stored_as_a_sample(
    client: TestClient, db_session: Session
) -> None:
    response = client.post(
        "/events",
        json={
            "topic": "miner.sample",
            "payload": {
                "type": "miner.sample",
                "sample": {
                    "miner": "bridge-1",
                    "ts": T0,
                    "pool": "pool.example:443",
                    "hashrate_1m": 2000,
                    "hashrate_15m": 1900,
                    "shares_accepted": 90,
                    "shares_rejected": 1,
                    "shares_stale": 10,
                    "shares_total": 1,
                    "stale_rate": 0.99,
                    "latency_ms": 30,
                    "temperature_c": 70,
                    "last_share_difficulty": 5000,
                    "last_share_at": T0,
                },
                "orgId": "org-1",
                "agentId": "agent-1",
            },
        },
    )
    assert (response.status_code, response.json()) == (202, {"status": "accepted"})
    (sample,) = _stored(db_session, "bridge-1")
    assert sample.recorded_at == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert (sample.shares_accepted, sample.shares_rejected, sample.shares_stale) == (90, 1, 10)
    assert sample.pool == "pool.example:443"
    # The bridge's own stale_rate is ignored: the console derives it from the counts.
    latest = client.get("/api/miners/latest", params={"miner_id": "bridge-1"}).json()
    assert latest["samples"][0]["stale_rate"] == pytest.approx(0.1)


def test_an_unknown_bridge_topic_is_422_naming_the_topic(
    client: TestClient, db_session: Session
) -> None:
    response = client.post(
        "/events", json={"topic": "agent.heartbeat", "payload": {"agentId": "agent-1"}}
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert "agent.heartbeat" in error["msg"] and "miner.sample" in error["msg"]
    assert _counts(db_session) == (0, 0)


def test_a_bridge_sample_without_miner_is_422(client: TestClient) -> None:
    response = client.post(
        "/events", json={"topic": "miner.sample", "payload": {"sample": {"ts": T0}}}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "payload", "sample", "miner"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/miners/sample", {"miner_id": "rig-1"}),
        ("/api/miners/samples", {"samples": [{"miner_id": "rig-1"}]}),
        ("/events", {"topic": "miner.sample", "payload": {"sample": {"miner": "rig-1"}}}),
    ],
)
def test_ingest_needs_an_ingest_token(
    anon_client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    db_session: Session,
    path: str,
    body: dict[str, Any],
) -> None:
    missing = anon_client.post(path, json=body)
    assert (missing.status_code, missing.json()) == (401, {"detail": "Missing token"})
    assert anon_client.post(path, json=body, headers=token_for("read")).status_code == 403
    assert _counts(db_session) == (0, 0)
    assert anon_client.post(path, json=body, headers=token_for("ingest")).status_code == 202
    assert _counts(db_session) == (1, 1)


def test_an_older_sample_never_moves_the_latest_pointer_back(
    client: TestClient, db_session: Session
) -> None:
    client.post("/api/miners/sample", json={"miner_id": "rig-1", "timestamp": T0})
    (newest,) = _stored(db_session, "rig-1")
    client.post(
        "/api/miners/sample", json={"miner_id": "rig-1", "timestamp": "2026-01-05T09:00:00Z"}
    )
    db_session.expire_all()
    miner = db_session.get(Miner, "rig-1")
    assert miner is not None
    assert (miner.last_sample_id, miner.last_recorded_at) == (newest.id, newest.recorded_at)
    assert miner.first_seen_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_each_miner_newest_sample_is_published_with_its_tiles(
    client: TestClient, published: list[dict[str, Any]]
) -> None:
    samples = [
        {"miner_id": "rig-2", "timestamp": T0, "temperature_c": 70},
        {"miner_id": "rig-1", "timestamp": "2026-01-05T10:00:05Z", "temperature_c": 86},
        {"miner_id": "rig-1", "timestamp": "2026-01-05T10:00:01Z", "temperature_c": 60},
    ]
    assert client.post("/api/miners/samples", json={"samples": samples}).status_code == 202
    assert [message["miner_id"] for message in published] == ["rig-1", "rig-2"]
    first = published[0]
    assert first["type"] == "miner.sample"
    assert first["sample"]["recorded_at"] == "2026-01-05T10:00:05Z"
    assert first["sample"]["temperature_c"] == 86
    temperature = next(tile for tile in first["tiles"] if tile["id"] == "temperature")
    assert (temperature["value"], temperature["intent"]) == ("86.0°C", "critical")


def test_nothing_is_published_for_a_refused_batch(
    client: TestClient, published: list[dict[str, Any]]
) -> None:
    response = client.post("/api/miners/samples", json={"samples": [{"miner_id": ""}]})
    assert response.status_code == 422
    assert published == []
