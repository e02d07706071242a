"""Miner series: downsampled in SQL to at most N points, min and max kept so spikes survive."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.timeutil import isoformat, utcnow
from app.miners.ingest import record_samples

SERIES = {
    "hashrate1m",
    "hashrate15m",
    "effectiveHashrate",
    "temperatureC",
    "sharesAccepted",
    "sharesRejected",
    "sharesStale",
    "latencyMs",
    "powerW",
    "fanRpm",
    "efficiencyJPerTH",
    "percentOfExpected",
}
T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


def _steady(count: int, start: datetime = T0, step: float = 10, **values: Any) -> list[dict]:
    """`count` samples every `step` seconds from `start`."""
    base = {"hashrate_1m": 1000.0, "hashrate_15m": 990.0, "temperature_c": 70.0} | values
    return [
        {"miner_id": "rig-1", "recorded_at": start + timedelta(seconds=step * i), **base}
        for i in range(count)
    ]


def _series(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/miners/rig-1/series", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _window(start: datetime, end: datetime) -> dict[str, str]:
    return {"since": isoformat(start), "until": isoformat(end)}


def test_a_spike_survives_in_the_max_series(client: TestClient, db_session: Session) -> None:
    rows = _steady(2000)
    rows[1234]["hashrate_1m"] = 50_000.0
    rows[777]["temperature_c"] = 95.0
    rows[1500]["hashrate_1m"] = 3.0
    record_samples(session=db_session, rows=rows)
    body = _series(client, points=50, **_window(T0, T0 + timedelta(hours=6)))
    assert 0 < body["points"] <= 50
    assert body["bucketSeconds"] is not None
    hashrate = body["series"]["hashrate1m"]
    assert max(hashrate["max"]) == 50_000.0
    assert min(hashrate["min"]) == 3.0
    assert max(body["series"]["temperatureC"]["max"]) == 95.0
    # Averages dilute the spike: that is why min and max are kept.
    assert max(hashrate["avg"]) < 50_000.0


@pytest.mark.parametrize("points", [1, 2, 7, 100])
def test_never_more_points_than_asked(client: TestClient, db_session: Session, points: int) -> None:
    record_samples(session=db_session, rows=_steady(600, step=7))
    body = _series(
        client, points=points, **_window(T0 - timedelta(seconds=3), T0 + timedelta(hours=2))
    )
    assert body["points"] == len(body["t"]) <= points
    assert set(body["series"]) == SERIES
    for stats in body["series"].values():
        assert len(stats["min"]) == len(stats["max"]) == len(stats["avg"]) == body["points"]


def test_buckets_are_aligned_ascending_and_inside_the_window(
    client: TestClient, db_session: Session
) -> None:
    record_samples(session=db_session, rows=_steady(1000, step=13))
    since, until = T0 + timedelta(seconds=101), T0 + timedelta(hours=3)
    body = _series(client, points=40, **_window(since, until))
    width = body["bucketSeconds"]
    assert all(t % width == 0 for t in body["t"])
    assert body["t"] == sorted(body["t"])
    assert since.timestamp() - width < body["t"][0] <= since.timestamp()
    assert body["t"][-1] < until.timestamp()


def test_empty_buckets_are_left_out(client: TestClient, db_session: Session) -> None:
    early = _steady(60, start=T0)
    late = _steady(60, start=T0 + timedelta(hours=23))
    record_samples(session=db_session, rows=early + late)
    body = _series(client, points=100, **_window(T0, T0 + timedelta(hours=24)))
    # Two bursts of 10 minutes each fill a handful of the 100 possible buckets.
    assert 2 <= body["points"] <= 6
    assert body["t"][0] < (T0 + timedelta(hours=1)).timestamp()
    assert body["t"][-1] >= (T0 + timedelta(hours=22)).timestamp()


def test_fewer_samples_than_points_come_back_raw(client: TestClient, db_session: Session) -> None:
    rows = _steady(5, step=61.5, shares_accepted=9, shares_stale=1)
    rows[2]["hashrate_1m"] = None
    record_samples(session=db_session, rows=rows)
    body = _series(client, points=500, **_window(T0, T0 + timedelta(hours=1)))
    assert body["bucketSeconds"] is None
    assert body["t"] == [(T0 + timedelta(seconds=61.5 * i)).timestamp() for i in range(5)]
    hashrate = body["series"]["hashrate1m"]
    assert hashrate["min"] == hashrate["max"] == hashrate["avg"]
    assert hashrate["min"] == [1000.0, 1000.0, None, 1000.0, 1000.0]
    effective = body["series"]["effectiveHashrate"]["avg"]
    assert effective[0] == pytest.approx(900.0)
    assert effective[2] == pytest.approx(891.0)  # 15-minute rate when the 1-minute is missing


def test_bucket_aggregates_are_min_max_and_average(client: TestClient, db_session: Session) -> None:
    # 3 samples 1 s apart with two points over 10 minutes: all land in one bucket.
    rows = _steady(3, step=1, shares_stale=0)
    for row, rate, accepted in zip(rows, (100.0, 200.0, 600.0), (1, 2, 6), strict=True):
        row.update(hashrate_1m=rate, shares_accepted=accepted, shares_stale=accepted)
    record_samples(session=db_session, rows=rows)
    body = _series(client, points=2, **_window(T0, T0 + timedelta(minutes=10)))
    assert body["bucketSeconds"] is not None and body["points"] == 1
    hashrate = body["series"]["hashrate1m"]
    assert (hashrate["min"], hashrate["max"], hashrate["avg"]) == ([100.0], [600.0], [300.0])
    # Half the shares are stale in every sample: the effective rate is half the reported one.
    effective = body["series"]["effectiveHashrate"]
    assert effective["max"] == [pytest.approx(300.0)]
    assert effective["avg"] == [pytest.approx(150.0)]
    assert body["series"]["sharesAccepted"]["avg"] == [pytest.approx(3.0)]


def test_the_default_window_is_the_last_24_hours(client: TestClient, db_session: Session) -> None:
    now = utcnow()
    record_samples(
        session=db_session,
        rows=[
            {"miner_id": "rig-1", "recorded_at": now - timedelta(hours=25), "hashrate_1m": 1.0},
            {"miner_id": "rig-1", "recorded_at": now - timedelta(hours=1), "hashrate_1m": 2.0},
        ],
    )
    body = _series(client)
    assert body["series"]["hashrate1m"]["max"] == [2.0]
    since = datetime.fromisoformat(body["since"])
    until = datetime.fromisoformat(body["until"])
    assert until - since == timedelta(hours=24)
    assert body["minerId"] == "rig-1"


def test_a_window_without_samples_is_empty_not_404(client: TestClient, db_session: Session) -> None:
    record_samples(session=db_session, rows=_steady(3))
    body = _series(client, **_window(T0 + timedelta(days=3), T0 + timedelta(days=4)))
    assert (body["points"], body["t"]) == (0, [])


def test_an_unknown_miner_is_404(client: TestClient) -> None:
    response = client.get("/api/miners/nobody/series")
    assert (response.status_code, response.json()) == (404, {"detail": "No samples recorded"})


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-01-05T10:00:00Z", "until": "2026-01-05T10:00:00Z"}, "since"),
        ({"since": "2026-01-06", "until": "2026-01-05"}, "since"),
        ({"points": 0}, "points"),
        ({"points": 5001}, "points"),
        ({"since": "soon"}, "since"),
    ],
)
def test_bad_parameters_are_422_naming_them(
    client: TestClient, db_session: Session, params: dict[str, Any], field: str
) -> None:
    record_samples(session=db_session, rows=_steady(3))
    response = client.get("/api/miners/rig-1/series", params=params)
    assert response.status_code == 422
    detail = response.json()["detail"]
    if isinstance(detail, str):
        assert detail.startswith(f"{field}:")
    else:
        assert detail[0]["loc"] == ["query", field]
