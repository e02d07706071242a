"""GET /api/export/{agents,events,samples}.{csv,json}: content, filters, streaming, auth."""

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.timeutil import isoformat, utcnow
from app.models import MinerSample
from tests.support.factories import add_agent, add_events

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
SAMPLE_COLUMNS = [
    "miner_id",
    "recorded_at",
    "pool",
    "profile",
    "hashrate_1m",
    "hashrate_15m",
    "effective_hashrate",
    "stale_rate",
    "shares_accepted",
    "shares_rejected",
    "shares_stale",
    "latency_ms",
    "temperature_c",
    "last_share_difficulty",
    "last_share_at",
]


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.text)))


def _json(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body, list)
    return body


def _add_samples(session: Session) -> None:
    session.add_all(
        [
            MinerSample(
                miner_id="rig-1",
                recorded_at=T0 + timedelta(minutes=1),
                pool="pool.example:3333",
                hashrate_1m=1000.0,
                hashrate_15m=900.0,
                shares_accepted=90,
                shares_rejected=10,
                shares_stale=10,
                temperature_c=71.5,
                last_share_at=T0,
            ),
            MinerSample(miner_id="rig-1", recorded_at=T0, hashrate_1m=0.0, hashrate_15m=500.0),
            MinerSample(miner_id="rig-2", recorded_at=T0 + timedelta(minutes=2)),
        ]
    )
    session.commit()


def test_agents_csv_has_a_header_and_the_shown_status(
    client: TestClient, db_session: Session
) -> None:
    seen = utcnow()
    add_agent(db_session, "a", name="Alpha", memory_used_mb=12.5, last_seen_at=seen)
    add_agent(db_session, "b", name="Bravo", status="online", last_seen_at=None)
    response = client.get("/api/export/agents.csv")
    assert response.headers["content-disposition"] == 'attachment; filename="agents.csv"'
    assert response.text.splitlines()[0] == (
        "id,name,domain,status,memoryUsedMB,lastSeenAt,version"
    )
    rows = _csv(response)
    assert rows == [
        {
            "id": "a",
            "name": "Alpha",
            "domain": "ops",
            "status": "online",
            "memoryUsedMB": "12.5",
            "lastSeenAt": isoformat(seen),
            "version": "1.0.0",
        },
        {
            "id": "b",
            "name": "Bravo",
            "domain": "ops",
            "status": "offline",
            "memoryUsedMB": "100.0",
            "lastSeenAt": "",
            "version": "1.0.0",
        },
    ]


def test_agents_json_equals_the_list_with_the_same_filters(
    client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "a", domain="data", name="Zulu")
    add_agent(db_session, "b", domain="data", name="Yankee")
    add_agent(db_session, "c", domain="ops")
    params = {"domain": "data", "sort": "name"}
    exported = _json(client.get("/api/export/agents.json", params=params))
    assert [row["id"] for row in exported] == ["b", "a"]
    assert exported == client.get("/api/agents", params=params).json()["items"]
    offline = _json(client.get("/api/export/agents.json", params={"status": "offline"}))
    assert offline == []


def test_csv_cells_that_spreadsheets_would_run_are_defused(
    client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "a")
    add_events(db_session, "a", 1, start=T0)
    client.post("/api/agents/a/events", json={"kind": "warn", "message": '=HYPERLINK("x")'})
    rows = _csv(client.get("/api/export/events.csv", params={"kind": "warn"}))
    assert [row["message"] for row in rows] == ['\'=HYPERLINK("x")']
    # The JSON export keeps the exact text.
    exported = _json(client.get("/api/export/events.json", params={"kind": "warn"}))
    assert exported[0]["message"] == '=HYPERLINK("x")'


def test_events_export_follows_the_list_filters_and_order(
    client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "a")
    add_agent(db_session, "b")
    add_events(db_session, "a", 3, start=T0, step=timedelta(minutes=1))
    add_events(db_session, "b", 2, start=T0, kind="error", prefix="err")
    params = {"agent": "a", "since": "2026-01-05T10:01:00Z"}
    exported = _json(client.get("/api/export/events.json", params=params))
    assert exported == client.get("/api/events", params=params).json()["items"]
    assert [row["id"] for row in exported] == ["ev-a-00002", "ev-a-00001"]
    rows = _csv(client.get("/api/export/events.csv", params={"kind": "error"}))
    assert [row["id"] for row in rows] == ["err-b-00001", "err-b-00000"]
    assert rows[0] == {
        "id": "err-b-00001",
        "agentId": "b",
        "kind": "error",
        "at": "2026-01-05T10:00:01Z",
        "message": "message 1",
    }


