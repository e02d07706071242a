"""Availability on the pages: 24 h / 30 d uptime and the 90-day bar on the Agents list and
Miners cards, and on each detail page the figures, the bar and the outages it links to."""

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.timeutil import utcnow
from app.models import Agent, AgentStatusChange, Miner, MinerSample


def _agent_with_an_outage(session: Session) -> None:
    now = utcnow()
    outage = now - timedelta(days=10)
    session.add(Agent(id="a1", name="Agent one", domain="ops", last_seen_at=now))
    session.flush()
    session.add_all(
        [
            AgentStatusChange(
                agent_id="a1", at=now - timedelta(days=100), from_status=None, to_status="online"
            ),
            AgentStatusChange(agent_id="a1", at=outage, from_status="online", to_status="offline"),
            AgentStatusChange(
                agent_id="a1",
                at=outage + timedelta(hours=2, minutes=13),
                from_status="offline",
                to_status="online",
            ),
        ]
    )
    session.commit()


def test_the_agent_page_shows_its_uptime_bar_and_outages(
    web_client: TestClient, db_session: Session
) -> None:
    _agent_with_an_outage(db_session)
    page = web_client.get("/agents/a1").text
    figures = re.search(r'<p id="availability-figures">(.*?)</p>', page, re.S)
    assert figures is not None
    text = " ".join(re.sub(r"<[^>]+>", " ", figures.group(1)).split())
    assert "24 h 100 % · 30 d 99.692 % · 90 d 99.897 %" in text
    assert page.count('class="uptime-cell') == 90
    # The day (or two, across midnight) holding the outage links to it in the list below.
    links = re.findall(r'href="#outage-(\d+)"', page)
    assert links and set(links) == {"0"}
    assert re.search(r'<li id="outage-0">.*2 h 13 min</li>', page)


def test_the_agents_list_shows_each_agents_uptime(
    web_client: TestClient, db_session: Session
) -> None:
    _agent_with_an_outage(db_session)
    page = web_client.get("/agents").text
    assert "99.692 %" in page
    assert 'class="uptime-bar compact"' in page
    assert 'href="/agents/a1#outage-0"' in page


def test_a_miner_page_and_row_show_uptime(web_client: TestClient, db_session: Session) -> None:
    now = utcnow()
    start = now - timedelta(hours=2)
    samples = [
        MinerSample(miner_id="rig", recorded_at=at, hashrate_1m=1e12)
        for at in (start, now - timedelta(hours=1), now - timedelta(seconds=1))
    ]
    db_session.add_all(samples)
    db_session.flush()
    newest = samples[-1]
    db_session.add(
        Miner(
            miner_id="rig",
            first_seen_at=start,
            last_recorded_at=newest.recorded_at,
            last_sample_id=newest.id,
        )
    )
    db_session.commit()
    detail = web_client.get("/miners/rig").text
    assert 'id="availability"' in detail and 'id="outages"' in detail
    assert detail.count('class="uptime-cell') == 90
    rows = web_client.get("/miners").text
    assert 'class="uptime-figures"' in rows
    assert 'href="/miners/rig#outage-0"' in rows


def test_an_agent_never_seen_has_no_known_uptime(
    web_client: TestClient, db_session: Session
) -> None:
    db_session.add(Agent(id="new", name="New", domain="ops"))
    db_session.commit()
    page = web_client.get("/agents/new").text
    assert "30 d —" in " ".join(re.sub(r"<[^>]+>", " ", page).split())
