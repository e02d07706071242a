"""An independent oracle for miner series: buckets computed in Python from the samples.

Used by the rollup tests to check that series read from the rollup (and from the samples at
the window's edges) equal what the raw samples say, bucket by bucket.
"""

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from app.core.timeutil import as_utc
from app.miners.derived import effective_hashrate, stale_rate

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)
Stats = tuple[Any, Any, float | None]  # min, max, avg


def series_values(row: dict[str, Any]) -> dict[str, Any]:
    """What each chart series says of one sample (the API's series names)."""
    accepted = row.get("shares_accepted", 0)
    rejected = row.get("shares_rejected", 0)
    stale = rejected if row.get("shares_stale") is None else row["shares_stale"]
    h1, h15 = row.get("hashrate_1m"), row.get("hashrate_15m")
    effective = effective_hashrate(h1, h15, stale_rate(accepted, stale))
    power = row.get("power_w")
    # Written out, not app.miners.derived.efficiency_j_per_th: watts over TH/s, none at 0 H/s.
    efficiency = power * 1e12 / effective if power is not None and effective else None
    return {
        "hashrate1m": h1,
        "hashrate15m": h15,
        "effectiveHashrate": effective,
        "temperatureC": row.get("temperature_c"),
        "sharesAccepted": accepted,
        "sharesRejected": rejected,
        "sharesStale": stale,
        "latencyMs": row.get("latency_ms"),
        "powerW": power,
        "fanRpm": row.get("fan_rpm"),
        "efficiencyJPerTH": efficiency,
    }


def expected_series(
    rows: Sequence[dict[str, Any]],
    *,
    miner_id: str,
    since: datetime,
    until: datetime,
    origin: int,
    seconds: int,
) -> dict[float, dict[str, Stats]]:
    """Bucket start → series name → (min, max, avg) of the miner's samples in the window."""
    values: dict[float, dict[str, list[Any]]] = {}
    for row in rows:
        at = as_utc(row["recorded_at"])
        if row["miner_id"] != miner_id or not since <= at < until:
            continue
        bucket = ((at - EPOCH) // SECOND - origin) // seconds
        start = float(origin + bucket * seconds)
        per_series = values.setdefault(start, {})
        for name, value in series_values(row).items():
            per_series.setdefault(name, [])
            if value is not None:
                per_series[name].append(value)
    return {
        start: {
            name: ((min(seen), max(seen), sum(seen) / len(seen)) if seen else (None, None, None))
            for name, seen in per_series.items()
        }
        for start, per_series in values.items()
    }


def expected_rollup(
    rows: Sequence[dict[str, Any]], widths: Sequence[int]
) -> dict[tuple[str, int, int], tuple[Any, ...]]:
    """(miner, width, bucket start) → count, min, max, sum of each series in turn."""
    values: dict[tuple[str, int, int], dict[str, list[Any]]] = {}
    for row in rows:
        seconds = (as_utc(row["recorded_at"]) - EPOCH) // SECOND
        for width in widths:
            key = (row["miner_id"], width, seconds - seconds % width)
            per_series = values.setdefault(key, {})
            for name, value in series_values(row).items():
                per_series.setdefault(name, [])
                if value is not None:
                    per_series[name].append(value)
    expected = {}
    for key, per_series in values.items():
        aggregates: list[Any] = []
        for seen in per_series.values():
            if seen:
                aggregates += [len(seen), min(seen), max(seen), float(sum(seen))]
            else:
                aggregates += [0, None, None, 0.0]
        expected[key] = tuple(aggregates)
    return expected


def assert_aggregates_match(stored: tuple[Any, ...], expected: tuple[Any, ...]) -> None:
    """Counts, mins and maxes equal; sums (every 4th, from the 4th) equal up to rounding."""
    assert len(stored) == len(expected)
    for index, (got, want) in enumerate(zip(stored, expected, strict=True)):
        if index % 4 == 3:
            assert abs(got - want) <= 1e-9 * max(1.0, abs(want)), (index, got, want)
        else:
            assert got == want, (index, got, want)


def assert_series_match(body: dict[str, Any], expected: dict[float, dict[str, Stats]]) -> None:
    """An API series body equals the oracle: same buckets, exact min/max, close averages."""
    assert body["t"] == sorted(expected), "the same non-empty buckets, in time order"
    for index, start in enumerate(body["t"]):
        for name, (low, high, average) in expected[start].items():
            stats = body["series"][name]
            assert (stats["min"][index], stats["max"][index]) == (low, high), (name, start)
            if average is None:
                assert stats["avg"][index] is None
            else:
                assert abs(stats["avg"][index] - average) <= 1e-9 * max(1.0, abs(average))


def random_samples(
    rng: random.Random, *, miner_ids: Sequence[str], start: datetime, count: int
) -> list[dict[str, Any]]:
    """Samples over ~2 hours: nulls, zeros, spikes, duplicate times, whole minutes and
    sub-second times (59.9999 s must stay in its minute), in no particular order."""
    rows = []
    for _ in range(count):
        offset = rng.choice(
            (
                rng.randrange(0, 7200) * 1.0,  # whole seconds, often on a minute or bucket edge
                rng.randrange(0, 120) * 60.0,  # exactly on a minute
                rng.randrange(0, 120) * 60.0 + 59.9999,  # the last instant of a minute
                rng.uniform(0, 7200),
            )
        )
        rows.append(
            {
                "miner_id": rng.choice(miner_ids),
                "recorded_at": start + timedelta(seconds=round(offset, 6)),
                "hashrate_1m": rng.choice((None, 0.0, rng.uniform(900, 1100), 1e7)),
                "hashrate_15m": rng.choice((None, rng.uniform(900, 1100))),
                "temperature_c": rng.choice((None, rng.uniform(40, 95), -5.5)),
                "power_w": rng.choice((None, 0.0, rng.uniform(2000, 3500))),
                "fan_rpm": rng.choice((None, 0, rng.randrange(3000, 7000))),
                "shares_accepted": rng.choice((0, rng.randrange(0, 10_000), 2_147_483_647)),
                "shares_rejected": rng.randrange(0, 50),
                "shares_stale": rng.choice((None, 0, rng.randrange(0, 50), 2_147_483_647)),
                "latency_ms": rng.choice((None, rng.uniform(1, 500))),
            }
        )
    return rows
