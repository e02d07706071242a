"""Schema patterns in the execute form: valid for the browser, and checked as the server checks.

Browsers compile an input's `pattern` with the `v` flag; one they cannot compile logs
"Pattern attribute value … is not a valid regular expression" (a console error, which
the page watch fails the test on) and checks nothing. The form translates each pattern
(app/runbooks/html_pattern.py) or leaves it to the server and says so.
"""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, delete

from app.models import Runbook, RunbookRun
from app.models.inputs_schema import input_errors
from tests.browser.conftest import Browsing, LiveServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
]

RUNBOOK_ID = "pattern-check"
# (property, pattern, values to try): each value is judged by the server's validator below.
PATTERNS: list[tuple[str, str, list[str]]] = [
    ("slug", r"^[a-z0-9-]+$", ["web-01", "Web-01", "a_b", "-", "x y"]),
    (
        "email",
        r"^[\w.-]+@[\w-]+\.[a-z]{2,}$",
        ["ops.team@mail-host.io", "ops@host", "ops@@host.io", "a@b.c", "o-p@h.co"],
    ),
    ("choice", r"^(foo|bar)$", ["foo", "bar", "foobar", "baz"]),
    ("bracket", r"[[]", ["a[b", "[", "ab", "]"]),
    ("letters", r"^[^\W\d_]+$", ["Zoe", "Zoë", "abc1", "a b"]),
    ("unicode", r"^\p{L}+$", ["Zoë", "Ωμέγα", "abc1", "a b"]),
    ("accents", r"^[à-ÿ]+$", ["éè", "e", "ÿà"]),
    ("spaces", r"^\S+\s\S+$", ["a b", "ab", "a\u00a0b"]),
    ("dotted", r"^a.c$", ["abc", "a.c", "ac"]),
    ("braces", r"^\$\{[A-Z_]+\}$", ["${HOME}", "${}", "$HOME"]),
    ("contains", r"\d{3}", ["ab123", "12", "x1234y"]),
]
UNCHECKED = ("caseless", "(?i)^abc$")  # flags: left to the server


def _schema() -> dict[str, Any]:
    properties: dict[str, Any] = {
        name: {"type": "string", "title": name.capitalize(), "pattern": pattern}
        for name, pattern, _ in PATTERNS
    }
    properties[UNCHECKED[0]] = {"type": "string", "title": "Caseless", "pattern": UNCHECKED[1]}
    return {"type": "object", "properties": properties}


def _server_accepts(name: str, value: str) -> bool:
    return not list(input_errors(_schema(), {name: value}))


@pytest.fixture
def pattern_runbook(live_server: LiveServer) -> Iterator[str]:
    """A runbook with tricky patterns on the shared demo server, removed afterwards (other
    tests count the demo's runbooks)."""
    with Session(live_server.engine) as session:
        session.add(Runbook(id=RUNBOOK_ID, title="Pattern check", inputs_schema=_schema()))
        session.commit()
    try:
        yield f"/runbooks/{RUNBOOK_ID}"
    finally:
        with Session(live_server.engine) as session:
            session.exec(delete(RunbookRun).where(col(RunbookRun.runbook_id) == RUNBOOK_ID))
            session.exec(delete(Runbook).where(col(Runbook.id) == RUNBOOK_ID))
            session.commit()


def _browser_accepts(page: Page, field_id: str, value: str) -> bool:
    field = page.locator(f"#{field_id}")
    field.fill(value)
    # checkValidity compiles the pattern: an invalid one logs the console error watched for.
    return bool(field.evaluate("el => el.checkValidity() && !el.validity.patternMismatch"))


def test_every_pattern_compiles_and_judges_values_as_the_server_does(
    signed_in_page: Page, pattern_runbook: str
) -> None:
    page = signed_in_page
    page.goto(pattern_runbook)
    for name, pattern, values in PATTERNS:
        field = page.locator(f"#field-{name}")
        expect(field).to_have_attribute("pattern", re.compile(r"."))
        verdicts = {value: _browser_accepts(page, f"field-{name}", value) for value in values}
        expected = {value: _server_accepts(name, value) for value in values}
        assert verdicts == expected, f"{pattern}: browser {verdicts} != server {expected}"
        assert True in expected.values() and False in expected.values()  # both kinds tried
        field.fill("")


def test_a_pattern_the_browser_cannot_check_is_checked_by_the_server(
    browsing: Browsing, signed_in_page: Page, pattern_runbook: str
) -> None:
    page = signed_in_page
    # The form comes back 422 with its errors; the browser logs that status.
    browsing.watch(page).allow_console(rf"status of 422 .*/runbooks/{RUNBOOK_ID}/execute\]$")
    page.goto(pattern_runbook)
    name, pattern = UNCHECKED
    field = page.locator(f"#field-{name}")
    expect(field).not_to_have_attribute("pattern", re.compile(r".*"))
    expect(page.locator(f"#field-{name}-help")).to_have_text(
        f"Must match the pattern {pattern} (checked when you submit)."
    )
    assert _browser_accepts(page, f"field-{name}", "xyz")  # the browser lets it through...
    page.locator("#execute-form").get_by_role("button", name=re.compile(r"^Execute")).click()
    # ...and the server's answer names the field, in words, and puts the focus on it.
    error = page.locator(f"#field-{name}-error")
    expect(error).to_have_text(f"Caseless: must match the pattern {pattern}")
    expect(page.locator(f"#field-{name}")).to_be_focused()
    expect(page.locator(f"#field-{name}")).to_have_attribute("aria-invalid", "true")


def test_the_watch_would_catch_a_pattern_the_browser_refuses(
    browsing: Browsing, signed_in_page: Page, pattern_runbook: str
) -> None:
    """The check above means something: the untranslated pattern does log the error."""
    page = signed_in_page
    browsing.watch(page).allow_console(r"^Pattern attribute value .* is not a valid regular")
    page.goto(pattern_runbook)
    field = page.locator("#field-slug")
    field.evaluate("el => el.setAttribute('pattern', '^[a-z0-9-]+$')")  # the schema's own
    field.fill("web-01")
    with page.expect_console_message(
        lambda message: "is not a valid regular expression" in message.text
    ) as logged:
        field.evaluate("el => el.checkValidity()")
    assert logged.value.type == "error"
