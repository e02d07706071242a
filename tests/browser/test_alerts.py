"""The alerts pages in Debian's Chromium: every page wide and narrow in both schemes (with
screenshots), acknowledging an incident, running its runbook, creating a silence and a rule,
"Maintenance…" from a miner page, and the nav count and the Alerts page following a rule
that fires, live over the ops stream. Every page is watched for CSP errors and the like.

These tests run their own server (the shared one runs its own evaluator every 15 s): here
the evaluator is off and each test steps it with evaluate_once, published to the server's
own broadcaster, as the scheduled job would.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session, col, select

from app.alerts.evaluator import evaluate_once
from app.alerts.health import firing_count
from app.auth import tokens
from app.core.config import Settings
from app.core.timeutil import utcnow
from app.main import create_app
from app.miners.ingest import record_samples
from app.models import AlertRule, Channel, Incident, Silence
from app.ops.seed import seed_demo
from tests.browser.conftest import ADMIN_TOKEN, Browsing, LiveServer, new_context
from tests.browser.test_pages import SCHEMES, VARIANTS, assert_schemes_differ, check_page
from tests.support.browser import PageWatch, require_browser_prerequisites, sign_in
from tests.support.db import migrated_engine
from tests.support.servers import running_server

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@dataclass(frozen=True)
class AlertsServer(LiveServer):
    operate_token: str
    app: FastAPI
    settings: Settings
    incident_id: int

    def evaluate(self) -> None:
        """One evaluation cycle now, its messages on the server's ops stream."""
        evaluate_once(
            self.engine, self.settings, now=utcnow(), publisher=self.app.state.broadcaster
        )


def _arrange(session: Session) -> None:
    """The demo fleet, a hot miner with a rule that offers a runbook, a channel, silences."""
    now = utcnow()
    seed_demo(session=session, now=now)
    session.add(
        AlertRule(
            id="rig-hot", name="Rig too hot", kind="miner_temperature", params={"aboveC": 90},
            severity="critical", runbook_id="runbook-1",
            runbook_input={"service": "{subject}", "window": "now"},
            created_at=now, updated_at=now,
        )
    )  # fmt: skip
    session.add(
        Channel(id="ops-hook", name="Ops webhook", url="json://watcher:hunter2@127.0.0.1:9/hook",
                enabled=False, last_error="connection refused", created_at=now, updated_at=now)
    )  # fmt: skip
    session.commit()
    record_samples(
        session=session,
        rows=[{"miner_id": "rig-hot-1", "recorded_at": now, "temperature_c": 96.5,
               "hashrate_1m": 5e6}],
    )  # fmt: skip


# A module's own `live_server`: the conftest's fixtures (browsing, pages) use this one here.
@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertsServer]:
    require_browser_prerequisites()
    path: Path = tmp_path_factory.mktemp("browser-alerts") / "console.db"
    url = f"sqlite:///{path}"
    settings = Settings(
        api_db_url=url,
        admin_token=ADMIN_TOKEN,
        auto_migrate=False,
        log_level="WARNING",
        retention_interval_minutes=0,
        alert_interval_seconds=0,
        _env_file=None,  # type: ignore[call-arg]
    )
    with migrated_engine(url, slow_query_ms=60_000) as engine:
        with Session(engine, expire_on_commit=False) as session:
            _arrange(session)
            _, read_token = tokens.create_token(session=session, name="browser-read", scope="read")
            _, operate_token = tokens.create_token(
                session=session, name="browser-operate", scope="operate"
            )
        evaluate_once(engine, settings, now=utcnow())
        with Session(engine) as session:
            incident = session.exec(
                select(Incident).where(
                    col(Incident.subject) == "rig-hot-1", col(Incident.rule_id) == "rig-hot"
                )
            ).one()
        app = create_app(settings)
        with running_server(app) as base_url:
            yield AlertsServer(
                base_url, ADMIN_TOKEN, read_token, engine, operate_token, app, settings,
                incident.id or 0,
            )  # fmt: skip


@pytest.fixture(scope="module")
def admin_cookies(browser: Browser, live_server: AlertsServer) -> dict[str, Any]:
    context = new_context(browser, live_server)
    try:
        sign_in(context.new_page(), live_server.base_url, live_server.admin_token)
        state: dict[str, Any] = dict(context.storage_state())
    finally:
        context.close()
    return state


