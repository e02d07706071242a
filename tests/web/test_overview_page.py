"""The overview page: status counts, metric tiles, miner totals, recent events, live region."""

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.timeutil import utcnow
from app.miners.ingest import record_samples
from app.models import AgentEvent, Metric
from tests.support.factories import add_rule, add_state, make_agent
from tests.web.conftest import HX


def _arrange_fleet(db_session: Session) -> None:
    now = utcnow()
    db_session.add_all(
        [
            make_agent("a-on", name="Alpha", domain="ops", status="online", last_seen_at=now),
            make_agent("a-on2", name="Beta", domain="ops", status="online", last_seen_at=now),
            make_agent("a-deg", name="Gamma", domain="data", status="degraded", last_seen_at=now),
            # Reported online but silent for an hour: shown offline.
            make_agent(
                "a-quiet",
                name="Delta",
                domain="data",
                status="online",
                last_seen_at=now - timedelta(hours=1),
            ),
        ]
    )
    db_session.commit()


def test_anonymous_visitors_are_sent_to_sign_in(anon_client: TestClient) -> None:
    response = anon_client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/")


def test_counts_agents_by_shown_status_with_links_to_the_filtered_list(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange_fleet(db_session)
    page = web_client.get("/").text
    online = page.split('id="count-online"')[1].split("</div>\n      </div>")[0]
    degraded = page.split('id="count-degraded"')[1].split('id="count-offline"')[0]
    offline = page.split('id="count-offline"')[1].split("</section>")[0]
    assert '<div class="tile-value">2</div>' in online
    assert '<div class="tile-value">1</div>' in degraded
    assert '<div class="tile-value">1</div>' in offline  # the silent agent
    for status in ("online", "degraded", "offline"):
        assert f'href="/agents?status={status}"' in page
        assert f'class="badge status-{status}"' in page


def test_shows_every_metric_tile_with_its_status(
    web_client: TestClient, db_session: Session
) -> None:
    db_session.add(
        Metric(
            metric_id="latency",
            title="Gateway P99 Latency",
            value="420ms",
            caption="Last 5m",
            status="warning",
        )
    )
    db_session.commit()
    page = web_client.get("/").text
    tile = page.split('id="metric-latency"')[1].split("</div></div>")[0]
    assert "Gateway P99 Latency" in tile
    assert "420ms" in tile
    assert "Last 5m" in tile
    assert 'class="tile intent-warning" id="metric-latency"' in page


def test_miner_totals_use_the_tile_formats(web_client: TestClient, db_session: Session) -> None:
    now = utcnow()
    record_samples(
        session=db_session,
        rows=[
            {"miner_id": "rig-a", "recorded_at": now, "hashrate_1m": 1000.0, "temperature_c": 70},
            {"miner_id": "rig-b", "recorded_at": now, "hashrate_1m": 500.0, "temperature_c": 86},
            {"miner_id": "rig-c", "recorded_at": now - timedelta(hours=2), "hashrate_1m": 0.0},
        ],
    )
    page = web_client.get("/").text
    assert "2 / 3" in page.split('id="miners-reporting"')[1].split("</div></div>")[0]
    assert "1.50 kH/s" in page.split('id="fleet-hashrate-1"')[1].split("</div></div>")[0]
    hottest = page.split('id="hottest-miner"')[1].split("</div></div>")[0]
    assert "86.0°C" in hottest
    assert "rig-b" in hottest
    assert 'class="tile intent-critical" id="hottest-miner"' in page


def test_hashrate_is_totalled_per_profile_and_silence_turns_reporting_warning(
    web_client: TestClient, db_session: Session
) -> None:
    now = utcnow()
    record_samples(
        session=db_session,
        rows=[
            {"miner_id": "cpu", "recorded_at": now, "profile": "rx/0", "hashrate_1m": 7000.0},
            {"miner_id": "asic", "recorded_at": now, "profile": "sha256d", "hashrate_1m": 95e12},
            {
                "miner_id": "asic-old",
                "recorded_at": now - timedelta(hours=1),
                "profile": "sha256d",
                "hashrate_1m": 90e12,
            },
        ],
    )
    page = web_client.get("/").text
    tiles = page.split('id="miner-totals"')[1].split("</section>")[0]
    assert re.findall(r'<div class="tile-label">([^<]+) hashrate</div>', tiles) == [
        "rx/0",
        "sha256d",
    ]
    assert "7.00 kH/s" in tiles.split('id="fleet-hashrate-1"')[1].split("</div></div>")[0]
    sha = tiles.split('id="fleet-hashrate-2"')[1].split("</div></div>")[0]
    assert "95.0 TH/s" in sha and "1 of 2 miners reporting" in sha  # the silent one not summed
    assert 'class="tile intent-warning" id="miners-reporting"' in page


def test_lists_the_ten_newest_events_linking_to_their_agent(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange_fleet(db_session)
    now = utcnow()
    db_session.add_all(
        AgentEvent(
            id=f"e{index:02}",
            agent_id="a-deg",
            kind="warn",
            at=now - timedelta(minutes=index),
            message=f"message number {index:02}",
        )
        for index in range(12)
    )
    db_session.commit()
    events = web_client.get("/").text.split('id="recent-events"')[1].split("</ul>")[0]
    assert events.count("<li>") == 10
    assert "message number 00" in events
    assert "message number 09" in events
    assert "message number 10" not in events
    assert '<a href="/agents/a-deg">Gamma</a>' in events


def test_an_empty_console_reads_sensibly(web_client: TestClient) -> None:
    page = web_client.get("/").text
    assert "No events yet." in page
    assert "No metric tiles yet." in page
    assert "0 / 0" in page
    assert "no temperature reported" in page


def test_the_live_region_polls_itself_and_is_sent_alone_when_targeted(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange_fleet(db_session)
    full = web_client.get("/")
    assert full.text.startswith("<!doctype html>")
    # Morphed in place, not replaced: scroll, focus and open reasons stay.
    assert (
        'hx-get="/" hx-trigger="every 15s" hx-target="#overview-live" hx-swap="morph:outerHTML"'
    ) in full.text
    assert "HX-Request" in full.headers["Vary"]

    fragment = web_client.get("/", headers=HX)
    assert fragment.text.startswith("<title>Overview · Prism Console</title>")
    assert "<html" not in fragment.text
    assert "<h1>Overview</h1>" in fragment.text

    live = web_client.get("/", headers={**HX, "HX-Target": "overview-live"})
    assert live.text.lstrip().startswith('<div id="overview-live">')
    assert "<h1>" not in live.text
    assert 'id="count-online"' in live.text


def test_a_read_only_session_sees_the_overview(
    read_web_client: TestClient, db_session: Session
) -> None:
    _arrange_fleet(db_session)
    response = read_web_client.get("/")
    assert response.status_code == 200
    assert 'id="count-online"' in response.text


def _down_item(page: str, subject_type: str, subject: str) -> str:
    return page.split(f'<li id="down-{subject_type}-{subject}"')[1].split("</details>")[0]


def test_names_what_is_down_or_critical_with_since_when_and_why(
    web_client: TestClient, db_session: Session
) -> None:
    _arrange_fleet(db_session)
    now = utcnow()
    record_samples(
        session=db_session,
        rows=[{"miner_id": "rig-hot", "recorded_at": now, "temperature_c": 97.0}],
    )
    add_rule(db_session, "offline", name="Agent offline", kind="agent_offline", params={})
    add_rule(db_session, "hot", name="Rig too hot", severity="critical")
    add_rule(db_session, "slow", name="Agent degraded", kind="agent_status", severity="warning")
    add_state(
        db_session, "offline", "a-quiet", subject_type="agent", since=now - timedelta(hours=1)
    )
    add_state(db_session, "hot", "rig-hot", since=now - timedelta(minutes=5), value=97.0)
    add_state(db_session, "slow", "a-deg", subject_type="agent")  # in warning: not down
    # Offline is down, whatever the severity of the rule that says so.
    add_rule(db_session, "quiet", name="Agent quiet", kind="agent_offline", severity="warning")
    add_state(db_session, "quiet", "a-on2", subject_type="agent")
    page = web_client.get("/").text
    down = page.split('id="down-list"')[1].split("</section>")[0]
    # Oldest first among the critical ones; a warning is not down.
    assert down.index('id="down-agent-a-quiet"') < down.index('id="down-miner-rig-hot"')
    assert "a-deg" not in down
    assert "(3)" in page.split('id="down-count"')[1][:20]
    assert "<strong>offline</strong>" in _down_item(page, "agent", "a-on2")
    agent = _down_item(page, "agent", "a-quiet")
    assert '<a href="/agents/a-quiet">Delta</a>' in agent
    assert "<strong>offline</strong> since" in agent
    assert re.search(r'<time datetime="[^"]+"[^>]*data-time="relative">1h ago</time>', agent)
    assert 'data-time="absolute"' in agent  # the exact time beside it
    assert "<summary>Why: Agent offline</summary>" in agent
    miner = _down_item(page, "miner", "rig-hot")
    assert '<a href="/miners/rig-hot">rig-hot</a>' in miner
    assert "<strong>critical</strong>" in miner
    assert "Rig too hot" in miner and "value 97" in miner


def test_says_so_when_nothing_is_down(web_client: TestClient, db_session: Session) -> None:
    _arrange_fleet(db_session)
    assert 'id="no-down">Nothing is down or critical.' in web_client.get("/").text
