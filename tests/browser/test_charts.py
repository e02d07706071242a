"""Honest miner charts (issue 13 point 3), read from what charts.js handed to uPlot.

One miner with two hours of window and data in only part of it: samples every 5 s (more
than the 800 points, so the series comes in 10 s buckets) from minute 20 to 50 and from
minute 60 to 110, a hashrate drop, a temperature spike, a share counter that resets, and
one incident. Every wait is on a condition (data-chart-state, the URL), never on time.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import FloatRect, Page, expect
from sqlmodel import Session

from app.core.timeutil import isoformat, utcnow
from app.miners.ingest import record_samples
from app.models.alerts import Incident
from tests.browser.conftest import Browsing, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

MINER = "chart-rig"
STEP = 5  # seconds between samples
# Samples between bucket edges: no float rounding in SQL can move one to a neighbour.
OFFSET = timedelta(seconds=2)
INCIDENT_TITLE = "Chart rig too hot"
CHARTS = (
    "chart-hashrate",
    "chart-temperature",
    "chart-shares",
    "chart-latency",
    "chart-power",
    "chart-fans",
    "chart-efficiency",
)
PRESETS = {"15m": 900, "1h": 3600, "6h": 21_600, "24h": 86_400, "7d": 604_800, "30d": 2_592_000}

# What a test reads of one chart: the x scale, the data handed to uPlot, what was drawn.
CHART_STATE = """id => {
  const chart = document.getElementById(id).prismChart;
  const plot = chart.plot;
  return {
    min: plot.scales.x.min,
    max: plot.scales.x.max,
    range: chart.range,
    bucketSeconds: chart.payload.bucketSeconds,
    data: plot.data,
    shown: plot.series.map(s => s.show),
    labels: plot.series.map(s => s.label),
    axes: plot.axes.map(a => a.label),
    idx: plot.cursor.idx,
    left: plot.cursor.left,
    prism: {
      bands: plot.prism.bands,
      thresholds: plot.prism.thresholds,
      annotations: plot.prism.annotations,
    },
  };
}"""


@dataclass(frozen=True)
class ChartRig:
    since: datetime
    until: datetime
    drop_at: datetime
    reset_at: datetime

    @property
    def url(self) -> str:
        return f"/miners/{MINER}?since={isoformat(self.since)}&until={isoformat(self.until)}"


def _samples(since: datetime) -> tuple[list[dict[str, Any]], datetime, datetime]:
    rows: list[dict[str, Any]] = []
    drop_at = since + timedelta(minutes=70) + OFFSET
    reset_at = since + timedelta(minutes=80) + OFFSET
    accepted = 10_000  # a cumulative counter far above any per-minute rate
    for minute_from, minute_to in ((20, 50), (60, 110)):
        at = since + timedelta(minutes=minute_from) + OFFSET
        while at < since + timedelta(minutes=minute_to):
            accepted = 0 if at == reset_at else accepted + 1  # the miner restarted
            rows.append(
                {
                    "miner_id": MINER,
                    "recorded_at": at,
                    "pool": "pool.example:443",
                    "profile": "rx/0",
                    "hashrate_1m": 100.0 if at == drop_at else 5_000.0,
                    "hashrate_15m": 5_000.0,
                    "shares_accepted": accepted,
                    "shares_rejected": len(rows) // 10,
                    "shares_stale": 0,
                    "temperature_c": 90.0 if at == drop_at else 70.0,
                    "latency_ms": 40.0,
                }
            )
            at += timedelta(seconds=STEP)
    return rows, drop_at, reset_at


@pytest.fixture(scope="module")
def rig(live_server: LiveServer) -> Iterator[ChartRig]:
    since = utcnow().replace(second=0, microsecond=0) - timedelta(hours=3)
    rows, drop_at, reset_at = _samples(since)
    with Session(live_server.engine) as session:
        record_samples(session=session, rows=rows)
        session.add(
            Incident(
                rule_id="chart-rig-hot",
                rule_name=INCIDENT_TITLE,
                kind="miner_temperature",
                severity="critical",
                subject_type="miner",
                subject=MINER,
                started_at=since + timedelta(minutes=40),
                resolved_at=since + timedelta(minutes=45),
            )
        )
        session.commit()
    yield ChartRig(since, since + timedelta(hours=2), drop_at, reset_at)


def open_charts(page: Page, url: str) -> None:
    page.goto(url)
    for chart_id in CHARTS:
        expect(page.locator(f"#{chart_id}")).to_have_attribute("data-chart-state", "ready")


def state(page: Page, chart_id: str) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(CHART_STATE, chart_id)
    return result


def mark_old_charts(page: Page) -> None:
    """Tell the charts on the page now from those an htmx swap brings."""
    page.evaluate("document.querySelectorAll('.chart').forEach(c => c.dataset.old = '1')")


def wait_for_new_charts(page: Page) -> None:
    for chart_id in CHARTS:
        expect(page.locator(f"#{chart_id}:not([data-old])")).to_have_attribute(
            "data-chart-state", "ready"
        )


def plot_box(page: Page, chart_id: str) -> FloatRect:
    """The plot area's box in the viewport (scrolled into view: the mouse reaches it)."""
    over = page.locator(f"#{chart_id} .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    assert box is not None
    return box


def test_the_time_axis_spans_the_chosen_range_not_the_data(
    signed_in_page: Page, rig: ChartRig
) -> None:
    page = signed_in_page
    open_charts(page, rig.url)
    for chart_id in CHARTS:
        chart = state(page, chart_id)
        assert (chart["min"], chart["max"]) == (rig.since.timestamp(), rig.until.timestamp())
        # The data itself starts 20 minutes in and ends 10 minutes early.
        times = chart["data"][0]
        assert times[0] >= rig.since.timestamp() + 20 * 60
        assert times[-1] < rig.until.timestamp() - 9 * 60


def test_missing_data_is_a_gap_between_buckets_not_a_straight_segment(
    signed_in_page: Page, rig: ChartRig
) -> None:
    page = signed_in_page
    open_charts(page, rig.url)
    chart = state(page, "chart-hashrate")
    bucket = chart["bucketSeconds"]
    assert bucket == 10  # two samples a bucket: the series is downsampled
    times, line = chart["data"][0], chart["data"][1]
    hole_from, hole_to = (rig.since + timedelta(minutes=50)), (rig.since + timedelta(minutes=60))
    nulls_in_hole = [
        t
        for t, value in zip(times, line, strict=True)
        if value is None and hole_from.timestamp() - bucket < t < hole_to.timestamp()
    ]
    assert len(nulls_in_hole) == 1
    # No line joins two points further apart than a bucket.
    for index in range(len(times) - 1):
        if line[index] is not None and line[index + 1] is not None:
            assert times[index + 1] - times[index] <= bucket


def test_hashrate_draws_the_bucket_minimum_with_the_maximum_as_a_band_effective_first(
    signed_in_page: Page, rig: ChartRig
) -> None:
    page = signed_in_page
    open_charts(page, rig.url)
    chart = state(page, "chart-hashrate")
    assert chart["labels"][1:] == ["Effective hashrate", "Reported 1m", "Reported 15m"]
    assert chart["shown"][1:] == [True, False, False]  # reported rates: toggled in the legend
    assert chart["prism"]["bands"] == ["Effective hashrate"]
    times, reported_1m = chart["data"][0], chart["data"][2]
    drop_bucket = rig.drop_at.timestamp() // 10 * 10
    assert reported_1m[times.index(drop_bucket)] == 100.0  # the drop is the bucket's minimum
    page.locator("#chart-hashrate .u-legend .u-series", has_text="Reported 1m").click()
    expect(page.locator("#chart-hashrate .u-legend .u-series.u-off")).to_have_count(1)
    toggled = state(page, "chart-hashrate")
    assert toggled["shown"][1:] == [True, True, False]
    assert toggled["prism"]["bands"] == ["Effective hashrate", "Reported 1m"]


def test_shares_are_per_minute_and_a_counter_reset_starts_again_from_zero(
    signed_in_page: Page, rig: ChartRig
) -> None:
    page = signed_in_page
    open_charts(page, rig.url)
    chart = state(page, "chart-shares")
    assert chart["labels"][1:] == ["Accepted", "Rejected", "Stale", "Rejected %"]
    times, accepted = chart["data"][0], chart["data"][1]
    rates = [value for value in accepted if value is not None]
    assert rates, "no accepted rate drawn"
    # One share a sample, a sample every 5 s: 12 a minute, never the counter's 10,000s.
    assert all(0 <= value <= 12.0001 for value in rates)
    assert sum(1 for value in rates if value == pytest.approx(12.0)) > len(rates) * 0.9
    after_reset = accepted[times.index(rig.reset_at.timestamp() // 10 * 10)]
    assert after_reset is not None and 0 <= after_reset < 12
    percent = [value for value in chart["data"][4] if value is not None]
    assert percent and all(0 <= value <= 100 for value in percent)
    assert chart["axes"][1:] == ["shares/min", "% rejected"]


def test_every_axis_names_its_unit(signed_in_page: Page, rig: ChartRig) -> None:
    page = signed_in_page
    open_charts(page, rig.url)
    expected = {
        "chart-hashrate": "Hashrate",
        "chart-temperature": "°C",
        "chart-latency": "ms",
        "chart-power": "W",
        "chart-fans": "rpm",
        "chart-efficiency": "J/TH",
    }
    for chart_id, unit in expected.items():
        assert state(page, chart_id)["axes"] == ["Time (UTC)", unit]
    # A series the miner never sent draws its empty axes, and says so.
    expect(page.locator("#chart-power .chart-empty")).to_have_text("No data in this range.")


def test_temperature_draws_its_80_and_85_degree_limits(signed_in_page: Page, rig: ChartRig) -> None:
    page = signed_in_page
    open_charts(page, rig.url)
    drawn = state(page, "chart-temperature")["prism"]["thresholds"]
    assert [(line["value"], line["level"]) for line in drawn] == [
        (80, "warning"),
        (85, "critical"),
    ]
    assert drawn[0]["y"] > drawn[1]["y"]  # 80 °C below 85 °C, both inside the plot


def test_the_tooltip_follows_the_cursor_with_the_time_and_values(
    signed_in_page: Page, rig: ChartRig
) -> None:
    page = signed_in_page
    open_charts(page, rig.url)
    box = plot_box(page, "chart-hashrate")
    x, y = box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    tooltip = page.locator("#chart-hashrate .chart-tooltip")
    expect(tooltip).to_be_visible()
    chart = state(page, "chart-hashrate")
    point = chart["data"][0][chart["idx"]]
    shown_time = datetime.fromtimestamp(point, tz=rig.since.tzinfo).strftime("%Y-%m-%d %H:%M:%S")
    expect(tooltip).to_contain_text(f"{shown_time} UTC")
    expect(tooltip).to_contain_text("Effective hashrate: ")
    tip = tooltip.bounding_box()
    assert tip is not None
    # Beside the pointer: its near corner a few pixels from it, on either side.
    near_x = min(abs(tip["x"] - x), abs(tip["x"] + tip["width"] - x))
    near_y = min(abs(tip["y"] - y), abs(tip["y"] + tip["height"] - y))
    assert near_x < 20 and near_y < 20, (tip, x, y)


def test_the_cursors_of_a_miners_charts_move_together(signed_in_page: Page, rig: ChartRig) -> None:
    page = signed_in_page
    open_charts(page, rig.url)
    box = plot_box(page, "chart-hashrate")
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    expect(page.locator("#chart-hashrate .chart-tooltip")).to_be_visible()
    source = state(page, "chart-hashrate")
    assert source["idx"] is not None
    for chart_id in CHARTS[1:]:
        other = state(page, chart_id)
        assert other["idx"] == source["idx"], chart_id
        # Only the chart under the pointer shows its tooltip.
        expect(page.locator(f"#{chart_id} .chart-tooltip")).to_be_hidden()


def test_the_incident_is_drawn_on_the_charts_and_named_in_the_tooltip(
    signed_in_page: Page, rig: ChartRig
) -> None:
    page = signed_in_page
    open_charts(page, rig.url)
    for chart_id in CHARTS:
        drawn = state(page, chart_id)["prism"]["annotations"]
        assert [(item["title"], item["severity"]) for item in drawn] == [
            (INCIDENT_TITLE, "critical")
        ], chart_id
    span = state(page, "chart-temperature")["prism"]["annotations"][0]
    box = plot_box(page, "chart-temperature")
    # 40 to 45 minutes into a 2-hour axis.
    assert span["left"] == pytest.approx(box["width"] * 40 / 120, abs=2)
    assert span["right"] == pytest.approx(box["width"] * 45 / 120, abs=2)
    page.mouse.move(box["x"] + (span["left"] + span["right"]) / 2, box["y"] + box["height"] / 2)
    expect(page.locator("#chart-temperature .chart-tooltip")).to_contain_text(
        f"Incident: {INCIDENT_TITLE} (critical)"
    )
    listed = page.locator("#miner-chart-incidents-list")
    expect(listed.get_by_role("link", name=INCIDENT_TITLE)).to_have_attribute(
        "href", re.compile(r"^/incidents/\d+$")
    )


def test_drag_zooms_into_a_url_of_its_own_and_reset_restores_the_range(
    signed_in_page: Page, rig: ChartRig
) -> None:
    page = signed_in_page
    open_charts(page, rig.url)
    page.evaluate("window.__marker = 'kept'")
    box = plot_box(page, "chart-hashrate")
    y = box["y"] + box["height"] / 2
    mark_old_charts(page)
    page.mouse.move(box["x"] + box["width"] * 0.25, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.up()
    expect(page).to_have_url(re.compile(r"since=.*until=.*reset="))
    wait_for_new_charts(page)
    query = {key: values[0] for key, values in parse_qs(urlsplit(page.url).query).items()}
    assert query["reset"] == f"{isoformat(rig.since)}/{isoformat(rig.until)}"
    zoomed = state(page, "chart-temperature")
    since = datetime.fromisoformat(query["since"]).timestamp()
    until = datetime.fromisoformat(query["until"]).timestamp()
    assert (zoomed["min"], zoomed["max"]) == (since, until)
    # A quarter of two hours, from half an hour in (a pixel either way).
    assert since == pytest.approx(rig.since.timestamp() + 30 * 60, abs=30)
    assert until - since == pytest.approx(30 * 60, abs=60)
    assert zoomed["bucketSeconds"] is None  # 30 minutes: the raw samples, finer than before

    mark_old_charts(page)
    page.locator("#zoom-reset").click()
    expect(page).to_have_url(
        re.compile(re.escape(f"/miners/{MINER}?") + "since=[^&]+&until=[^&]+$")
    )
    wait_for_new_charts(page)
    restored = state(page, "chart-temperature")
    assert (restored["min"], restored["max"]) == (rig.since.timestamp(), rig.until.timestamp())
    expect(page.locator("#zoom-reset")).to_have_count(0)
    assert page.evaluate("window.__marker") == "kept"  # htmx swapped the charts, no reload


def test_each_preset_shows_its_span_up_to_now(signed_in_page: Page, rig: ChartRig) -> None:
    page = signed_in_page
    open_charts(page, rig.url)
    for key, seconds in PRESETS.items():
        mark_old_charts(page)
        page.locator(f"#range-{key}").click()
        expect(page).to_have_url(re.compile(rf"/miners/{MINER}\?range={key}$"))
        expect(page.locator(f"#range-{key}")).to_have_attribute("aria-current", "true")
        wait_for_new_charts(page)
        chart = state(page, "chart-hashrate")
        assert chart["max"] - chart["min"] == seconds, key
        assert chart["max"] >= rig.until.timestamp() + 3600 - 1  # the window ends now


def test_the_charts_follow_the_time_zone_the_browser_chose(
    browsing: Browsing, rig: ChartRig
) -> None:
    page = browsing.signed_in(timezone_id="Asia/Kolkata")  # UTC+05:30 all year
    open_charts(page, rig.url)
    assert state(page, "chart-hashrate")["axes"][0] == "Time (UTC)"
    page.evaluate("window.prismTime.setZone('local')")
    for chart_id in CHARTS:
        expect(page.locator(f"#{chart_id}")).to_have_attribute("data-chart-state", "ready")
        assert state(page, chart_id)["axes"][0].startswith("Time (local"), chart_id
    box = plot_box(page, "chart-hashrate")
    page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    chart = state(page, "chart-hashrate")
    point = datetime.fromtimestamp(chart["data"][0][chart["idx"]], tz=rig.since.tzinfo)
    local = (point + timedelta(hours=5, minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
    expect(page.locator("#chart-hashrate .chart-tooltip")).to_contain_text(local)
    # The range itself does not move: the same instants, written in another zone.
    assert (chart["min"], chart["max"]) == (rig.since.timestamp(), rig.until.timestamp())


def test_the_chart_helpers_break_raw_samples_and_count_resets_from_zero(
    signed_in_page: Page, rig: ChartRig
) -> None:
    """Raw samples (no buckets): a gap is three usual spacings, at most the stale limit."""
    page = signed_in_page
    open_charts(page, rig.url)
    result = page.evaluate(
        """() => {
          const D = window.prismChartData;
          const t = [0, 10, 20, 30, 100, 110];
          const gap = D.gapThreshold(t, null, 300);
          return {
            gap: gap,
            capped: D.gapThreshold([0, 1000, 2000], null, 300),
            gapped: D.withGaps(t, [[1, 2, 3, 4, 5, 6]], gap),
            rates: D.counterRates([0, 60, 120, 180], [100, 160, 30, 90], 300),
          };
        }"""
    )
    assert result["gap"] == 30
    assert result["capped"] == 300
    assert result["gapped"]["t"] == [0, 10, 20, 30, 65, 100, 110]
    assert result["gapped"]["columns"] == [[1, 2, 3, 4, None, 5, 6]]
    # 60 a minute, then a reset to 30 (30 shares since it, from 0), then 60 again.
    assert result["rates"] == [None, 60, 30, 60]
