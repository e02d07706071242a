"""The Miners page: problems first, totals per profile, one dense row per miner (sortable by
every column, filtered by health and profile), refreshed live."""

import re
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.templating import short_difficulty
from app.core.timeutil import utcnow
from app.miners.ingest import record_samples
from tests.support.factories import add_rule, add_state
from tests.web.conftest import HX

TILE = re.compile(
    r'<div class="tile(?: intent-(?P<intent>\w+))?"(?: id="(?P<id>[^"]+)")?>\s*'
    r'<div class="tile-label">(?P<label>.*?)</div>\s*'
    r'<div class="tile-value">(?P<value>.*?)</div>\s*'
    r'(?:<div class="tile-helper">(?P<helper>.*?)</div>)?',
    re.DOTALL,
)
BADGE = re.compile(r'<span class="badge status-(?P<state>\w+)">(?P<word>[^<]+)</span>')


def add_samples(session: Session, miner_id: str, *samples: dict[str, Any]) -> None:
    """Store samples the way ingest does, so the miner table points at the newest."""
    now = utcnow()
    defaults = {
        "recorded_at": now,
        "pool": "pool.example:3333",
        "profile": "rx/0",
        "hashrate_1m": 1500.0,
        "hashrate_15m": 1480.0,
        "shares_accepted": 100,
        "shares_rejected": 0,
        "shares_stale": 0,
        "temperature_c": 65.0,
        "latency_ms": 40.0,
        "last_share_at": now - timedelta(minutes=90),
        "last_share_difficulty": 15000.0,
    }
    rows = [{**defaults, **sample, "miner_id": miner_id} for sample in samples or ({},)]
    record_samples(session=session, rows=rows)


def tiles_in(html_text: str) -> list[dict[str, Any]]:
    """The tiles of a piece of page, as the tiles API writes them (without their ids)."""
    return [
        {
            "label": unescape(match["label"]),
            "value": unescape(match["value"]),
            "helper": unescape(match["helper"]) if match["helper"] is not None else None,
            "intent": match["intent"],
        }
        for match in TILE.finditer(html_text)
    ]


def api_tiles(client: TestClient, miner_id: str) -> list[dict[str, Any]]:
    response = client.get("/api/miners/tiles", params={"miner_id": miner_id})
    assert response.status_code == 200
    return [
        {key: tile[key] for key in ("label", "value", "helper", "intent")}
        for tile in response.json()["tiles"]
    ]


def page_tiles(client: TestClient, miner_id: str) -> list[dict[str, Any]]:
    """The tiles API's tiles as pages show them: difficulty in short SI units (diff 15 k)."""
    return [
        {**tile, "helper": short_difficulty(tile["helper"])} for tile in api_tiles(client, miner_id)
    ]


def row_of(page: str, miner_id: str) -> str:
    start = page.index(f'<tr id="miner-row-{miner_id}" data-miner-id="{miner_id}"')
    return page[start : page.index("</tr>", start)]


def cells(page: str, miner_id: str) -> list[str]:
    """The text of each cell of a miner's row (tags and extra spaces gone)."""
    row = row_of(page, miner_id)
    return [
        " ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split())
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
    ]


def order_of(page: str) -> list[str]:
    return re.findall(r'<tr id="miner-row-[^"]*" data-miner-id="([^"]+)"', page)


def tile_value(page: str, tile_id: str) -> str:
    match = re.search(
        rf'id="{tile_id}">\s*<div class="tile-label">[^<]*</div>\s*'
        r'<div class="tile-value">([^<]*)</div>',
        page,
    )
    assert match, tile_id
    return unescape(match[1])


