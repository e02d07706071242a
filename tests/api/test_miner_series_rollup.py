"""Long miner series come from the per-minute rollup and say exactly what the samples say."""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.timeutil import isoformat
from app.miners.ingest import record_samples
from app.miners.series import series_plan
from tests.services.rollup_oracle import assert_series_match, expected_series

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


def _series(client: TestClient, since: datetime, until: datetime, points: int) -> dict[str, Any]:
    response = client.get(
        "/api/miners/rig-1/series",
        params={"since": isoformat(since), "until": isoformat(until), "points": points},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_two_days_in_300_points_match_the_samples_bucket_by_bucket(
    client: TestClient, db_session: Session
) -> None:
    rng = random.Random(21)
    rows = [
        {
            "miner_id": "rig-1",
            "recorded_at": T0 + timedelta(seconds=30 * n + rng.choice((0, 0.25, 29.999999))),
            "hashrate_1m": rng.choice((None, 0.0, rng.uniform(900, 1100))),
            "hashrate_15m": rng.uniform(900, 1100),
            "temperature_c": rng.choice((None, rng.uniform(50, 90))),
            "shares_accepted": n,
            "shares_stale": n // 50,
            "latency_ms": rng.uniform(5, 80),
        }
        for n in range(2 * 2880)
    ]
    rows[1234]["temperature_c"] = 104.5  # a spike in one sample of two days
    for start in range(0, len(rows), 1000):
        record_samples(session=db_session, rows=rows[start : start + 1000])
    since, until = T0 + timedelta(seconds=1234.5), T0 + timedelta(days=2, seconds=-77)
    body = _series(client, since, until, 300)
    plan, width = series_plan(since, until, 300)
    assert width is not None and body["bucketSeconds"] == plan.seconds
    assert 0 < body["points"] <= 300
    assert max(body["series"]["temperatureC"]["max"]) == 104.5
    assert_series_match(
        body,
        expected_series(
            rows,
            miner_id="rig-1",
            since=since,
            until=until,
            origin=plan.origin,
            seconds=plan.seconds,
        ),
    )


def test_a_sample_on_a_bucket_edge_belongs_to_the_bucket_it_starts(
    client: TestClient, db_session: Session
) -> None:
    # Two hours in 13 points: 10-minute buckets. Bucket k holds the value k at its first
    # instant and -k a microsecond before its end.
    rows = []
    for k in range(12):
        start = T0 + timedelta(minutes=10 * k)
        rows.append({"miner_id": "rig-1", "recorded_at": start, "temperature_c": float(k)})
        rows.append(
            {
                "miner_id": "rig-1",
                "recorded_at": start + timedelta(minutes=10, microseconds=-1),
                "temperature_c": float(-k),
            }
        )
    record_samples(session=db_session, rows=rows)
    body = _series(client, T0, T0 + timedelta(hours=2), 13)
    assert body["bucketSeconds"] == 600
    temperature = body["series"]["temperatureC"]
    assert temperature["max"] == [float(k) for k in range(12)]
    assert temperature["min"] == [float(-k) for k in range(12)]
