"""The Miners page: fleet totals, one card per miner with the tiles API's own tiles, live grid."""

import re
from datetime import timedelta
from html import unescape
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.templating import short_difficulty
from app.core.timeutil import utcnow
from app.miners.ingest import record_samples
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


def card_of(page: str, miner_id: str) -> str:
    start = page.index(f'data-miner-id="{miner_id}"')
    return page[start : page.index("</article>", start)]


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
    assert tile_value(response.text, "fleet-hashrate") == "0.00 H/s"


def test_each_card_shows_the_tiles_api_values_and_intents(
    web_client: TestClient, client: TestClient, db_session: Session
) -> None:
    add_samples(db_session, "rig-ok")
    add_samples(db_session, "rig-hot", {"temperature_c": 86.5, "hashrate_1m": 0.0})
    add_samples(
        db_session,
        "rig-stale-shares",
        {"shares_accepted": 90, "shares_stale": 8, "temperature_c": None, "last_share_at": None},
    )
    page = web_client.get("/miners").text
    for miner_id in ("rig-ok", "rig-hot", "rig-stale-shares"):
        shown = tiles_in(card_of(page, miner_id))
        assert shown == page_tiles(client, miner_id)
        assert [tile["label"] for tile in shown] == [
            "Effective hashrate",
            "Stale rate",
            "Temperature",
            "Last accepted share",
        ]
    assert tiles_in(card_of(page, "rig-hot"))[2]["intent"] == "critical"
    assert tiles_in(card_of(page, "rig-stale-shares"))[1]["value"] == "8.16%"


def test_each_card_carries_its_state_as_glyph_class_and_word(
    web_client: TestClient, db_session: Session
) -> None:
    add_samples(db_session, "a-ok")
    add_samples(db_session, "b-warning", {"temperature_c": 81.0})
    add_samples(db_session, "c-critical", {"shares_accepted": 90, "shares_stale": 10})
    add_samples(db_session, "d-stale", {"recorded_at": utcnow() - timedelta(hours=1)})
    page = web_client.get("/miners").text
    expected = {
        "a-ok": ("ok", "OK"),
        "b-warning": ("warning", "Warning"),
        "c-critical": ("critical", "Critical"),
        "d-stale": ("stale", "Stale"),
    }
    for miner_id, (state, word) in expected.items():
        badge = BADGE.search(card_of(page, miner_id))
        assert badge is not None
        assert (badge["state"], badge["word"]) == (state, word)


def test_fleet_totals_count_every_miner_and_sum_effective_hashrate(
    web_client: TestClient, db_session: Session
) -> None:
    add_samples(db_session, "rig-1", {"hashrate_1m": 1000.0})
    add_samples(
        db_session, "rig-2", {"hashrate_1m": 2000.0, "shares_accepted": 90, "shares_stale": 10}
    )
    add_samples(
        db_session, "rig-3", {"hashrate_1m": 500.0, "recorded_at": utcnow() - timedelta(hours=2)}
    )
    page = web_client.get("/miners").text
    assert tile_value(page, "fleet-miners") == "3"
    assert tile_value(page, "fleet-reporting") == "2"
    # 1000 + 2000 * (1 - 0.1) + 500: each miner's newest sample, as the mobile summary counts.
    assert tile_value(page, "fleet-hashrate") == "3.30 kH/s"


def test_a_card_shows_pool_profile_last_seen_and_links_to_the_miner(
    web_client: TestClient, db_session: Session
) -> None:
    add_samples(db_session, "rig #1", {"pool": "eu.pool:4444", "profile": "gpu"})
    card = card_of(web_client.get("/miners").text, "rig #1")
    assert "eu.pool:4444" in card
    assert "gpu" in card
    assert re.search(r'<time datetime="[^"]+Z"[^>]*>\d+s ago</time>', card)
    assert f'href="/miners/{quote("rig #1", safe="")}"' in card


def test_a_card_links_to_a_page_that_opens(web_client: TestClient, db_session: Session) -> None:
    add_samples(db_session, "rig #1")
    href = re.search(r'<h2 id="miner-card-1"><a href="([^"]+)"', web_client.get("/miners").text)
    assert href is not None
    assert web_client.get(href[1]).status_code == 200


def test_htmx_navigation_gets_the_content_and_a_poll_gets_only_the_grid(
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


def test_the_full_page_polls_the_grid_every_ten_seconds(web_client: TestClient) -> None:
    page = web_client.get("/miners")
    assert page.text.startswith("<!doctype html>")
    assert 'hx-get="/miners" hx-trigger="every 10s" hx-target="#miners-fleet"' in page.text
    assert 'data-page-section="miners"' in page.text
    assert page.headers["Vary"] == "HX-Request, HX-Target, HX-History-Restore-Request, Cookie"


def test_more_than_a_hundred_miners_are_paged_by_id(
    web_client: TestClient, db_session: Session
) -> None:
    now = utcnow()
    record_samples(
        session=db_session,
        rows=[{"miner_id": f"rig-{n:03d}", "recorded_at": now} for n in range(101)],
    )
    first = web_client.get("/miners").text
    assert first.count('class="card miner-card"') == 100
    assert 'data-miner-id="rig-099"' in first
    next_url = unescape(re.search(r'<a class="button" href="([^"]+)">Next page</a>', first)[1])
    second = web_client.get(next_url).text
    assert re.findall(r'data-miner-id="([^"]+)"', second) == ["rig-100"]
    assert "Next page" not in second
    assert '<a class="button" href="/miners">First page</a>' in second
    # The totals are the fleet's, whatever the page.
    assert tile_value(second, "fleet-miners") == "101"
    # The poll refreshes the same page.
    assert f'hx-get="{next_url.replace("&", "&amp;")}"' in second


def test_a_forged_cursor_is_a_clear_error_page(web_client: TestClient) -> None:
    response = web_client.get("/miners", params={"cursor": "not-a-cursor"})
    assert response.status_code == 422
    assert "This page link is not valid" in response.text
    assert "<!doctype html>" in response.text


def test_a_read_only_session_sees_the_fleet(
    read_web_client: TestClient, db_session: Session, client: TestClient
) -> None:
    add_samples(db_session, "rig-1")
    page = read_web_client.get("/miners")
    assert page.status_code == 200
    assert tiles_in(card_of(page.text, "rig-1")) == page_tiles(client, "rig-1")


def test_a_miner_whose_newest_sample_was_pruned_still_has_a_card(
    web_client: TestClient, db_session: Session, engine: Any
) -> None:
    add_samples(db_session, "rig-1")
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM minersample")
    card = card_of(web_client.get("/miners").text, "rig-1")
    assert "pruned" in card
    assert tiles_in(card) == []
