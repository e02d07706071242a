"""Signing in with a token and signing out, in a real browser."""

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer
from tests.support.browser import PageWatch

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_wrong_token_shows_the_error_and_right_token_lands_on_the_overview(
    page: Page, live_server: LiveServer, watch_of: Callable[[Page], PageWatch]
) -> None:
    # The login form answers 401 for a wrong token; the browser logs that status.
    watch_of(page).allow_console(r"status of 401")
    page.goto("/login")
    page.fill("#token", "not-a-real-token")
    page.click("form[action='/login'] button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    expect(page).to_have_url(re.compile(r"/login$"))

    page.fill("#token", live_server.admin_token)
    page.click("form[action='/login'] button[type=submit]")
    expect(page).to_have_url(f"{live_server.base_url}/")
    expect(page.locator("h1")).to_have_count(1)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_sign_out_returns_to_login_and_pages_need_signing_in_again(
    signed_in_page: Page, live_server: LiveServer
) -> None:
    page = signed_in_page
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    page.goto("/agents")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fagents$|/login\?next=/agents$"))
