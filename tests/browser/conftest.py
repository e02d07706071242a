"""Browser fixtures: one real server on the demo fleet, Debian's Chromium, a watch on every page.

Every page a test opens is watched; at teardown the test errors if any request left the
server's origin, the console logged an error (CSP violations are console errors: this is the
strict-CSP check), the page threw, or the server answered 5xx.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from sqlalchemy import Engine
from sqlmodel import Session

from app.auth import tokens
from app.core.config import Settings
from app.main import create_app
from app.ops.seed import seed_demo
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PageWatch,
    require_browser_prerequisites,
    sign_in,
)
from tests.support.db import migrated_engine
from tests.support.servers import running_server
from tests.support.waits import WAIT_MS

ADMIN_TOKEN = "browser-test-admin-token-with-enough-entropy-0001"
DEFAULT_VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = WAIT_MS  # actions and expectations: each ends as soon as its condition holds
expect.set_options(timeout=TIMEOUT_MS)


@dataclass(frozen=True)
class LiveServer:
    """A running console on a seeded SQLite file, and the tokens to reach it."""

    base_url: str
    admin_token: str
    read_token: str
    engine: Engine  # the test's own engine on the same file, for arranging rows

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}


@pytest.fixture(scope="package")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real uvicorn serving the demo fleet (seed_demo) from a migrated SQLite file."""
    require_browser_prerequisites()
    path: Path = tmp_path_factory.mktemp("browser") / "console.db"
    url = f"sqlite:///{path}"
    # Bulk inserts of test data are slow on purpose: no slow-query warnings for them.
    with migrated_engine(url, slow_query_ms=60_000) as engine:
        with Session(engine, expire_on_commit=False) as session:
            seed_demo(session=session)
            _, read_token = tokens.create_token(session=session, name="browser-read", scope="read")
        settings = Settings(
            api_db_url=url,
            admin_token=ADMIN_TOKEN,
            auto_migrate=False,
            log_level="WARNING",
            retention_interval_minutes=0,
            # Pages must not change under a test when a cycle happens to run: the alerts
            # walk (test_alerts.py) runs its own server and steps the evaluator itself.
            alert_interval_seconds=0,
            _env_file=None,
        )
        with running_server(create_app(settings)) as base_url:
            yield LiveServer(base_url, ADMIN_TOKEN, read_token, engine)


# Package scope, not session: Playwright's sync API keeps an event loop running in the
# main thread while it is open, and async tests run later by the same worker need it gone.
@pytest.fixture(scope="package")
def playwright_instance() -> Iterator[Playwright]:
    require_browser_prerequisites()
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="package")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """Headless Debian Chromium (never Playwright's downloaded browser)."""
    browser = playwright_instance.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


def new_context(browser: Browser, server: LiveServer, **context_options: Any) -> BrowserContext:
    """A context whose relative URLs go to the server; 1280 x 900 unless told otherwise."""
    context_options.setdefault("viewport", DEFAULT_VIEWPORT)
    context = browser.new_context(base_url=server.base_url, **context_options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


class Browsing:
    """Opens watched pages for one test and gathers what they broke; closes what it opened."""

    def __init__(self, browser: Browser, server: LiveServer) -> None:
        self.browser = browser
        self.server = server
        self._contexts: list[BrowserContext] = []
        self._pages: list[Page] = []
        self._attached: list[tuple[Page, PageWatch]] = []

    def new_context(self, **context_options: Any) -> BrowserContext:
        """A context of this server (options as browser.new_context: color_scheme, ...)."""
        return new_context(self.browser, self.server, **context_options)

    def new_page(self, context: BrowserContext | None = None, **context_options: Any) -> Page:
        """A watched page: in a fresh context made with the options, or in the one given."""
        if context is None:
            context = self.new_context(**context_options)
            self._contexts.append(context)
        page = context.new_page()
        self._pages.append(page)
        return self.watched(page)

    def watched(self, page: Page) -> Page:
        """Watch a page for this test only (a page shared between tests is watched anew)."""
        watch = PageWatch(origin=self.server.base_url)
        watch.attach(page)
        self._attached.append((page, watch))
        return page

    def signed_in(self, token: str | None = None, **context_options: Any) -> Page:
        """A page signed in through /login (admin token unless another is given)."""
        page = self.new_page(**context_options)
        sign_in(page, self.server.base_url, token or self.server.admin_token)
        return page

    def watch(self, page: Page) -> PageWatch:
        """The current watch on a page this test opened or watched."""
        return next(watch for watched, watch in reversed(self._attached) if watched is page)

    def problems(self) -> list[str]:
        return [problem for _page, watch in self._attached for problem in watch.problems()]

    def close(self) -> None:
        for page, watch in self._attached:
            if not page.is_closed():
                watch.detach(page)
        for page in self._pages:
            if not page.is_closed():
                page.close()
        for context in self._contexts:
            context.close()


@pytest.fixture(scope="package")
def admin_state(browser: Browser, live_server: LiveServer) -> dict[str, Any]:
    """Cookies of one admin sign-in through /login, for tests that open many contexts."""
    context = new_context(browser, live_server)
    try:
        sign_in(context.new_page(), live_server.base_url, live_server.admin_token)
        state: dict[str, Any] = dict(context.storage_state())
    finally:
        context.close()
    return state


@pytest.fixture
def browsing(browser: Browser, live_server: LiveServer) -> Iterator[Browsing]:
    """Watched pages for one test; errors the test if any page broke the page contract."""
    session = Browsing(browser, live_server)
    try:
        yield session
        problems = session.problems()
    finally:
        session.close()
    assert not problems, "page contract broken:\n" + "\n".join(problems)


@pytest.fixture
def page(browsing: Browsing) -> Page:
    """An anonymous page, 1280 px wide, light scheme."""
    return browsing.new_page()


@pytest.fixture
def signed_in_page(browsing: Browsing) -> Page:
    """Signed in through /login with the admin token; left on the page the login lands on."""
    return browsing.signed_in()


@pytest.fixture
def read_page(browsing: Browsing, live_server: LiveServer) -> Page:
    """Signed in through /login with a read-scope token."""
    return browsing.signed_in(live_server.read_token)


@pytest.fixture
def watch_of(browsing: Browsing) -> Callable[[Page], PageWatch]:
    """The watch on a page, e.g. to allow a console error the test provokes on purpose."""
    return browsing.watch