def _pages(server: AlertsServer) -> dict[str, str]:
    return {
        "alerts": "/alerts",
        "incidents": "/incidents",
        "incident-detail": f"/incidents/{server.incident_id}",
        "silences": "/silences",
        "rules": "/alerts/rules",
        "rule-new": "/alerts/rules?kind=agent_status",
        "rule-detail": "/alerts/rules/rig-hot",
        "channels": "/alerts/channels",
        "miner-health": "/miners/rig-hot-1",
    }


def test_every_alerts_page_reads_well_wide_and_narrow_in_both_schemes(
    browser: Browser, browsing: Browsing, live_server: AlertsServer, admin_cookies: dict[str, Any]
) -> None:
    pages = {
        (scheme, width): browsing.new_page(
            color_scheme=scheme,
            viewport={"width": width, "height": 900},
            storage_state=admin_cookies,
        )
        for scheme, width in VARIANTS
    }
    for name, path in _pages(live_server).items():
        backgrounds: dict[str, set[str]] = {scheme: set() for scheme in SCHEMES}
        for (scheme, width), page in pages.items():
            page.goto(path)
            assert page.url.endswith(path), f"{name} went to {page.url}"
            backgrounds[scheme].add(check_page(page, f"alerts-{name}", width, scheme))
        assert_schemes_differ(name, backgrounds)


def test_the_nav_count_and_the_alerts_page_follow_a_rule_that_fires(
    browsing: Browsing, live_server: AlertsServer
) -> None:
    page = browsing.signed_in(live_server.read_token)
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile("Alerts")
    ).click()
    expect(page.locator("h1")).to_have_text("Alerts")
    expect(page.locator("#alerts-live-status")).to_have_text("Live")
    page.evaluate("window.__marker = 'no-reload'")
    count = page.locator("#nav-count-alerts")
    before = int(count.get_attribute("data-count") or 0)
    assert page.locator("#alerts-live tr[data-subject='rig-live-1']").count() == 0

    with Session(live_server.engine) as session:
        now = utcnow()
        session.add(
            AlertRule(id="rig-live", name="Rig on fire", kind="miner_temperature",
                      params={"aboveC": 99}, severity="critical", created_at=now, updated_at=now)
        )  # fmt: skip
        session.commit()
        record_samples(
            session=session,
            rows=[{"miner_id": "rig-live-1", "recorded_at": now, "temperature_c": 104.0}],
        )
    live_server.evaluate()
    with Session(live_server.engine) as session:
        expected = firing_count(session)
    assert expected > before

    row = page.locator("#alerts-firing tr[data-rule-id='rig-live'][data-subject='rig-live-1']")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Rig on fire")
    expect(count).to_have_attribute("data-count", str(expected))
    expect(count).to_contain_text(str(expected))
    assert page.evaluate("window.__marker") == "no-reload"


def test_an_operator_acknowledges_an_incident_and_runs_its_runbook(
    browsing: Browsing, live_server: AlertsServer
) -> None:
    page = browsing.signed_in(live_server.operate_token)
    page.goto(f"/incidents/{live_server.incident_id}")
    expect(page.locator("#incident-state")).to_have_attribute("data-state", "open")
    page.locator("#ack-form").get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#incident-outcome")).to_contain_text("Acknowledged by browser-operate")
    expect(page.locator("#incident-state")).to_have_attribute("data-state", "acknowledged")
    expect(page.locator("#incident-timeline li[data-type='acknowledged']")).to_have_count(1)

    run = page.locator("#run-form")
    expect(run.get_by_label(re.compile("^Service"))).to_have_value("rig-hot-1")
    run.get_by_role("button", name=re.compile("^Run ")).click()
    outcome = page.locator("#incident-outcome")
    expect(outcome).to_contain_text("is queued")
    run_id = outcome.get_attribute("data-run-id")
    assert run_id
    entry = page.locator("#incident-timeline li[data-type='runbook_run']", has_text=run_id)
    expect(entry).to_have_count(1)


