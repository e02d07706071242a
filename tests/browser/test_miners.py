"""Miner charts: the range picker re-renders them in place, and a week of 10 s samples draws."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from app.core.timeutil import utcnow
from app.miners.ingest import record_samples
from tests.browser.conftest import Browsing, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

HASHRATE_CANVAS = "#chart-hashrate canvas"
RANGES = {"1h": "1 h", "24h": "24 h", "7d": "7 d"}

# Records when the hashrate chart's canvas first exists, in ms since navigation start.
CANVAS_CLOCK = """
new MutationObserver(function (_records, observer) {
  if (document.querySelector('#chart-hashrate canvas')) {
    window.__hashrateCanvasAt = performance.now();
    observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""


def test_range_links_re_render_the_charts_and_mark_the_active_range(
    signed_in_page: Page,
) -> None:
    page = signed_in_page
    page.goto("/miners/xmrig")
    expect(page.locator(HASHRATE_CANVAS).first).to_be_attached()
    page.evaluate("window.__marker = 'kept'")
    for key in RANGES:
        previous_url = page.locator("#chart-hashrate").get_attribute("data-chart-url")
        page.locator(f"#range-{key}").click()
        expect(page).to_have_url(re.compile(rf"/miners/xmrig\?range={key}$"))
        expect(page.locator(f"#range-{key}")).to_have_attribute("aria-current", "true")
        for other in RANGES:
            if other != key:
                expect(page.locator(f"#range-{other}")).not_to_have_attribute(
                    "aria-current", "true"
                )
        chart = page.locator("#chart-hashrate")
        if key != "24h":  # 24 h is the default range the page opened with
            expect(chart).not_to_have_attribute("data-chart-url", previous_url or "")
        expect(chart).to_have_attribute("data-chart-state", "ready")
        expect(page.locator(HASHRATE_CANVAS).first).to_be_attached()
        expect(page.locator("h2#miner-charts-title")).to_contain_text(f"over {RANGES[key]}")
    assert page.evaluate("window.__marker") == "kept"  # htmx swapped the charts, no reload


def week_of_samples(miner_id: str, spike_at: int, spike: float) -> list[dict[str, object]]:
    """7 days of 10-second samples ending now, flat but for one huge hashrate spike."""
    count = 7 * 24 * 360
    end = utcnow().replace(microsecond=0)
    rows: list[dict[str, object]] = []
    for index in range(count):
        rate = spike if index == spike_at else 5_000.0 + (index % 60)
        rows.append(
            {
                "miner_id": miner_id,
                "recorded_at": end - timedelta(seconds=10 * (count - 1 - index)),
                "pool": "pool.example:443",
                "profile": "rx/0",
                "hashrate_1m": rate,
                "hashrate_15m": 5_000.0,
                "shares_accepted": index // 6,
                "temperature_c": 60.0,
                "latency_ms": 40.0,
            }
        )
    return rows


def test_a_week_of_ten_second_samples_draws_with_its_spike(
    signed_in_page: Page, live_server: LiveServer
) -> None:
    miner_id = "scale-rig"
    spike = 9.5e9
    rows = week_of_samples(miner_id, spike_at=41_234, spike=spike)
    assert len(rows) == 60_480
    with Session(live_server.engine) as session:
        assert record_samples(session=session, rows=rows) == len(rows)

    page = signed_in_page
    page.add_init_script(CANVAS_CLOCK)
    with page.expect_response(
        lambda response: f"/api/miners/{miner_id}/series" in response.url
    ) as series_info:
        page.goto(f"/miners/{miner_id}?range=7d")
    series = series_info.value
    assert series.ok, series.status
    payload = series.json()
    page.wait_for_selector(HASHRATE_CANVAS, state="attached")
    canvas_ms = page.evaluate("window.__hashrateCanvasAt")
    points = len(payload["t"])
    print(
        f"\nchart at scale: {len(rows)} samples over 7 d; the series endpoint returned "
        f"{points} points; hashrate canvas drawn {canvas_ms:.0f} ms after navigation start"
    )
    assert 0 < points < len(rows)  # downsampled on the server
    assert max(payload["series"]["hashrate1m"]["max"]) == pytest.approx(spike)
    expect(page.locator("#chart-hashrate")).to_have_attribute("data-chart-state", "ready")


def test_two_dozen_miners_fit_on_one_desktop_screen(
    browsing: Browsing, live_server: LiveServer
) -> None:
    now = utcnow()
    rows = [
        {
            "miner_id": f"fit-rig-{index:02}",
            "recorded_at": now,
            "profile": "sha256d",
            "hashrate_1m": 95e12,
            "temperature_c": 70.0,
            "power_w": 3250.0,
            "shares_accepted": 100,
        }
        for index in range(24)
    ]
    with Session(live_server.engine) as session:
        record_samples(session=session, rows=rows)
    page = browsing.signed_in(viewport={"width": 1920, "height": 1080})
    page.goto("/miners")
    table_rows = page.locator("#miners-table tbody tr")
    expect(table_rows.nth(23)).to_be_visible()
    table = page.locator("#miners-table").bounding_box()
    last = table_rows.nth(23).bounding_box()
    assert table is not None and last is not None
    # The table's header and its first 24 rows within one 1080 px screen: dense rows.
    assert last["y"] + last["height"] - table["y"] <= 1080
