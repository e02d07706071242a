"""Helpers for browser tests: Debian's Chromium under Playwright, and a watch on each page.

Playwright's own browser download does not work here: tests drive /usr/bin/chromium.
"""

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, Response

from app.core.paths import PROJECT_ROOT, STATIC_DIR

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VENDOR_FILES = ("htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css")
SCREENSHOT_DIR = PROJECT_ROOT / "test-artifacts" / "screenshots"

# Schemes that never reach the network, so they cannot leave the origin.
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})


def skip_or_fail(reason: str) -> None:
    """Skip loudly on a workstation; fail in CI, which installs what the browser tests need."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def require_browser_prerequisites() -> None:
    """Chromium and the vendored front-end libraries must exist; else skip (fail in CI)."""
    if not CHROMIUM.exists():
        skip_or_fail(
            f"BROWSER TESTS NOT RUN: {CHROMIUM} is missing (apt-get install chromium; "
            "Playwright's own browser download does not work here)"
        )
    missing = [name for name in VENDOR_FILES if not (STATIC_DIR / "vendor" / name).exists()]
    if missing:
        skip_or_fail(
            f"BROWSER TESTS NOT RUN: static/vendor lacks {', '.join(missing)} (run `make assets`)"
        )


@dataclass
class PageWatch:
    """What one page did: every request, console error, page error and server failure.

    `allow_console(pattern)` lets a test accept console errors it provokes on purpose (the
    browser logs "Failed to load resource" for every 4xx answer, e.g. a form sent back 422).
    """

    origin: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        for event, handler in self._handlers():
            page.on(event, handler)  # type: ignore[call-overload]

    def detach(self, page: Page) -> None:
        for event, handler in self._handlers():
            page.remove_listener(event, handler)

    def _handlers(self) -> list[tuple[str, Callable[..., None]]]:
        return [
            ("request", self._on_request),
            ("console", self._on_console),
            ("pageerror", self._on_page_error),
            ("response", self._on_response),
        ]

    def allow_console(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def _on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _on_page_error(self, error: Exception) -> None:
        self.page_errors.append(str(error))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location.get("url", "") if message.location else ""
            self.console_errors.append(f"{message.text} [{location}]")

    def _on_response(self, response: Response) -> None:
        if response.status >= 500:
            self.server_errors.append(f"{response.status} {response.request.method} {response.url}")

    def off_origin(self) -> list[str]:
        """Requests whose target is not the page's own origin."""
        leaks = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in LOCAL_SCHEMES:
                continue
            if f"{parts.scheme}://{parts.netloc}" != self.origin:
                leaks.append(url)
        return leaks

    def unexpected_console_errors(self) -> list[str]:
        return [
            text
            for text in self.console_errors
            if not any(pattern.search(text) for pattern in self.allowed)
        ]

    def problems(self) -> list[str]:
        """Everything that breaks the page's contract, one line each."""
        return (
            [f"request left the origin {self.origin}: {url}" for url in self.off_origin()]
            + [f"console error: {text}" for text in self.unexpected_console_errors()]
            + [f"page error: {text}" for text in self.page_errors]
            + [f"server error: {text}" for text in self.server_errors]
        )


def screenshot(page: Page, name: str, width: int, scheme: str) -> Path:
    """Save a full-page PNG as test-artifacts/screenshots/<name>-<width>-<scheme>.png."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}-{width}-{scheme}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


def sign_in(page: Page, base_url: str, token: str) -> None:
    """Sign in through the login form, like a person; waits for the page it lands on."""
    page.goto(f"{base_url}/login")
    page.fill("#token", token)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")
