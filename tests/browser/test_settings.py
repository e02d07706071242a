"""Editing a setting in its row, in place, and finding the new value after a reload."""

import uuid

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

KEY = "ops.oncall"
ROW = f'[id="setting-row-{KEY}"]'  # an attribute selector: the key holds a dot


def test_editing_a_setting_shows_the_new_value(signed_in_page: Page) -> None:
    page = signed_in_page
    page.goto("/settings")
    page.evaluate("window.__marker = 'kept'")
    row = page.locator(ROW)
    expect(row).to_contain_text("ops-team@example.com")

    row.get_by_role("link", name=f"Edit {KEY}").click()
    editor = page.get_by_label(f"New value of {KEY}")
    expect(editor).to_be_visible()
    new_value = f"oncall-{uuid.uuid4().hex[:8]}@example.com"
    editor.fill(new_value)
    page.locator(ROW).get_by_role("button", name="Save").click()

    expect(page.locator(ROW)).to_contain_text(new_value)
    expect(page.get_by_label(f"New value of {KEY}")).to_have_count(0)
    assert page.evaluate("window.__marker") == "kept"  # the row was swapped, not the page
    page.goto("/settings")
    expect(page.locator(ROW)).to_contain_text(new_value)
