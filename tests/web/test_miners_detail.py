"""A miner's page: tiles, facts, exports, and charts over a time range picked by URL."""

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.config import Settings
from app.core.timeutil import isoformat, parse_datetime, utcnow
from app.models.alerts import Incident
from tests.web.conftest import HX
from tests.web.test_miners_pages import add_samples, page_tiles, tiles_in

CHART_IDS = (
    "chart-hashrate",
    "chart-temperature",
    "chart-shares",
    "chart-latency",
    "chart-power",
    "chart-fans",
    "chart-efficiency",
)
PRESETS = {"15m": 0.25, "1h": 1, "6h": 6, "24h": 24, "7d": 168, "30d": 720}


def chart_attributes(page: str, chart_id: str) -> dict[str, str]:
    match = re.search(rf'<div class="chart" id="{chart_id}"([^>]*)>', page)
    assert match, chart_id
    return {key: unescape(value) for key, value in re.findall(r'([\w-]+)="([^"]*)"', match[1])}


def chart_query(page: str, chart_id: str) -> dict[str, str]:
    url = urlsplit(chart_attributes(page, chart_id)["data-chart-url"])
    return {key: values[0] for key, values in parse_qs(url.query).items()}


def fallback_lines(page: str, chart_id: str) -> list[str]:
    start = page.index(f'id="{chart_id}"')
    block = page[start : page.index("</ul>", start)]
    return [unescape(line) for line in re.findall(r"<li>(.*?)</li>", block)]


def line_of(lines: list[str], label: str) -> str:
    return next(line for line in lines if line.startswith(f"{label}:"))


def current_ranges(page: str) -> list[str]:
    return re.findall(r'id="range-(\w+)"[^>]*aria-current="true"', page)


@pytest.fixture
def rig(db_session: Session) -> str:
    add_samples(db_session, "rig-1")
    return "rig-1"


