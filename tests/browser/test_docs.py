"""The API docs in a real browser: both viewers render from our origin under the CSP.

Redoc is the page whose CSP carries more than the strict policy (style hashes, a blob:
worker for its search): this proves that is all it needs. Its footer links a logo on
cdn.redoc.ly; the CSP blocks that image, so the request never leaves the browser.
"""

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import LiveServer, new_context
from tests.support.browser import LOCAL_SCHEMES

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_swagger_ui_renders_without_a_token(page: Page) -> None:
    page.goto("/docs")
    expect(page.locator(".swagger-ui .title")).to_contain_text("Prism Console")
    expect(page.locator(".opblock-summary-path", has_text="/api/agents").first).to_be_visible()


def test_redoc_renders_and_searches_without_a_token(
    browser: Browser, live_server: LiveServer
) -> None:
    context = new_context(browser, live_server)
    try:
        page = context.new_page()
        seen: dict[str, list[Any]] = {"console": [], "errors": [], "requests": [], "failed": []}
        page.on("console", lambda m: seen["console"].append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: seen["errors"].append(str(error)))
        page.on("request", lambda request: seen["requests"].append(request.url))
        page.on("requestfailed", lambda r: seen["failed"].append((r.url, r.failure)))

        page.goto("/redoc")
        expect(page.locator("h1")).to_contain_text("Prism Console")
        # Styles written through the CSSOM into the hash-allowed empty <style> elements.
        rules = page.evaluate(
            "() => Array.from(document.querySelectorAll('style[data-styled]'))"
            ".reduce((count, style) => count + style.sheet.cssRules.length, 0)"
        )
        assert rules > 100
        # The search index lives in the blob: worker.
        page.fill("input[placeholder='Search...']", "agents")
        results = page.locator("[data-role='search:results'] [role='menuitem']")
        expect(results.first).to_be_visible()
        expect(results.first).to_contain_text("agent")
    finally:
        context.close()

    assert seen["errors"] == []
    off_origin = [
        url
        for url in seen["requests"]
        if urlsplit(url).scheme not in LOCAL_SCHEMES and not url.startswith(live_server.base_url)
    ]
    assert set(off_origin) <= {REDOC_LOGO}
    assert all((url, "csp") in seen["failed"] for url in off_origin)  # blocked, never sent
    assert [text for text in seen["console"] if REDOC_LOGO not in text] == []
