"""The miner page's time window and chart summaries (app/miners/summary.py)."""

from datetime import UTC, datetime, timedelta

import pytest

from app.core.errors import UnprocessableError
from app.miners.summary import (
    CHARTS,
    RANGES,
    SeriesFigures,
    Window,
    WindowFigures,
    resolve_range,
    summary_lines,
)

NOW = datetime(2026, 1, 5, 10, 0, 0, 250_000, tzinfo=UTC)
NEXT_SECOND = datetime(2026, 1, 5, 10, 0, 1, tzinfo=UTC)


def test_without_parameters_the_window_is_the_last_24_hours_to_the_next_whole_second() -> None:
    window = resolve_range(preset=None, since=None, until=None, now=NOW)
    assert window == Window(
        since=NEXT_SECOND - timedelta(hours=24), until=NEXT_SECOND, preset="24h"
    )
    assert window.label == "24 h"


def test_custom_times_without_an_offset_are_utc_and_offsets_are_converted() -> None:
    window = resolve_range(
        preset="7d", since="2026-01-04T08:30", until="2026-01-05T12:00+02:00", now=NOW
    )
    assert window.since == datetime(2026, 1, 4, 8, 30, tzinfo=UTC)
    assert window.until == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert window.preset is None
    assert window.label == "2026-01-04 08:30 to 2026-01-05 10:00 UTC"


def test_one_custom_end_takes_the_other_from_now_or_a_day_before() -> None:
    only_since = resolve_range(preset=None, since="2026-01-05T09:00", until="", now=NOW)
    assert only_since.until == NEXT_SECOND
    only_until = resolve_range(preset=None, since="", until="2026-01-03T00:00", now=NOW)
    assert only_until.since == datetime(2026, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("preset", "since", "until", "detail"),
    [
        ("1y", None, None, "range: choose one of 15m, 1h, 6h, 24h, 7d, 30d"),
        (None, "2026-01-05T10:00", "2026-01-05T10:00", "since: the start must be before the end"),
        (None, "soon", None, "since: not a date and time (use YYYY-MM-DD HH:MM, in UTC)"),
        (
            None,
            None,
            "2026-02-30T00:00",
            "until: not a date and time (use YYYY-MM-DD HH:MM, in UTC)",
        ),
        (None, None, "0001-01-01T00:00", "until: out of range"),
    ],
)
def test_a_bad_range_names_its_field(
    preset: str | None, since: str | None, until: str | None, detail: str
) -> None:
    with pytest.raises(UnprocessableError) as caught:
        resolve_range(preset=preset, since=since, until=until, now=NOW)
    assert caught.value.detail == detail


def test_summary_lines_write_values_as_the_tiles_do() -> None:
    empty = SeriesFigures(latest=None, minimum=None, maximum=None)
    figures = WindowFigures(
        samples=3,
        series={
            "hashrate1m": SeriesFigures(latest=1520.0, minimum=1200.0, maximum=9800.0),
            "hashrate15m": empty,
            "effectiveHashrate": SeriesFigures(latest=2_500_000.0, minimum=950.0, maximum=12_345.0),
        },
    )
    window = Window(since=NOW - timedelta(hours=24), until=NOW, preset="24h")
    assert summary_lines(CHARTS[0], figures, window) == [
        "Effective hashrate: latest 2.50 MH/s, min 950 H/s, max 12.3 kH/s over 24 h",
        "Reported 1m: latest 1.52 kH/s, min 1.20 kH/s, max 9.80 kH/s over 24 h",
        "Reported 15m: not reported over 24 h",
    ]
    assert summary_lines(CHARTS[0], WindowFigures(samples=0, series={}), window) == [
        "No samples over 24 h."
    ]


@pytest.mark.parametrize(
    ("preset", "span"),
    [
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("6h", timedelta(hours=6)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("30d", timedelta(days=30)),
    ],
)
def test_every_preset_ends_now_and_spans_its_length(preset: str, span: timedelta) -> None:
    window = resolve_range(preset=preset, since=None, until=None, now=NOW)
    assert (window.since, window.until) == (NEXT_SECOND - span, NEXT_SECOND)
    assert window.label == RANGES[preset][0]


def test_a_series_the_figures_do_not_carry_yet_reads_as_not_reported() -> None:
    """Power and efficiency charts stay honest before the series answer them."""
    power = next(chart for chart in CHARTS if chart.id == "chart-power")
    figures = WindowFigures(samples=3, series={})
    window = Window(since=NOW - timedelta(hours=1), until=NOW, preset="1h")
    assert summary_lines(power, figures, window) == ["Power: not reported over 1 h"]


def test_share_counters_are_summed_up_by_their_counter_values() -> None:
    shares = next(chart for chart in CHARTS if chart.id == "chart-shares")
    figures = WindowFigures(
        samples=2,
        series={
            "sharesAccepted": SeriesFigures(latest=1234.0, minimum=100.0, maximum=1234.0),
            "sharesRejected": SeriesFigures(latest=5.0, minimum=0.0, maximum=5.0),
            "sharesStale": SeriesFigures(latest=None, minimum=None, maximum=None),
        },
    )
    window = Window(since=NOW - timedelta(hours=1), until=NOW, preset="1h")
    assert summary_lines(shares, figures, window) == [
        "Accepted shares: latest 1,234, min 100, max 1,234 over 1 h",
        "Rejected shares: latest 5, min 0, max 5 over 1 h",
        "Stale shares: not reported over 1 h",
    ]