def test_anonymous_visitors_are_sent_to_sign_in(anon_client: TestClient) -> None:
    response = anon_client.get("/miners/rig-1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/miners/rig-1"


def test_an_unknown_miner_is_a_404_page(web_client: TestClient) -> None:
    response = web_client.get("/miners/nobody")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Miner not found" in response.text
    assert "No samples recorded for miner <code>nobody</code>" in response.text
    assert 'href="/miners"' in response.text


def test_the_page_shows_the_tiles_api_tiles_state_and_facts(
    web_client: TestClient, client: TestClient, db_session: Session
) -> None:
    first = utcnow() - timedelta(hours=3)
    add_samples(
        db_session,
        "rig-1",
        {"recorded_at": first, "pool": "old.pool:1"},
        {"pool": "eu.pool:4444", "profile": "gpu", "temperature_c": 83.0},
    )
    response = web_client.get("/miners/rig-1")
    assert response.status_code == 200
    page = response.text
    assert tiles_in(page[page.index('id="miner-live"') :]) == page_tiles(client, "rig-1")
    for tile_id in ("effective-hashrate", "stale-rate", "temperature", "last-share"):
        assert f'id="tile-{tile_id}"' in page
    assert '<span class="badge status-warning">Warning</span>' in page
    facts = page[page.index('id="miner-facts"') : page.index("</dl>", page.index("miner-facts"))]
    assert "eu.pool:4444" in facts
    assert "gpu" in facts
    assert f"{first:%Y-%m-%d %H:%M:%S} UTC</time> (3h ago)" in facts


def test_the_page_offers_this_miners_samples_for_download(web_client: TestClient, rig: str) -> None:
    page = web_client.get(f"/miners/{rig}").text
    assert 'href="/api/export/samples.csv?miner_id=rig-1"' in page
    assert 'href="/api/export/samples.json?miner_id=rig-1"' in page
    assert web_client.get("/api/export/samples.csv?miner_id=rig-1").status_code == 200


def test_the_range_picker_marks_24_hours_by_default(web_client: TestClient, rig: str) -> None:
    page = web_client.get(f"/miners/{rig}").text
    assert current_ranges(page) == ["24h"]
    for key in PRESETS:
        assert f'id="range-{key}" href="/miners/rig-1?range={key}"' in page
    assert 'aria-label="Time range"' in page


@pytest.mark.parametrize(("key", "hours"), PRESETS.items())
def test_a_preset_range_marks_its_link_and_sets_the_chart_window(
    web_client: TestClient, rig: str, key: str, hours: float
) -> None:
    before = utcnow()
    page = web_client.get(f"/miners/{rig}", params={"range": key}).text
    after = utcnow()
    assert current_ranges(page) == [key]
    for chart_id in CHART_IDS:
        query = chart_query(page, chart_id)
        since, until = parse_datetime(query["since"]), parse_datetime(query["until"])
        assert until - since == timedelta(hours=hours)
        # The page's "now", in whole seconds rounded up: however long the request took.
        assert before.replace(microsecond=0) <= until <= after + timedelta(seconds=1)
        assert query["points"] == "800"


def test_every_chart_reads_the_series_api_for_its_own_metrics(
    web_client: TestClient, rig: str
) -> None:
    page = web_client.get(f"/miners/{rig}").text
    keys = {}
    for chart_id in CHART_IDS:
        attributes = chart_attributes(page, chart_id)
        assert attributes["data-chart-url"].startswith("/api/miners/rig-1/series?")
        assert attributes["role"] == "img"
        keys[chart_id] = [item["key"] for item in json.loads(attributes["data-chart-series"])]
    assert keys == {
        # Effective hashrate first: it is what the operator reads.
        "chart-hashrate": ["effectiveHashrate", "hashrate1m", "hashrate15m"],
        "chart-temperature": ["temperatureC"],
        "chart-shares": ["sharesAccepted", "sharesRejected", "sharesStale"],
        "chart-latency": ["latencyMs"],
        "chart-power": ["powerW"],
        "chart-fans": ["fanRpm"],
        "chart-efficiency": ["efficiencyJPerTH"],
    }
    # The browser's session reads that URL, and every key is a series it answers.
    answer = web_client.get(chart_attributes(page, "chart-hashrate")["data-chart-url"])
    assert answer.status_code == 200
    assert set(answer.json()["series"]) >= {key for ks in keys.values() for key in ks}


def test_seven_days_of_samples_chart_in_a_bounded_number_of_points_with_the_spike(
    web_client: TestClient, db_session: Session
) -> None:
    now = utcnow()
    samples = [
        {"recorded_at": now - timedelta(seconds=200 * n), "hashrate_1m": 1500.0}
        for n in range(3000)
    ]
    samples[1234]["hashrate_1m"] = 9800.0
    add_samples(db_session, "rig-7d", *samples)
    page = web_client.get("/miners/rig-7d", params={"range": "7d"}).text
    answer = web_client.get(chart_attributes(page, "chart-hashrate")["data-chart-url"]).json()
    assert 0 < answer["points"] <= 800
    assert answer["bucketSeconds"] is not None
    assert max(answer["series"]["hashrate1m"]["max"]) == 9800.0
    assert line_of(fallback_lines(page, "chart-hashrate"), "Reported 1m") == (
        "Reported 1m: latest 1.50 kH/s, min 1.50 kH/s, max 9.80 kH/s over 7 d"
    )


def test_the_fallback_text_summarises_only_the_chosen_range(
    web_client: TestClient, db_session: Session
) -> None:
    now = utcnow()
    add_samples(
        db_session,
        "rig-1",
        {"recorded_at": now - timedelta(days=2), "hashrate_1m": 50000.0, "temperature_c": 90.0},
        {"recorded_at": now - timedelta(hours=3), "hashrate_1m": 1200.0, "temperature_c": 70.0},
        {"recorded_at": now - timedelta(hours=2), "hashrate_1m": 9800.0, "temperature_c": 71.5},
        {
            "recorded_at": now - timedelta(minutes=1),
            "hashrate_1m": 1520.0,
            "temperature_c": 72.0,
            "shares_accepted": 1234,
            "shares_rejected": 5,
            "shares_stale": 7,
            "latency_ms": 42.25,
        },
    )
    page = web_client.get("/miners/rig-1").text
    assert line_of(fallback_lines(page, "chart-hashrate"), "Reported 1m") == (
        "Reported 1m: latest 1.52 kH/s, min 1.20 kH/s, max 9.80 kH/s over 24 h"
    )
    assert fallback_lines(page, "chart-temperature") == [
        "Temperature: latest 72.0°C, min 70.0°C, max 72.0°C over 24 h"
    ]
    assert fallback_lines(page, "chart-shares")[0] == (
        "Accepted shares: latest 1,234, min 100, max 1,234 over 24 h"
    )
    assert fallback_lines(page, "chart-latency") == [
        "Latency: latest 42.2 ms, min 40.0 ms, max 42.2 ms over 24 h"
    ]
    assert "max 9.80 kH/s over 24 h" in chart_attributes(page, "chart-hashrate")["aria-label"]
    week = web_client.get("/miners/rig-1", params={"range": "7d"}).text
    reported = line_of(fallback_lines(week, "chart-hashrate"), "Reported 1m")
    assert "max 50.0 kH/s over 7 d" in reported


def test_a_range_without_samples_says_so_and_keeps_the_charts(
    web_client: TestClient, db_session: Session
) -> None:
    add_samples(db_session, "rig-1", {"recorded_at": utcnow() - timedelta(days=3)})
    page = web_client.get("/miners/rig-1", params={"range": "1h"}).text
    assert fallback_lines(page, "chart-latency") == ["No samples over 1 h."]
    assert 'id="chart-hashrate"' in page
    assert '<span class="badge status-stale">Stale</span>' in page


def test_a_series_never_reported_says_so(web_client: TestClient, db_session: Session) -> None:
    add_samples(db_session, "rig-1", {"temperature_c": None})
    page = web_client.get("/miners/rig-1").text
    assert fallback_lines(page, "chart-temperature") == ["Temperature: not reported over 24 h"]


def test_a_custom_range_in_utc_sets_the_window_and_marks_no_preset(
    web_client: TestClient, db_session: Session
) -> None:
    add_samples(
        db_session,
        "rig-1",
        {"recorded_at": datetime(2026, 1, 5, 11, 0, tzinfo=UTC), "hashrate_1m": 2000.0},
    )
    response = web_client.get(
        "/miners/rig-1", params={"since": "2026-01-05T10:00", "until": "2026-01-05T12:30"}
    )
    assert response.status_code == 200
    page = response.text
    assert current_ranges(page) == []
    query = chart_query(page, "chart-shares")
    assert (query["since"], query["until"]) == ("2026-01-05T10:00:00Z", "2026-01-05T12:30:00Z")
    assert (
        'name="since" type="datetime-local" step="60" required value="2026-01-05T10:00"'
        " data-time-input" in page
    )
    assert (
        'name="until" type="datetime-local" step="60" required value="2026-01-05T12:30"'
        " data-time-input" in page
    )
    assert line_of(fallback_lines(page, "chart-hashrate"), "Reported 1m") == (
        "Reported 1m: latest 2.00 kH/s, min 2.00 kH/s, max 2.00 kH/s "
        "over 2026-01-05 10:00 to 2026-01-05 12:30 UTC"
    )


def test_the_custom_range_form_is_a_labelled_get_form(web_client: TestClient, rig: str) -> None:
    page = web_client.get(f"/miners/{rig}").text
    assert '<form method="get" action="/miners/rig-1"' in page
    # UTC unless the browser chose local time (static/js/time.js rewrites the labels).
    assert '<label for="range-since">From <span data-time-zone-label>(UTC)</span></label>' in page
    assert '<label for="range-until">To <span data-time-zone-label>(UTC)</span></label>' in page


@pytest.mark.parametrize(
    ("params", "message", "invalid"),
    [
        (
            {"since": "2026-01-05T12:00", "until": "2026-01-05T12:00"},
            "From: the start must be before the end",
            "since",
        ),
        (
            {"since": "2026-01-06T00:00", "until": "2026-01-05T00:00"},
            "From: the start must be before the end",
            "since",
        ),
        ({"since": "yesterday", "until": "2026-01-05T00:00"}, "From: not a date and time", "since"),
        (
            {"since": "2026-01-05T00:00", "until": "2026-13-01T00:00"},
            "To: not a date and time",
            "until",
        ),
        ({"range": "2y"}, "Range: choose one of 15m, 1h, 6h, 24h, 7d, 30d", None),
        (
            {"since": "2026-01-05T10:00", "until": "2026-01-05T11:00", "reset": "soon"},
            "Reset zoom: use a range (15m, 1h, 6h, 24h, 7d, 30d) or since/until",
            None,
        ),
        (
            {"range": "1h", "reset": "2026-01-05T12:00Z/2026-01-05T10:00Z"},
            "Reset zoom: the start must be before the end",
            None,
        ),
    ],
)
def test_an_invalid_range_is_explained_next_to_the_form_without_charts(
    web_client: TestClient, rig: str, params: dict[str, str], message: str, invalid: str | None
) -> None:
    response = web_client.get(f"/miners/{rig}", params=params)
    assert response.status_code == 422
    page = response.text
    assert "<!doctype html>" in page
    error = re.search(
        r'<p class="alert alert-error" role="alert" id="range-error">([^<]*)</p>', page
    )
    assert error is not None
    assert error[1].startswith(message)
    assert page.index('id="custom-range"') < page.index('id="range-error"')
    assert 'class="chart"' not in page
    assert current_ranges(page) == []
    if invalid:
        assert re.search(
            rf'name="{invalid}"[^>]*aria-invalid="true" aria-describedby="range-error"', page
        )
    # The miner's tiles still show.
    assert 'id="tile-effective-hashrate"' in page


def test_the_charts_partial_alone_answers_a_range_swap(web_client: TestClient, rig: str) -> None:
    response = web_client.get(
        f"/miners/{rig}", params={"range": "1h"}, headers={**HX, "HX-Target": "miner-charts"}
    )
    assert response.status_code == 200
    text = response.text
    assert text.startswith('<section id="miner-charts"')
    assert text.rstrip().endswith("</section>")
    assert 'hx-target="this" hx-swap="outerHTML" hx-push-url="true"' in text
    assert 'data-chart-zoom="/miners/rig-1" data-chart-reset="1h"' in text
    assert current_ranges(text) == ["1h"]
    assert all(f'id="{chart_id}"' in text for chart_id in CHART_IDS)
    assert "tile-effective-hashrate" not in text
    assert "<title>" not in text
    assert response.headers["Vary"].startswith("HX-Request, HX-Target")


def test_an_invalid_range_swap_gets_the_partial_with_its_error(
    web_client: TestClient, rig: str
) -> None:
    response = web_client.get(
        f"/miners/{rig}",
        params={"since": "2026-01-05T12:00", "until": "2026-01-05T10:00"},
        headers={**HX, "HX-Target": "miner-charts"},
    )
    assert response.status_code == 422
    assert response.text.startswith('<section id="miner-charts"')
    assert "the start must be before the end" in response.text


def test_the_live_partial_refreshes_tiles_state_and_facts(
    web_client: TestClient, client: TestClient, rig: str
) -> None:
    page = web_client.get(f"/miners/{rig}").text
    assert 'hx-get="/miners/rig-1" hx-trigger="every 10s" hx-target="#miner-live"' in page
    poll = web_client.get(f"/miners/{rig}", headers={**HX, "HX-Target": "miner-live"})
    assert poll.text.startswith('<section id="miner-live"')
    assert tiles_in(poll.text) == page_tiles(client, rig)
    assert 'id="miner-facts"' in poll.text
    assert 'id="miner-charts"' not in poll.text


def test_htmx_navigation_to_a_miner_gets_its_content(web_client: TestClient, rig: str) -> None:
    response = web_client.get(f"/miners/{rig}", headers={**HX, "HX-Target": "main"})
    assert response.text.startswith("<title>Miner rig-1")
    assert "<html" not in response.text
    assert 'id="miner-charts"' in response.text


def test_a_read_only_session_sees_a_miner(read_web_client: TestClient, rig: str) -> None:
    assert read_web_client.get(f"/miners/{rig}").status_code == 200


def chart_options(page: str, chart_id: str) -> dict[str, Any]:
    options: dict[str, Any] = json.loads(chart_attributes(page, chart_id)["data-chart-options"])
    return options


def test_each_chart_says_what_it_draws_and_the_unit_of_its_axis(
    web_client: TestClient, rig: str
) -> None:
    page = web_client.get(f"/miners/{rig}").text
    assert chart_options(page, "chart-hashrate") == {
        "line": "min",  # drops live in the bucket minimum
        "kind": "level",
        "axis": "Hashrate",
    }
    hashrate = json.loads(chart_attributes(page, "chart-hashrate")["data-chart-series"])
    assert [item.get("hidden", False) for item in hashrate] == [False, True, True]
    assert chart_options(page, "chart-temperature") == {
        "line": "max",
        "kind": "level",
        "axis": "°C",
        "thresholds": [
            {"value": 80.0, "label": "Warning", "level": "warning"},
            {"value": 85.0, "label": "Critical", "level": "critical"},
        ],
    }
    assert chart_options(page, "chart-shares") == {
        "line": "avg",
        "kind": "counter",
        "axis": "shares/min",
        "rejectPercent": True,
    }
    assert {chart_id: chart_options(page, chart_id)["axis"] for chart_id in CHART_IDS[3:]} == {
        "chart-latency": "ms",
        "chart-power": "W",
        "chart-fans": "rpm",
        "chart-efficiency": "J/TH",
    }


def test_the_charts_share_a_cursor_and_break_lines_where_a_miner_went_stale(
    web_client: TestClient, rig: str, app_settings: Settings
) -> None:
    page = web_client.get(f"/miners/{rig}").text
    for chart_id in CHART_IDS:
        attributes = chart_attributes(page, chart_id)
        assert attributes["data-chart-sync"] == "miner:rig-1"
        assert attributes["data-chart-gap"] == str(app_settings.agent_offline_after)
        assert attributes["data-chart-annotations"] == "miner-chart-incidents"


def zoom_section(page: str) -> dict[str, str]:
    match = re.search(r'<section id="miner-charts"([^>]*)>', page)
    assert match
    return {key: unescape(value) for key, value in re.findall(r'([\w-]+)="([^"]*)"', match[1])}


def test_a_zoom_resets_to_the_preset_it_started_from(web_client: TestClient, rig: str) -> None:
    page = web_client.get(f"/miners/{rig}", params={"range": "6h"}).text
    assert zoom_section(page)["data-chart-zoom"] == "/miners/rig-1"
    assert zoom_section(page)["data-chart-reset"] == "6h"
    assert 'id="zoom-reset"' not in page  # nothing to reset yet
    since, until = utcnow() - timedelta(hours=2), utcnow() - timedelta(hours=1)
    zoomed = web_client.get(
        f"/miners/{rig}",
        params={"since": isoformat(since), "until": isoformat(until), "reset": "6h"},
    ).text
    assert (
        '<a class="button" id="zoom-reset" href="/miners/rig-1?range=6h">Reset zoom</a>' in zoomed
    )
    assert current_ranges(zoomed) == []
    # Zooming again from the zoomed view still resets to the first window.
    assert zoom_section(zoomed)["data-chart-reset"] == "6h"
    query = chart_query(zoomed, "chart-hashrate")
    assert (query["since"], query["until"]) == (isoformat(since), isoformat(until))


def test_a_zoom_from_a_custom_range_resets_to_that_range(web_client: TestClient, rig: str) -> None:
    page = web_client.get(
        f"/miners/{rig}", params={"since": "2026-01-05T10:00", "until": "2026-01-05T12:00"}
    ).text
    custom = "2026-01-05T10:00:00Z/2026-01-05T12:00:00Z"
    assert zoom_section(page)["data-chart-reset"] == custom
    zoomed = web_client.get(
        f"/miners/{rig}",
        params={"since": "2026-01-05T10:30:00Z", "until": "2026-01-05T11:00:00Z", "reset": custom},
    ).text
    reset = re.search(r'id="zoom-reset" href="([^"]+)"', zoomed)
    assert reset is not None
    assert unescape(reset[1]) == (
        "/miners/rig-1?since=2026-01-05T10%3A00%3A00Z&until=2026-01-05T12%3A00%3A00Z"
    )
    assert web_client.get(unescape(reset[1])).status_code == 200


def add_incident(
    session: Session,
    *,
    subject: str = "rig-1",
    subject_type: str = "miner",
    started: datetime,
    resolved: datetime | None,
    title: str = "Rig too hot",
    severity: str = "critical",
) -> Incident:
    incident = Incident(
        rule_id="rig-hot",
        rule_name=title,
        kind="miner_temperature",
        severity=severity,
        subject_type=subject_type,
        subject=subject,
        started_at=started,
        resolved_at=resolved,
    )
    session.add(incident)
    session.commit()
    return incident


def incidents_island(page: str) -> list[dict[str, Any]]:
    match = re.search(
        r'<script type="application/json" id="miner-chart-incidents">(.*?)</script>', page, re.S
    )
    assert match
    island: list[dict[str, Any]] = json.loads(match[1])
    return island


def test_the_incidents_overlapping_the_range_travel_with_the_charts(
    web_client: TestClient, rig: str, db_session: Session
) -> None:
    day = datetime(2026, 1, 5, tzinfo=UTC)
    before = add_incident(
        db_session, started=day + timedelta(hours=8), resolved=day + timedelta(hours=9, minutes=59)
    )
    across = add_incident(
        db_session,
        started=day + timedelta(hours=9),
        resolved=day + timedelta(hours=10, minutes=30),
        title="Hashrate low </script><b>",
        severity="warning",
    )
    still_open = add_incident(db_session, started=day + timedelta(hours=11), resolved=None)
    add_incident(db_session, started=day + timedelta(hours=13), resolved=None)  # after the range
    add_incident(db_session, subject="rig-2", started=day + timedelta(hours=11), resolved=None)
    add_incident(db_session, subject_type="agent", started=day + timedelta(hours=11), resolved=None)
    page = web_client.get(
        f"/miners/{rig}", params={"since": "2026-01-05T10:00", "until": "2026-01-05T12:00"}
    ).text
    assert incidents_island(page) == [
        {
            "start": (day + timedelta(hours=9)).timestamp(),
            "end": (day + timedelta(hours=10, minutes=30)).timestamp(),
            "severity": "warning",
            "title": "Hashrate low </script><b>",
            "href": f"/incidents/{across.id}",
        },
        {
            "start": (day + timedelta(hours=11)).timestamp(),
            "end": None,
            "severity": "critical",
            "title": "Rig too hot",
            "href": f"/incidents/{still_open.id}",
        },
    ]
    assert "</script><b>" not in page  # the island cannot end early, the list escapes it
    listed = page[page.index('id="miner-chart-incidents-list"') :]
    assert f'href="/incidents/{before.id}"' not in listed
    assert f'<a href="/incidents/{across.id}">Hashrate low &lt;/script&gt;&lt;b&gt;</a>' in listed
    assert "to now (open)" in listed


def test_a_range_without_incidents_says_so(web_client: TestClient, rig: str) -> None:
    page = web_client.get(f"/miners/{rig}").text
    assert incidents_island(page) == []
    assert "None: no incident of this miner was open in this range." in page
