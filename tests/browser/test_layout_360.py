"""Every HTML page at 360 px (and 1280 px), light and dark: nothing scrolls sideways.

The pages are every route that renders HTML (app/*/pages), each with data to show: the
demo fleet, a rule that fires (so an incident), a channel, a silence, a main database
for the cross-service pages. At 360 px the nav wraps so every section is in reach, the
event log stacks its rows with the message in view, and filters fold behind a button.
Screenshots land in test-artifacts/screenshots/layout-<page>-<width>-<scheme>.png.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session, col, select

from app.alerts.evaluator import evaluate_once
from app.auth import tokens
from app.core.config import Settings
from app.core.timeutil import utcnow
from app.main import create_app
from app.miners.ingest import record_samples
from app.models import AlertRule, Channel, Incident, Silence
from app.ops.seed import seed_demo
from tests.browser.conftest import ADMIN_TOKEN, Browsing, LiveServer, new_context
from tests.browser.test_pages import SCHEMES, VARIANTS, assert_schemes_differ, check_page
from tests.support.browser import require_browser_prerequisites, sign_in
from tests.support.db import migrated_engine
from tests.support.maindb_fixtures import main_database
from tests.support.servers import running_server

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

NARROW = {"width": 360, "height": 800}

# Tables that scroll inside their wrapper: columns cut off at the edge of the screen.
CUT_TABLES = """() => Array.from(document.querySelectorAll('.table-wrap'))
  .filter(wrap => wrap.scrollWidth > wrap.clientWidth + 1)
  .map(wrap => (wrap.querySelector('table') || wrap).id + ' ' + wrap.scrollWidth + '/'
    + wrap.clientWidth)"""


@dataclass(frozen=True)
class LayoutServer(LiveServer):
    incident_id: int
    read_token_id: str


def _arrange(session: Session) -> None:
    """The demo fleet, a hot miner with a rule (it fires), a channel and a silence."""
    now = utcnow()
    seed_demo(session=session, now=now)
    session.add(
        AlertRule(
            id="layout-hot", name="Rig too hot", kind="miner_temperature",
            params={"aboveC": 90}, severity="critical", created_at=now, updated_at=now,
        )
    )  # fmt: skip
    session.add(
        Channel(id="layout-hook", name="Ops webhook", url="json://watcher:hunter2@127.0.0.1:9/hook",
                enabled=False, last_error="connection refused", created_at=now, updated_at=now)
    )  # fmt: skip
    session.add(
        Silence(id="layout-silence", matchers={"subject": "xmrig"}, starts_at=now,
                ends_at=now + timedelta(hours=2), comment="fan swap on the rack by the door",
                created_by="PRISM_ADMIN_TOKEN", created_at=now)
    )  # fmt: skip
    session.commit()
    record_samples(
        session=session,
        rows=[{"miner_id": "rig-hot-1", "recorded_at": now, "temperature_c": 96.5,
               "hashrate_1m": 5e6}],
    )  # fmt: skip


# A module's own `live_server`: the conftest's fixtures (browsing) use this one here.
@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LayoutServer]:
    require_browser_prerequisites()
    directory: Path = tmp_path_factory.mktemp("browser-layout")
    url = f"sqlite:///{directory / 'console.db'}"
    with (
        main_database("sqlite", directory) as main,
        migrated_engine(url, slow_query_ms=60_000) as engine,
    ):
        settings = Settings(
            api_db_url=url,
            main_db_url=main.url,
            admin_token=ADMIN_TOKEN,
            auto_migrate=False,
            log_level="WARNING",
            retention_interval_minutes=0,
            alert_interval_seconds=0,
            _env_file=None,
        )
        with Session(engine, expire_on_commit=False) as session:
            _arrange(session)
            read_row, read_token = tokens.create_token(
                session=session, name="browser-read", scope="read"
            )
        evaluate_once(engine, settings, now=utcnow())
        with Session(engine) as session:
            incident = session.exec(
                select(Incident).where(col(Incident.rule_id) == "layout-hot")
            ).first()
        assert incident is not None and incident.id is not None
        with running_server(create_app(settings)) as base_url:
            yield LayoutServer(base_url, ADMIN_TOKEN, read_token, engine, incident.id, read_row.id)


def every_page(*, incident_id: int, read_token_id: str) -> dict[str, str]:
    """Every route that renders HTML for a signed-in admin, by a name for the screenshot
    (GET /settings/tokens/new only redirects to the form on /settings)."""
    return {
        "overview": "/",
        "agents": "/agents",
        "agent-detail": "/agents/agent-1",
        "agent-events": "/agents/agent-1/events",
        "agent-history": "/agents/agent-1/history",
        "events": "/events",
        "miners": "/miners",
        "miner-detail": "/miners/xmrig",
        "miner-hot": "/miners/rig-hot-1",
        "runbooks": "/runbooks",
        "runbook-detail": "/runbooks/runbook-1",
        "alerts": "/alerts",
        "rules": "/alerts/rules",
        "rule-new": "/alerts/rules?kind=agent_status",
        "rule": "/alerts/rules/layout-hot",
        "rule-delete": "/alerts/rules/layout-hot/delete",
        "incidents": "/incidents",
        "incident": f"/incidents/{incident_id}",
        "silences": "/silences",
        "channels": "/alerts/channels",
        "channel": "/alerts/channels/layout-hook",
        "channel-delete": "/alerts/channels/layout-hook/delete",
        "audit": "/audit",
        "settings": "/settings",
        "token-revoke": f"/settings/tokens/{read_token_id}/revoke",
        "cross": "/cross",
        "cross-users": "/cross/users",
        "cross-user": "/cross/users/1",
        "cross-roadchain": "/cross/roadchain",
        "cross-reconciliation": "/cross/reconciliation",
        "cross-tasks": "/cross/tasks",
        "cross-timeline": "/cross/timeline",
    }


PAGE_NAMES = list(every_page(incident_id=0, read_token_id=""))


@pytest.fixture(scope="module")
def admin_cookies(browser: Browser, live_server: LayoutServer) -> dict[str, Any]:
    context = new_context(browser, live_server)
    try:
        sign_in(context.new_page(), live_server.base_url, live_server.admin_token)
        state: dict[str, Any] = dict(context.storage_state())
    finally:
        context.close()
    return state


@pytest.fixture(scope="module")
def variant_pages(
    browser: Browser, live_server: LayoutServer, admin_cookies: dict[str, Any]
) -> Iterator[dict[tuple[str, int], Page]]:
    """One signed-in page per (scheme, width), shared by the page tests."""
    contexts = {
        (scheme, width): new_context(
            browser,
            live_server,
            color_scheme=scheme,
            viewport={"width": width, "height": 900},
            storage_state=admin_cookies,
        )
        for scheme, width in VARIANTS
    }
    yield {variant: context.new_page() for variant, context in contexts.items()}
    for context in contexts.values():
        context.close()


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_no_page_scrolls_sideways_at_360_px_nor_at_1280(
    browsing: Browsing,
    live_server: LayoutServer,
    variant_pages: dict[tuple[str, int], Page],
    name: str,
) -> None:
    path = every_page(incident_id=live_server.incident_id, read_token_id=live_server.read_token_id)[
        name
    ]
    backgrounds: dict[str, set[str]] = {scheme: set() for scheme in SCHEMES}
    for (scheme, width), page in variant_pages.items():
        browsing.watched(page)
        response = page.goto(path)
        assert response is not None and response.status == 200, f"{name}: {response}"
        assert page.url.endswith(path), f"{name} went to {page.url}"
        viewport = page.evaluate("() => window.innerWidth")
        assert viewport == width
        # check_page: scrollWidth of the document against its clientWidth, and a screenshot.
        backgrounds[scheme].add(check_page(page, f"layout-{name}", width, scheme))
        if width == 360:
            # Tables stack their rows instead of cutting columns off.
            assert page.evaluate(CUT_TABLES) == [], f"{name}: columns cut at 360 px"
    assert_schemes_differ(name, backgrounds)


def test_the_login_page_does_not_scroll_sideways_at_360_px(browsing: Browsing) -> None:
    page = browsing.new_page(viewport=NARROW)
    page.goto("/login")
    check_page(page, "layout-login", 360, "light")


def test_at_360_px_every_nav_section_is_in_view_and_reachable(
    browsing: Browsing, admin_cookies: dict[str, Any]
) -> None:
    page = browsing.new_page(viewport=NARROW, storage_state=admin_cookies)
    page.goto("/")
    links = page.get_by_role("navigation", name="Main").get_by_role("link")
    labels = links.all_inner_texts()
    assert {"Overview", "Alerts", "Agents", "Events", "Runbooks", "Miners", "Settings"} <= {
        label.split()[0] for label in labels
    }, labels
    assert any(label.startswith("Cross-service") for label in labels)
    assert any(label.startswith("Audit") for label in labels)
    for index in range(links.count()):
        link = links.nth(index)
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360, (labels[index], box)
    # Who is signed in stays on the narrow frame: the token's name.
    expect(page.locator(".who-name")).to_be_visible()
    expect(page.locator(".who-name")).to_contain_text("PRISM_ADMIN_TOKEN")


def test_at_360_px_the_event_log_stacks_and_keeps_the_message_in_view(
    browsing: Browsing, admin_cookies: dict[str, Any]
) -> None:
    page = browsing.new_page(viewport=NARROW, storage_state=admin_cookies)
    page.goto("/events")
    message = page.locator("#events-table tbody tr td.event-message").first
    expect(message).to_be_visible()
    box = message.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360, box
    assert box["width"] > 200, box  # the message has the row's width, not a cut column
    wrap = page.evaluate(
        "() => { const w = document.querySelector('#events-table').closest('.table-wrap');"
        " return [w.scrollWidth, w.clientWidth]; }"
    )
    assert wrap[0] <= wrap[1] + 1, wrap  # nothing scrolls inside the table either


def test_filters_fold_behind_a_button_at_360_px_and_show_wide(
    browsing: Browsing, admin_cookies: dict[str, Any]
) -> None:
    narrow = browsing.new_page(viewport=NARROW, storage_state=admin_cookies)
    for path, field in (("/events", "#events-q"), ("/runbooks", "#runbooks-q")):
        narrow.goto(path)
        summary = narrow.locator("details.filter-fold > summary")
        expect(summary).to_be_visible()
        expect(narrow.locator(field)).to_be_hidden()
        summary.click()
        expect(narrow.locator(field)).to_be_visible()
    wide = browsing.new_page(storage_state=admin_cookies)
    for path, field in (("/events", "#events-q"), ("/runbooks", "#runbooks-q")):
        wide.goto(path)
        expect(wide.locator(field)).to_be_visible()
        expect(wide.locator("details.filter-fold > summary")).to_be_hidden()


def test_runbook_cards_carry_no_list_bullets(
    browsing: Browsing, admin_cookies: dict[str, Any]
) -> None:
    page = browsing.new_page(storage_state=admin_cookies)
    page.goto("/runbooks")
    expect(page.locator(".runbook-card").first).to_be_visible()
    styles = page.evaluate(
        "() => { const list = document.querySelector('.runbook-cards');"
        " return [getComputedStyle(list).listStyleType,"
        " getComputedStyle(list.querySelector('li')).listStyleType,"
        " getComputedStyle(list).paddingLeft]; }"
    )
    assert styles == ["none", "none", "0px"], styles
