"""Tile formatting and thresholds (Appendix A "Tiles"): every boundary, both sides."""

from datetime import UTC, datetime, timedelta

import pytest

from app.miners.derived import baseline_hashrate, effective_hashrate, stale_rate
from app.miners.tiles import (
    build_tiles,
    format_age,
    format_difficulty,
    format_hashrate,
    format_percent,
    format_temperature,
    stale_intent,
    state_from_tiles,
    temperature_intent,
)
from app.models.miner import MinerSampleOut

NOW = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "—"),
        (0, "0.00 H/s"),
        (9.994, "9.99 H/s"),
        (10, "10.0 H/s"),
        (99.94, "99.9 H/s"),
        (100, "100 H/s"),
        # The earlier rule picks the unit before rounding, so 999.99 H/s reads "1000 H/s".
        (999.99, "1000 H/s"),
        (1000, "1.00 kH/s"),
        (1500, "1.50 kH/s"),
        (99_990, "100.0 kH/s"),
        (100_000, "100 kH/s"),
        (2_500_000, "2.50 MH/s"),
        (3.2e9, "3.20 GH/s"),
        (1e12, "1.00 TH/s"),
        # TH/s is the largest unit: bigger rates stay in it.
        (1.5e15, "1500 TH/s"),
    ],
)
def test_hashrates_are_scaled_with_the_earlier_decimals_rule(
    value: float | None, shown: str
) -> None:
    assert format_hashrate(value) == shown


@pytest.mark.parametrize(
    ("rate", "shown", "intent"),
    [
        (0.0, "0.00%", "good"),
        (0.02, "2.00%", "good"),
        (0.0201, "2.01%", "warning"),
        (0.05, "5.00%", "warning"),
        (0.0501, "5.01%", "critical"),
        (1 / 13, "7.69%", "critical"),
    ],
)
def test_stale_rate_is_a_percentage_warning_above_2_and_critical_above_5(
    rate: float, shown: str, intent: str
) -> None:
    assert format_percent(rate) == shown
    assert stale_intent(rate) == intent


@pytest.mark.parametrize(
    ("celsius", "shown", "intent"),
    [
        (None, "—", None),
        (72.5, "72.5°C", "good"),
        (79.99, "80.0°C", "good"),
        (80, "80.0°C", "warning"),
        (84.9, "84.9°C", "warning"),
        (85, "85.0°C", "critical"),
        (-5, "-5.0°C", "good"),
    ],
)
def test_temperature_is_warning_from_80_and_critical_from_85(
    celsius: float | None, shown: str, intent: str | None
) -> None:
    assert format_temperature(celsius) == shown
    assert temperature_intent(celsius) == intent


@pytest.mark.parametrize(
    ("seconds_ago", "shown"),
    [
        (0, "0s ago"),
        (59, "59s ago"),
        (59.9, "59s ago"),
        (60, "1m ago"),
        (3599, "59m ago"),
        (3600, "1h ago"),
        (86399, "23h ago"),
        (86400, "1d ago"),
        (10 * 86400 + 5, "10d ago"),
        (-30, "0s ago"),  # a clock ahead of ours never reads as a negative age
    ],
)
def test_last_share_age_counts_whole_units_and_is_never_negative(
    seconds_ago: float, shown: str
) -> None:
    assert format_age(NOW - timedelta(seconds=seconds_ago), NOW) == shown


def test_no_last_share_reads_as_a_dash() -> None:
    assert format_age(None, NOW) == "—"


@pytest.mark.parametrize(
    ("difficulty", "helper"),
    [(None, None), (0, None), (15000, "diff 15,000"), (1234567.6, "diff 1,234,568")],
)
def test_difficulty_helper_has_thousands_commas_and_no_decimals(
    difficulty: float | None, helper: str | None
) -> None:
    assert format_difficulty(difficulty) == helper