def test_anonymous_visitors_are_sent_to_sign_in(anon_client: TestClient) -> None:
    response = anon_client.get("/miners", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/miners"


def test_an_anonymous_poll_asks_htmx_to_go_to_sign_in(anon_client: TestClient) -> None:
    response = anon_client.get("/miners", headers={**HX, "HX-Target": "miners-fleet"})
    assert response.headers["HX-Redirect"] == "/login?next=/miners"


def test_an_empty_fleet_says_how_miners_report(web_client: TestClient) -> None:
    response = web_client.get("/miners")
    assert response.status_code == 200
    assert "No miner has reported yet" in response.text
    assert tile_value(response.text, "fleet-miners") == "0"
    assert tile_value(response.text, "fleet-reporting") == "0 of 0"


def test_a_row_a_miner_with_its_figures_and_the_tiles_thresholds(
    web_client: TestClient, client: TestClient, db_session: Session
) -> None:
    add_samples(
        db_session,
        "rig-hot",
        {
            "hashrate_1m": 100e12,
            "profile": "sha256",
            "temperature_c": 86.5,
            "shares_accepted": 90,
            "shares_stale": 8,
            "power_w": 3250.0,
        },
    )
    client.put("/api/miners/rig-hot", json={"expectedHashrate": 110e12, "name": "S19 #4"})
    page = web_client.get("/miners").text
    name, _health, hashrate, percent, heat, stale, power, efficiency, _uptime, last = cells(
        page, "rig-hot"
    )
    assert name == "S19 #4 rig-hot sha256"
    # 100 TH/s reported, 8.16 % stale: 91.8 TH/s effective, 83.5 % of 110 TH/s, 35.4 J/TH.
    assert (hashrate, percent, heat, stale) == ("91.8 TH/s", "83.5 %", "86.5°C", "8.16%")
    assert (power, efficiency) == ("3.25 kW", "35.4 J/TH")
    assert re.fullmatch(r"\d+s ago", last)
    row = row_of(page, "rig-hot")
    assert '<td class="num intent-critical">86.5°C</td>' in row  # the tile's 85 °C limit
    assert "intent-critical" in row.split("8.16%")[0].rsplit("<td", 1)[1]
    href = re.search(r'<a href="([^"]+)">S19 #4</a>', row)
    assert href is not None and web_client.get(href[1]).status_code == 200


def test_worst_health_first_then_the_oldest_problem(
    web_client: TestClient, db_session: Session
) -> None:
    for miner_id in ("a-ok", "b-warn", "c-crit-new", "d-crit-old", "e-pending"):
        add_samples(db_session, miner_id)
    add_rule(db_session, "hot", severity="critical")
    add_rule(db_session, "warm", severity="warning")
    now = utcnow()
    add_state(db_session, "hot", "c-crit-new", since=now - timedelta(minutes=5))
    add_state(db_session, "hot", "d-crit-old", since=now - timedelta(hours=3))
    add_state(db_session, "warm", "b-warn")
    add_state(db_session, "warm", "e-pending", state="pending")
    page = web_client.get("/miners").text
    assert order_of(page) == ["d-crit-old", "c-crit-new", "b-warn", "e-pending", "a-ok"]
    assert 'aria-sort="ascending"' in page.split('id="sort-health"')[0].rsplit("<th", 1)[1]
    reverse = web_client.get("/miners", params={"sort": "health", "order": "desc"}).text
    assert order_of(reverse) == ["a-ok", "e-pending", "b-warn", "c-crit-new", "d-crit-old"]


SORTS = [
    ("miner", "asc", ["alpha", "bravo", "charlie"]),
    ("hashrate", "asc", ["charlie", "alpha", "bravo"]),
    ("hashrate", "desc", ["bravo", "alpha", "charlie"]),
    ("temperature", "desc", ["charlie", "bravo", "alpha"]),
    # Equal stale rates: worst first among them (charlie is furthest below its expected rate).
    ("stale", "desc", ["bravo", "charlie", "alpha"]),
    ("power", "desc", ["alpha", "charlie", "bravo"]),  # bravo reports no power: last
    ("efficiency", "desc", ["charlie", "alpha", "bravo"]),
    ("percent", "asc", ["charlie", "alpha", "bravo"]),
    ("last", "asc", ["alpha", "charlie", "bravo"]),
]


@pytest.mark.parametrize(("key", "order", "expected"), SORTS)
def test_every_column_sorts(
    web_client: TestClient,
    client: TestClient,
    db_session: Session,
    key: str,
    order: str,
    expected: list[str],
) -> None:
    now = utcnow()
    add_samples(
        db_session,
        "alpha",
        {"recorded_at": now - timedelta(seconds=30), "hashrate_1m": 2e12, "power_w": 100.0},
    )
    add_samples(
        db_session,
        "bravo",
        {"hashrate_1m": 3e12, "temperature_c": 70.0, "shares_accepted": 50, "shares_stale": 5},
    )
    add_samples(
        db_session,
        "charlie",
        {
            "recorded_at": now - timedelta(seconds=10),
            "hashrate_1m": 1e12,
            "temperature_c": 80.0,
            "power_w": 90.0,
        },
    )
    for miner_id in ("alpha", "bravo", "charlie"):
        client.put(f"/api/miners/{miner_id}", json={"expectedHashrate": 2.5e12})
    page = web_client.get("/miners", params={"sort": key, "order": order}).text
    assert order_of(page) == expected
    header = page.split(f'id="sort-{key}"')[0].rsplit("<th", 1)[1]
    assert f'aria-sort="{"descending" if order == "desc" else "ascending"}"' in header
    # The header link of the sorted column turns the order around; the filters stay.
    link = re.search(rf'<a id="sort-{key}" href="([^"]+)"', page)
    assert link is not None
    other = "asc" if order == "desc" else "desc"
    assert unescape(link[1]) == f"/miners?sort={key}&order={other}"


def test_a_first_click_sorts_the_worst_end_first(
    web_client: TestClient, db_session: Session
) -> None:
    add_samples(db_session, "rig-1")
    page = web_client.get("/miners").text
    links = dict(re.findall(r'<a id="sort-(\w+)" href="([^"]+)"', page))
    assert unescape(links["temperature"]) == "/miners?sort=temperature&order=desc"
    assert unescape(links["hashrate"]) == "/miners?sort=hashrate&order=asc"


def test_filters_by_health_and_profile_keep_the_order(
    web_client: TestClient, db_session: Session
) -> None:
    add_samples(db_session, "cpu-1", {"profile": "rx/0"})
    add_samples(db_session, "cpu-2", {"profile": "rx/0"})
    add_samples(db_session, "asic-1", {"profile": "sha256", "hashrate_1m": 1e14})
    add_rule(db_session, "hot", severity="critical")
    add_state(db_session, "hot", "cpu-2")
    problems = web_client.get("/miners", params={"health": "problems"}).text
    assert order_of(problems) == ["cpu-2"]
    rx = web_client.get("/miners", params={"profile": "rx/0"}).text
    assert order_of(rx) == ["cpu-2", "cpu-1"]
    assert "Showing 2 of 2 miners" in rx
    # The poll and the sort links keep the filters.
    assert 'hx-get="/miners?profile=rx%2F0"' in rx
    none = web_client.get("/miners", params={"profile": "rx/0", "health": "ok"}).text
    assert order_of(none) == ["cpu-1"]
    nothing = web_client.get("/miners", params={"profile": "scrypt"}).text
    assert "No miner matches these filters" in nothing


def test_totals_are_per_profile_and_leave_out_stale_miners(
    web_client: TestClient, db_session: Session
) -> None:
    add_samples(db_session, "cpu-1", {"profile": "rx/0", "hashrate_1m": 1000.0})
    add_samples(
        db_session,
        "cpu-2",
        {"profile": "rx/0", "hashrate_1m": 2000.0, "shares_accepted": 90, "shares_stale": 10},
    )
    add_samples(
        db_session,
        "cpu-3",
        {"profile": "rx/0", "hashrate_1m": 500.0, "recorded_at": utcnow() - timedelta(hours=2)},
    )
    add_samples(
        db_session, "asic-1", {"profile": "sha256", "hashrate_1m": 100e12, "power_w": 3000.0}
    )
    page = web_client.get("/miners").text
    assert tile_value(page, "fleet-miners") == "4"
    assert tile_value(page, "fleet-reporting") == "3 of 4"
    assert 'class="tile intent-warning" id="fleet-reporting"' in page
    # 1000 + 2000 * (1 - 0.1): the stale cpu-3 is not summed; TH/s never added to H/s.
    totals = page.split('id="profile-totals"')[1].split("</table>")[0]
    rx = totals.split('data-profile="rx/0"')[1].split("</tr>")[0]
    assert "2.80 kH/s" in rx and "(1 silent)" in rx
    sha = totals.split('data-profile="sha256"')[1].split("</tr>")[0]
    assert "100 TH/s" in sha and "3 kW" in sha and "30 J/TH" in sha


def test_a_stale_miner_is_greyed_and_marked_as_of(
    web_client: TestClient, db_session: Session
) -> None:
    add_samples(db_session, "rig-old", {"recorded_at": utcnow() - timedelta(minutes=51)})
    page = web_client.get("/miners").text
    row = row_of(page, "rig-old")
    assert 'class="is-stale"' in row
    assert cells(page, "rig-old")[-1] == "as of 51m ago"
    assert "Stale" in cells(page, "rig-old")[1]


def test_htmx_navigation_gets_the_content_and_a_poll_gets_only_the_table(
    web_client: TestClient, db_session: Session
) -> None:
    add_samples(db_session, "rig-1")
    fragment = web_client.get("/miners", headers=HX)
    assert "<html" not in fragment.text
    assert fragment.text.startswith("<title>Miners")
    assert 'hx-trigger="every 10s"' in fragment.text
    poll = web_client.get("/miners", headers={**HX, "HX-Target": "miners-fleet"})
    assert poll.status_code == 200
    assert poll.text.startswith('<div id="miners-fleet">')
    assert "<title>" not in poll.text
    assert 'data-miner-id="rig-1"' in poll.text
    for response in (fragment, poll):
        assert response.headers["Vary"].startswith("HX-Request, HX-Target")


def test_the_full_page_polls_the_table_every_ten_seconds(web_client: TestClient) -> None:
    page = web_client.get("/miners")
    assert page.text.startswith("<!doctype html>")
    assert (
        'hx-get="/miners" hx-trigger="every 10s" hx-target="#miners-fleet" '
        'hx-swap="morph:outerHTML"'
    ) in page.text
    assert 'data-page-section="miners"' in page.text
    assert page.headers["Vary"] == "HX-Request, HX-Target, HX-History-Restore-Request, Cookie"


def test_more_than_a_hundred_miners_are_paged(web_client: TestClient, db_session: Session) -> None:
    now = utcnow()
    record_samples(
        session=db_session,
        rows=[{"miner_id": f"rig-{n:03d}", "recorded_at": now} for n in range(101)],
    )
    first = web_client.get("/miners", params={"sort": "miner"}).text
    assert len(order_of(first)) == 100
    assert "page 1 of 2" in first
    next_url = unescape(re.search(r'<a class="button" href="([^"]+)">Next page</a>', first)[1])
    assert next_url == "/miners?sort=miner&page=2"
    second = web_client.get(next_url).text
    assert order_of(second) == ["rig-100"]
    assert "Next page" not in second
    assert '<a class="button" href="/miners?sort=miner">First page</a>' in second
    # The totals are the fleet's, whatever the page; the poll refreshes the same page.
    assert tile_value(second, "fleet-miners") == "101"
    assert f'hx-get="{next_url.replace("&", "&amp;")}"' in second


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sort": "colour"}, "sort: one of miner, health"),
        ({"sort": "hashrate", "order": "sideways"}, "order: asc or desc"),
        ({"health": "grumpy"}, "health: one of problems"),
        ({"page": "-1"}, "page: a page number from 1"),
        ({"page": "x" * 500}, "page: a page number from 1"),
    ],
)
def test_a_bad_order_filter_or_page_is_a_clear_error_page(
    web_client: TestClient, db_session: Session, params: dict[str, str], message: str
) -> None:
    add_samples(db_session, "rig-1")
    response = web_client.get("/miners", params=params)
    assert response.status_code == 422
    assert message in unescape(response.text)
    assert "<!doctype html>" in response.text
    assert order_of(response.text) == ["rig-1"]  # the fleet is still shown, in its default order


def test_a_read_only_session_sees_the_fleet(
    read_web_client: TestClient, db_session: Session
) -> None:
    add_samples(db_session, "rig-1")
    page = read_web_client.get("/miners")
    assert page.status_code == 200
    assert order_of(page.text) == ["rig-1"]


def test_a_miner_whose_newest_sample_was_pruned_still_has_a_row(
    web_client: TestClient, db_session: Session, engine: Any
) -> None:
    add_samples(db_session, "rig-1")
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM minersample")
    assert cells(web_client.get("/miners").text, "rig-1")[2] == "—"
