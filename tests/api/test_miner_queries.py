"""Miner reads: newest samples, tiles (token and public), the miner list with its state."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.pagination import encode_cursor
from app.core.timeutil import isoformat, utcnow
from app.miners.ingest import record_samples
from tests.support.factories import add_rule, add_silence, add_state

SAMPLE_KEYS = [
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


def _post(client: TestClient, **sample: Any) -> None:
    response = client.post("/api/miners/sample", json=sample)
    assert response.status_code == 202, response.text


def test_latest_returns_each_miner_newest_sample_sorted_by_miner_id(client: TestClient) -> None:
    now = utcnow()
    _post(client, miner_id="zeta", timestamp=isoformat(now), hashrate_1m=10)
    _post(client, miner_id="alpha", timestamp=isoformat(now - timedelta(minutes=1)))
    _post(client, miner_id="alpha", timestamp=isoformat(now), hashrate_1m=20)
    _post(client, miner_id="alpha", timestamp=isoformat(now - timedelta(minutes=2)))
    _post(client, miner_id="mid", timestamp=isoformat(now), hashrate_1m=30)
    response = client.get("/api/miners/latest")
    assert response.status_code == 200
    body = response.json()
    assert [s["miner_id"] for s in body["samples"]] == ["alpha", "mid", "zeta"]
    assert [s["hashrate_1m"] for s in body["samples"]] == [20, 30, 10]
    assert body["generated_at"].endswith("Z")


def test_latest_samples_carry_exact_keys_nulls_and_derived_rates(client: TestClient) -> None:
    _post(
        client,
        miner_id="rig-1",
        timestamp="2026-01-05T10:00:00Z",
        hashrate_1m=1500,
        shares_accepted=12,
        shares_rejected=3,
        shares_stale=1,
    )
    (sample,) = client.get("/api/miners/latest").json()["samples"]
    assert list(sample) == SAMPLE_KEYS
    assert sample["recorded_at"] == "2026-01-05T10:00:00Z"
    assert sample["pool"] is None and sample["last_share_at"] is None
    assert sample["stale_rate"] == pytest.approx(1 / 13)
    assert sample["effective_hashrate"] == pytest.approx(1500 * 12 / 13)


def test_effective_hashrate_falls_back_to_15m_and_is_null_without_rates(
    client: TestClient,
) -> None:
    _post(client, miner_id="a", hashrate_1m=0, hashrate_15m=900)
    _post(client, miner_id="b")
    a, b = client.get("/api/miners/latest").json()["samples"]
    assert (a["effective_hashrate"], a["stale_rate"]) == (900, 0)
    assert b["effective_hashrate"] is None


def test_latest_for_one_miner_and_for_an_unknown_one(client: TestClient) -> None:
    _post(client, miner_id="a")
    _post(client, miner_id="b")
    only_b = client.get("/api/miners/latest", params={"miner_id": "b"}).json()["samples"]
    assert [s["miner_id"] for s in only_b] == ["b"]
    unknown = client.get("/api/miners/latest", params={"miner_id": "nobody"})
    assert (unknown.status_code, unknown.json()["samples"]) == (200, [])


def test_tiles_default_to_xmrig_and_are_public_on_the_old_path(
    client: TestClient, anon_client: TestClient
) -> None:
    last_share = isoformat(utcnow() - timedelta(minutes=5, seconds=3))
    _post(
        client,
        miner_id="xmrig",
        hashrate_1m=2_500_000,
        shares_accepted=97,
        shares_stale=3,
        temperature_c=80,
        last_share_difficulty=15000,
        last_share_at=last_share,
    )
    _post(client, miner_id="other", temperature_c=20)
    public = anon_client.get("/miners/tiles")
    assert public.status_code == 200
    body = public.json()
    assert body["miner_id"] == "xmrig"
    assert body["updated_at"].endswith("Z")
    assert [(t["id"], t["value"], t["helper"], t["intent"]) for t in body["tiles"]] == [
        ("effective-hashrate", "2.42 MH/s", "reported 2.50 MH/s", None),
        ("stale-rate", "3.00%", "97 accepted · 3 stale", "warning"),
        ("temperature", "80.0°C", None, "warning"),
        ("last-share", "5m ago", "diff 15,000", None),
    ]
    assert client.get("/api/miners/tiles").json() == body
    other = client.get("/api/miners/tiles", params={"miner_id": "other"}).json()
    assert other["miner_id"] == "other"


def test_tiles_of_a_miner_without_samples_are_404(
    client: TestClient, anon_client: TestClient
) -> None:
    for response in (
        anon_client.get("/miners/tiles"),
        client.get("/api/miners/tiles", params={"miner_id": "nobody"}),
    ):
        assert (response.status_code, response.json()) == (404, {"detail": "No samples recorded"})


@pytest.mark.parametrize(
    "path", ["/api/miners/latest", "/api/miners/tiles", "/api/miners", "/api/miners/a/series"]
)
def test_reads_need_a_read_token(
    anon_client: TestClient, token_for: Callable[[str], dict[str, str]], path: str
) -> None:
    missing = anon_client.get(path)
    assert (missing.status_code, missing.json()) == (401, {"detail": "Missing token"})
    assert anon_client.get(path, headers=token_for("ingest")).status_code == 403
    allowed = anon_client.get(path, headers=token_for("read")).status_code
    assert allowed in {200, 404}  # 404: no sample recorded yet


def test_the_miner_list_shows_latest_sample_and_state(
    client: TestClient, db_session: Session
) -> None:
    now = utcnow()
    rows = [
        {"miner_id": "cool", "recorded_at": now - timedelta(hours=1), "temperature_c": 60.0},
        {"miner_id": "cool", "recorded_at": now, "temperature_c": 61.0},
        {"miner_id": "hot", "recorded_at": now, "temperature_c": 86.0},
        {"miner_id": "lossy", "recorded_at": now, "shares_accepted": 97, "shares_stale": 3},
        # Silent for longer than PRISM_AGENT_OFFLINE_AFTER (300 s by default).
        {"miner_id": "silent", "recorded_at": now - timedelta(seconds=301)},
    ]
    record_samples(session=db_session, rows=rows)
    response = client.get("/api/miners")
    assert response.status_code == 200
    body = response.json()
    assert body["nextCursor"] is None
    assert [(m["minerId"], m["state"]) for m in body["items"]] == [
        ("cool", "ok"),
        ("hot", "critical"),
        ("lossy", "warning"),
        ("silent", "stale"),
    ]
    cool = body["items"][0]
    assert set(cool) == {
        "minerId",
        "name",
        "location",
        "expectedHashrate",
        "firstSeenAt",
        "lastSeenAt",
        "latest",
        "state",
        "powerW",
        "fanRpm",
        "efficiencyJPerTH",
        "percentOfExpected",
        "health",
    }
    assert cool["firstSeenAt"] == isoformat(now - timedelta(hours=1))
    assert cool["lastSeenAt"] == isoformat(now)
    assert list(cool["latest"]) == SAMPLE_KEYS
    assert cool["latest"]["temperature_c"] == 61.0


def test_the_miner_list_shows_each_miners_health_beside_its_tile_state(
    client: TestClient, db_session: Session
) -> None:
    now = utcnow()
    rows = [{"miner_id": miner_id, "recorded_at": now} for miner_id in ("a", "b", "c", "d")]
    rows.append({"miner_id": "e", "recorded_at": now, "temperature_c": 90.0})
    record_samples(session=db_session, rows=rows)
    add_rule(db_session, "hot", severity="critical")
    add_rule(db_session, "warm", severity="warning")
    add_state(db_session, "hot", "a")
    add_state(db_session, "warm", "b")
    add_state(db_session, "hot", "c", state="pending")
    add_state(db_session, "hot", "d")
    add_silence(db_session, "d-fans", {"subject": "d"})
    body = client.get("/api/miners").json()
    # Health is the rules' judgement; state stays the tiles' (e is hot but nothing judged it).
    assert [(m["minerId"], m["health"], m["state"]) for m in body["items"]] == [
        ("a", "critical", "ok"),
        ("b", "warning", "ok"),
        ("c", "pending", "ok"),
        ("d", "maintenance", "ok"),
        ("e", "ok", "critical"),
    ]
    first = client.get("/api/miners", params={"limit": 2}).json()
    second = client.get("/api/miners", params={"limit": 2, "cursor": first["nextCursor"]}).json()
    assert [(m["minerId"], m["health"]) for m in second["items"]] == [
        ("c", "pending"),
        ("d", "maintenance"),
    ]


def test_the_miner_list_pages_by_miner_id(client: TestClient, db_session: Session) -> None:
    now = utcnow()
    ids = [f"rig-{n:02d}" for n in range(5)]
    record_samples(session=db_session, rows=[{"miner_id": i, "recorded_at": now} for i in ids])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/miners", params=params).json()
        seen += [item["minerId"] for item in body["items"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
        # A miner appearing meanwhile before the cursor never shifts the next page.
        record_samples(session=db_session, rows=[{"miner_id": "rig-00a", "recorded_at": now}])
    assert seen == ids
    assert pages == 3


@pytest.mark.parametrize("cursor", ["bm90LWEtY3Vyc29y", encode_cursor([1, 2])])
def test_a_foreign_cursor_is_422(client: TestClient, cursor: str) -> None:
    response = client.get("/api/miners", params={"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("cursor:")


def test_a_zero_1m_rate_without_a_15m_rate_has_no_baseline(client: TestClient) -> None:
    _post(client, miner_id="xmrig", hashrate_1m=0)
    (sample,) = client.get("/api/miners/latest").json()["samples"]
    assert sample["effective_hashrate"] is None
    tile = client.get("/api/miners/tiles").json()["tiles"][0]
    assert (tile["id"], tile["value"], tile["helper"]) == ("effective-hashrate", "—", None)


def test_a_sample_without_any_rate_has_no_baseline_helper(client: TestClient) -> None:
    _post(client, miner_id="xmrig", temperature_c=70)
    tile = client.get("/api/miners/tiles").json()["tiles"][0]
    assert (tile["value"], tile["helper"]) == ("—", None)


def test_an_empty_miner_filter_returns_every_miner(client: TestClient) -> None:
    _post(client, miner_id="b")
    _post(client, miner_id="a")
    response = client.get("/api/miners/latest?miner_id=")
    assert response.status_code == 200
    assert [s["miner_id"] for s in response.json()["samples"]] == ["a", "b"]