def test_an_operator_creates_a_silence_and_ends_it(
    browsing: Browsing, live_server: AlertsServer
) -> None:
    page = browsing.signed_in(live_server.operate_token)
    page.goto("/silences")
    form = page.locator("#silence-form")
    form.get_by_label("Subject type").select_option("miner")
    form.get_by_label("Subject (agent or miner id)").fill("gpu-rig-01")
    form.get_by_label("For", exact=True).select_option("1")
    form.get_by_label("Comment", exact=True).fill("browser test: fan swap")
    form.get_by_role("button", name="Silence").click()
    expect(page.locator("#silences-outcome")).to_contain_text("created")
    row = page.locator("#silences-active tr", has_text="fan swap")
    expect(row).to_have_count(1)
    row.get_by_role("button", name=re.compile("End now")).click()
    expect(page.locator("#silences-outcome")).to_contain_text("ended")
    expect(page.locator("#silences-ended tr", has_text="fan swap")).to_have_count(1)


def test_maintenance_from_a_miner_page_puts_it_in_maintenance(
    browsing: Browsing, live_server: AlertsServer
) -> None:
    page = browsing.signed_in(live_server.operate_token)
    page.goto("/miners/xmrig-edge")
    page.get_by_text("Maintenance…").click()
    form = page.locator("#maintenance-form")
    form.get_by_label("Comment", exact=True).fill("browser test: repasting")
    form.get_by_role("button", name="Start maintenance").click()
    expect(page.locator("#subject-alerts")).to_have_attribute("data-health", "maintenance")
    expect(page.locator(".maintenance-note")).to_contain_text("repasting")
    expect(page.locator("h1")).to_contain_text("xmrig-edge")
    page.locator(".maintenance-note").get_by_role("button", name="End maintenance").click()
    expect(page.locator(".maintenance-note")).to_have_count(0)
    with Session(live_server.engine) as session:
        ended = session.exec(
            select(Silence).where(col(Silence.comment).contains("repasting"))
        ).one()
        assert ended.ended_by == "browser-operate"


def test_an_admin_creates_a_rule_after_fixing_a_field(
    browsing: Browsing, live_server: AlertsServer, watch_of: Callable[[Page], PageWatch]
) -> None:
    page = browsing.signed_in()
    watch_of(page).allow_console(r"status of 422 .*/alerts/rules\]$")
    page.goto("/alerts/rules")
    page.get_by_role("link", name=re.compile("New miner_stale_rate rule")).click()
    form = page.locator("#rule-form")
    form.get_by_label("Name").fill("Stale shares (browser)")
    stale = form.get_by_label(re.compile("^Stale shares above"))
    stale.fill("150")
    form.evaluate("el => { el.noValidate = true; }")  # let the server judge the bound
    form.get_by_role("button", name="Create rule").click()
    stale = page.locator("#rule-form").get_by_label(re.compile("^Stale shares above"))
    expect(stale).to_have_attribute("aria-invalid", "true")
    expect(page.locator("[id='params.abovePercent-error']")).to_contain_text("less than or equal")
    stale.fill("3")
    page.locator("#rule-form").get_by_role("button", name="Create rule").click()
    expect(page.locator("#rules-outcome")).to_contain_text("created")
    expect(page.locator("#rules-table tr", has_text="Stale shares (browser)")).to_have_count(1)


def test_a_read_session_sees_no_action_it_cannot_take(
    browsing: Browsing, live_server: AlertsServer
) -> None:
    page = browsing.signed_in(live_server.read_token)
    for path in _pages(live_server).values():
        page.goto(path)
        expect(page.locator("h1")).to_have_count(1)
        expect(page.locator("main form[method='post']")).to_have_count(0)
    expect(page.get_by_text("Maintenance…")).to_have_count(0)


def test_without_javascript_an_operator_silences_an_incident_by_plain_forms(
    browsing: Browsing, live_server: AlertsServer
) -> None:
    page = browsing.new_page(java_script_enabled=False)
    sign_in(page, live_server.base_url, live_server.operate_token)
    page.goto(f"/incidents/{live_server.incident_id}")
    with page.expect_navigation():
        page.locator("#silence-form").get_by_role("button", name="Silence for 1 h").click()
    outcome = page.locator("#incident-outcome")
    expect(outcome).to_contain_text("rig-hot-1 is silenced")
    silence_id = re.search(r"silenced=([^&]+)", page.url)
    assert silence_id, page.url
    page.goto("/silences")
    row = page.locator(f"#silences-active tr[data-silence-id='{silence_id.group(1)}']")
    expect(row).to_have_count(1)
    with page.expect_navigation():
        row.get_by_role("button", name=re.compile("End now")).click()
    expect(page.locator("#silences-outcome")).to_contain_text("ended")
