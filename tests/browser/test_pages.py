"""Every page, light and dark, wide and 360 px narrow: a heading, no sideways scroll, clean.

Screenshots land in test-artifacts/screenshots/<page>-<width>-<scheme>.png for review. The
page watch (conftest) fails a page whose requests leave the origin or whose console shows
an error, such as a CSP violation.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Browsing, LiveServer, new_context
from tests.support.browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

PAGES = {
    "overview": "/",
    "agents": "/agents",
    "agent-detail": "/agents/agent-1",
    "events": "/events",
    "runbooks": "/runbooks",
    "runbook-detail": "/runbooks/runbook-1",
    "miners": "/miners",
    "miner-detail": "/miners/xmrig",
    "settings": "/settings",
    "cross": "/cross",
}
WIDTHS = (1280, 360)
SCHEMES = ("light", "dark")
VARIANTS = [(scheme, width) for scheme in SCHEMES for width in WIDTHS]

CHARTS_SETTLED = """() => Array.from(document.querySelectorAll('.chart[data-chart-url]'))
  .every(el => ['ready', 'error'].includes(el.getAttribute('data-chart-state')))"""

# What sticks out past the right edge, to say why a page scrolls sideways.
OVERFLOWING = """() => {
  const limit = document.documentElement.clientWidth + 1;
  return Array.from(document.querySelectorAll('body *'))
    .filter(el => el.getBoundingClientRect().right > limit)
    .filter(el => !(el.parentElement && el.parentElement.getBoundingClientRect().right > limit))
    .slice(0, 8)
    .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
      + (el.className && typeof el.className === 'string' ? '.' + el.className.trim()
        .replace(/\\s+/g, '.') : '')
      + ' right=' + Math.round(el.getBoundingClientRect().right));
}"""


def check_page(page: Page, name: str, width: int, scheme: str) -> str:
    """Check one rendered page and screenshot it; returns its background colour."""
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("h1")).not_to_be_empty()
    page.wait_for_function(CHARTS_SETTLED)
    failed_charts = page.locator(".chart[data-chart-state='error']")
    assert failed_charts.count() == 0, failed_charts.first.inner_text()
    sizes = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    scroll_width, client_width = sizes
    assert scroll_width <= client_width + 1, (
        f"{name} scrolls sideways at {width} px ({scheme}): scrollWidth {scroll_width} > "
        f"clientWidth {client_width}; sticking out: {page.evaluate(OVERFLOWING)}"
    )
    screenshot(page, name, width, scheme)
    background: str = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    return background


def assert_schemes_differ(name: str, backgrounds: dict[str, set[str]]) -> None:
    """The page follows the system setting: light and dark draw different backgrounds."""
    assert backgrounds["light"].isdisjoint(backgrounds["dark"]), (
        f"{name} looks the same in light and dark: {backgrounds}"
    )


@pytest.fixture(scope="module")
def signed_in_pages(
    browser: Browser, live_server: LiveServer, admin_state: dict[str, Any]
) -> Iterator[dict[tuple[str, int], Page]]:
    """One signed-in page per (scheme, width), shared by the page tests (each costs time)."""
    contexts = [
        new_context(
            browser,
            live_server,
            color_scheme=scheme,
            viewport={"width": width, "height": 900},
            storage_state=admin_state,
        )
        for scheme, width in VARIANTS
    ]
    pages = [context.new_page() for context in contexts]
    yield {(scheme, width): page for (scheme, width), page in zip(VARIANTS, pages, strict=True)}
    for context in contexts:
        context.close()


@pytest.mark.parametrize("name", list(PAGES))
def test_page_reads_well_wide_and_narrow_in_both_schemes(
    browsing: Browsing, signed_in_pages: dict[tuple[str, int], Page], name: str
) -> None:
    backgrounds: dict[str, set[str]] = {scheme: set() for scheme in SCHEMES}
    for (scheme, width), page in signed_in_pages.items():
        browsing.watched(page)
        page.goto(PAGES[name])
        assert page.url.endswith(PAGES[name]), f"{name} redirected to {page.url}"
        backgrounds[scheme].add(check_page(page, name, width, scheme))
    assert_schemes_differ(name, backgrounds)


def test_login_page_reads_well_wide_and_narrow_in_both_schemes(browsing: Browsing) -> None:
    backgrounds: dict[str, set[str]] = {scheme: set() for scheme in SCHEMES}
    page = browsing.new_page()  # one page, re-emulated: cheaper than a context per variant
    for scheme, width in VARIANTS:
        page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        page.set_viewport_size({"width": width, "height": 900})
        page.goto("/login")
        backgrounds[scheme].add(check_page(page, "login", width, scheme))
    assert_schemes_differ("login", backgrounds)