def test_a_large_export_streams_every_row_across_chunks(
    client: TestClient, db_session: Session
) -> None:
    add_agent(db_session, "a")
    add_events(db_session, "a", 1203, start=T0)
    exported = _json(client.get("/api/export/events.json"))
    assert len(exported) == 1203
    assert len({row["id"] for row in exported}) == 1203
    assert len(_csv(client.get("/api/export/events.csv"))) == 1203


def test_empty_exports_are_a_header_or_an_empty_array(client: TestClient) -> None:
    assert client.get("/api/export/events.csv").text == "id,agentId,kind,at,message\r\n"
    assert _json(client.get("/api/export/events.json")) == []
    assert _json(client.get("/api/export/samples.json")) == []


def test_samples_export_in_time_order_with_derived_rates(
    client: TestClient, db_session: Session
) -> None:
    _add_samples(db_session)
    response = client.get("/api/export/samples.json", params={"miner_id": "rig-1"})
    assert response.headers["content-disposition"] == 'attachment; filename="samples.json"'
    exported = _json(response)
    assert [row["recorded_at"] for row in exported] == [
        "2026-01-05T10:00:00Z",
        "2026-01-05T10:01:00Z",
    ]
    assert list(exported[1]) == SAMPLE_COLUMNS
    assert exported[1]["stale_rate"] == pytest.approx(0.1)
    assert exported[1]["effective_hashrate"] == pytest.approx(900.0)
    assert exported[1]["last_share_at"] == "2026-01-05T10:00:00Z"
    # hashrate_1m of 0 falls back to hashrate_15m; no shares means a stale rate of 0.
    assert (exported[0]["effective_hashrate"], exported[0]["stale_rate"]) == (500.0, 0.0)


def test_samples_csv_filters_by_time(client: TestClient, db_session: Session) -> None:
    _add_samples(db_session)
    response = client.get(
        "/api/export/samples.csv",
        params={"since": "2026-01-05T10:01:00Z", "until": "2026-01-05T10:02:00Z"},
    )
    assert response.text.splitlines()[0] == ",".join(SAMPLE_COLUMNS)
    rows = _csv(response)
    assert [(row["miner_id"], row["recorded_at"]) for row in rows] == [
        ("rig-1", "2026-01-05T10:01:00Z")
    ]
    assert (rows[0]["pool"], rows[0]["profile"], rows[0]["temperature_c"]) == (
        "pool.example:3333",
        "",
        "71.5",
    )
    later = _csv(client.get("/api/export/samples.csv", params={"since": "2026-01-05T10:02Z"}))
    assert [row["miner_id"] for row in later] == ["rig-2"]


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/api/export/agents.csv", {"sort": "mood"}, "sort"),
        ("/api/export/agents.json", {"status": "busy"}, "status"),
        ("/api/export/events.csv", {"since": "later"}, "since"),
        ("/api/export/events.json", {"until": "never"}, "until"),
        ("/api/export/samples.csv", {"since": "dawn"}, "since"),
        ("/api/export/samples.json", {"until": "dusk"}, "until"),
    ],
)
def test_a_bad_filter_is_422_naming_it_before_any_row(
    client: TestClient, path: str, params: dict[str, str], name: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"][0]["loc"] == ["query", name]


def test_an_inverted_sample_range_is_422(client: TestClient) -> None:
    response = client.get(
        "/api/export/samples.csv", params={"since": "2026-01-06", "until": "2026-01-05"}
    )
    assert (response.status_code, response.json()) == (
        422,
        {"detail": "until: must be later than since"},
    )


@pytest.mark.parametrize("resource", ["agents", "events", "samples"])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_exports_need_the_read_scope(
    anon_client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    resource: str,
    fmt: str,
) -> None:
    path = f"/api/export/{resource}.{fmt}"
    assert anon_client.get(path).status_code == 401
    assert anon_client.get(path, headers=token_for("ingest")).status_code == 403
    assert anon_client.get(path, headers=token_for("read")).status_code == 200