def test_derived_rates_follow_the_contract() -> None:
    assert stale_rate(0, 0) == 0
    assert stale_rate(12, 1) == pytest.approx(1 / 13)
    assert baseline_hashrate(0, 900) == 900  # a zero 1-minute rate falls back to 15 minutes
    assert baseline_hashrate(1200, 900) == 1200
    assert baseline_hashrate(0, None) is None  # a 1-minute 0 alone is no baseline
    assert baseline_hashrate(0, 0) == 0
    assert baseline_hashrate(None, 900) == 900
    assert baseline_hashrate(None, None) is None
    assert effective_hashrate(1000, None, 0.1) == pytest.approx(900)
    assert effective_hashrate(None, None, 0.1) is None
    assert effective_hashrate(0, None, 0.0) is None


def _sample(**values: object) -> MinerSampleOut:
    fields: dict[str, object] = {
        "miner_id": "xmrig",
        "recorded_at": NOW,
        "pool": None,
        "profile": None,
        "hashrate_1m": None,
        "hashrate_15m": None,
        "effective_hashrate": None,
        "stale_rate": 0.0,
        "shares_accepted": 0,
        "shares_rejected": 0,
        "shares_stale": 0,
        "latency_ms": None,
        "temperature_c": None,
        "last_share_difficulty": None,
        "last_share_at": None,
    }
    fields.update(values)
    return MinerSampleOut.model_validate(fields)


def test_tiles_come_in_order_with_every_value_helper_and_intent() -> None:
    sample = _sample(
        hashrate_1m=1500.0,
        effective_hashrate=1500.0 * 12 / 13,
        stale_rate=1 / 13,
        shares_accepted=12,
        shares_stale=1,
        temperature_c=72.5,
        last_share_difficulty=15000.0,
        last_share_at=NOW - timedelta(seconds=42),
    )
    tiles = [tile.model_dump() for tile in build_tiles(sample, NOW)]
    assert tiles == [
        {
            "id": "effective-hashrate",
            "label": "Effective hashrate",
            "value": "1.38 kH/s",
            "helper": "reported 1.50 kH/s",
            "intent": None,
        },
        {
            "id": "stale-rate",
            "label": "Stale rate",
            "value": "7.69%",
            "helper": "12 accepted · 1 stale",
            "intent": "critical",
        },
        {
            "id": "temperature",
            "label": "Temperature",
            "value": "72.5°C",
            "helper": None,
            "intent": "good",
        },
        {
            "id": "last-share",
            "label": "Last accepted share",
            "value": "42s ago",
            "helper": "diff 15,000",
            "intent": None,
        },
    ]


def test_a_sample_without_figures_shows_dashes() -> None:
    tiles = {tile.id: tile for tile in build_tiles(_sample(), NOW)}
    assert tiles["effective-hashrate"].value == "—"
    assert tiles["effective-hashrate"].helper is None
    assert (tiles["temperature"].value, tiles["temperature"].intent) == ("—", None)
    assert (tiles["last-share"].value, tiles["last-share"].helper) == ("—", None)
    assert tiles["stale-rate"].value == "0.00%"


def test_a_zero_1_minute_rate_alone_has_no_baseline_helper() -> None:
    tiles = build_tiles(_sample(hashrate_1m=0.0), NOW)
    assert (tiles[0].value, tiles[0].helper) == ("—", None)


def test_the_baseline_helper_falls_back_to_the_15_minute_rate() -> None:
    sample = _sample(hashrate_1m=0.0, hashrate_15m=2_500_000.0, effective_hashrate=2_500_000.0)
    assert build_tiles(sample, NOW)[0].helper == "reported 2.50 MH/s"


@pytest.mark.parametrize(
    ("values", "state"),
    [
        ({}, "ok"),
        ({"temperature_c": 81.0}, "warning"),
        ({"stale_rate": 0.03}, "warning"),
        ({"stale_rate": 0.03, "temperature_c": 90.0}, "critical"),
    ],
)
def test_the_miner_state_is_the_worst_tile_intent(values: dict[str, object], state: str) -> None:
    assert state_from_tiles(build_tiles(_sample(**values), NOW)) == state
