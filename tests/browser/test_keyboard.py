"""Keyboard use: Tab from the top meets the skip link, then the navigation, always visibly."""

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from app.core.templating import NAVIGATION

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return {
    tag: el.tagName.toLowerCase(),
    text: (el.textContent || '').trim(),
    href: el.getAttribute('href'),
    id: el.id,
    className: el.className,
    inNav: !!el.closest('nav.nav'),
    outlineStyle: style.outlineStyle,
    outlineWidth: parseFloat(style.outlineWidth) || 0,
    visible: box.width > 0 && box.height > 0 && box.right > 0 && box.bottom > 0
      && box.left < window.innerWidth && box.top < window.innerHeight,
  };
}"""


def tab(page: Page) -> dict[str, Any]:
    page.keyboard.press("Tab")
    focused: dict[str, Any] = page.evaluate(FOCUSED)
    assert focused["outlineStyle"] != "none" and focused["outlineWidth"] > 0, (
        f"no visible focus indicator on {focused}"
    )
    assert focused["visible"], f"focused element is off screen: {focused}"
    return focused


def test_tab_reaches_the_skip_link_then_the_navigation_with_a_visible_focus(
    signed_in_page: Page,
) -> None:
    page = signed_in_page
    page.goto("/")
    first = tab(page)
    assert first["href"] == "#main" and "skip-link" in str(first["className"]), first

    # Next come the navigation links in order; only the home (brand) link may come between.
    focused = tab(page)
    if not focused["inNav"]:
        assert focused["href"] == "/", f"expected the navigation after the skip link: {focused}"
        focused = tab(page)
    reached = []
    for _ in NAVIGATION:
        assert focused["inNav"], f"expected a navigation link, got {focused}"
        reached.append(focused["href"])
        focused = tab(page)
    assert reached == [href for _id, _label, href in NAVIGATION]

    # The skip link does what it says: focus moves to the main region.
    page.goto("/")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
