"""Executing a runbook from its generated form: field errors first, then a confirmation that
says what will happen, then a recorded run with an honest outcome (with and without JS)."""

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing, LiveServer
from tests.support.browser import PageWatch, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_execute_form_marks_the_missing_field_then_confirms_then_reports_the_run(
    signed_in_page: Page, watch_of: Callable[[Page], PageWatch]
) -> None:
    page = signed_in_page
    # The form comes back 422 with its errors; the browser logs that status.
    watch_of(page).allow_console(r"status of 422 .*/runbooks/runbook-1/execute\]$")
    page.goto("/runbooks/runbook-1")
    form = page.locator("#execute-form")
    service = form.get_by_label(re.compile(r"^Service"))
    expect(service).to_be_visible()

    # The browser's own check stops the empty required field first...
    form.get_by_role("button", name=re.compile(r"^Execute")).click()
    assert service.evaluate("el => el.validity.valueMissing") is True
    expect(page.locator("#run-result")).to_have_count(0)

    # ...and the server checks too (a browser without validation, or a hand-made request):
    # htmx swaps the card, the error in words next to the field, the focus on it.
    page.evaluate("window.__marker = 'no-reload'")
    form.evaluate("el => { el.noValidate = true; }")
    form.get_by_role("button", name=re.compile(r"^Execute")).click()
    service = page.locator("#execute-form").get_by_label(re.compile(r"^Service"))
    expect(service).to_have_attribute("aria-invalid", "true")
    expect(service).to_be_focused()
    error_id = service.get_attribute("aria-describedby") or ""
    error = page.locator(f"#{error_id.split()[-1]}")
    expect(error).to_have_class(re.compile(r"field-error"))
    expect(error).to_have_text("Service: required")
    # Next to the field: the error is in the same form-field wrapper as the input.
    assert error.evaluate(
        "(el, input) => el.closest('.form-field') === input.closest('.form-field')",
        service.element_handle(),
    )
    expect(page.locator("#execute-errors a[href='#field-service']")).to_have_text(
        "Service: required"
    )
    expect(page.locator("#run-result")).to_have_count(0)

    # A valid form is confirmed first: the input as it will be sent, and no gateway.
    service.fill("billing-api")
    page.locator("#execute-form").get_by_role("button", name=re.compile(r"^Execute")).click()
    confirm = page.locator("#execute-confirm")
    expect(confirm).to_be_visible()
    expect(page.locator("#execute-confirm-title")).to_be_focused()
    expect(page.locator("#execute-confirm-input")).to_contain_text('"service": "billing-api"')
    expect(page.locator("#execute-gateway")).to_contain_text(
        "No gateway configured (PRISM_GATEWAY_URL is not set): the run will be recorded as queued"
    )
    # Edit goes back to the form with what was typed; Execute confirms again.
    page.get_by_role("button", name="Edit").click()
    service = page.locator("#execute-form").get_by_label(re.compile(r"^Service"))
    expect(service).to_have_value("billing-api")
    page.locator("#execute-form").get_by_role("button", name=re.compile(r"^Execute")).click()
    page.get_by_role("button", name=re.compile(r"^Confirm")).click()

    result = page.locator("#run-result")
    expect(result).to_be_visible()
    run_id = result.get_attribute("data-run-id")
    assert run_id
    expect(result).to_contain_text(run_id)
    expect(result).to_contain_text("nothing will start it")
    row = page.locator(f"#runbook-runs tr[data-run-id='{run_id}']")
    expect(row).to_contain_text("Recorded only")
    expect(row).to_contain_text('{"service": "billing-api"}')
    expect(row).not_to_contain_text("Accepted")
    expect(page.locator("#execute-form [aria-invalid='true']")).to_have_count(0)
    assert page.evaluate("window.__marker") == "no-reload"  # htmx all the way


def test_without_javascript_the_confirmation_is_a_page_of_its_own(
    browsing: Browsing, live_server: LiveServer
) -> None:
    page = browsing.new_page(java_script_enabled=False)
    sign_in(page, live_server.base_url, live_server.admin_token)
    page.goto("/runbooks/runbook-1")
    page.locator("#execute-form").get_by_label(re.compile(r"^Service")).fill("no-js-api")
    with page.expect_navigation():
        page.locator("#execute-form").get_by_role("button", name=re.compile(r"^Execute")).click()
    expect(page.locator("#execute-confirm-input")).to_contain_text('"service": "no-js-api"')
    expect(page.locator("#run-result")).to_have_count(0)
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile(r"^Confirm")).click()
    result = page.locator("#run-result")
    expect(result).to_be_visible()
    run_id = result.get_attribute("data-run-id")
    assert run_id
    expect(page.locator(f"#runbook-runs tr[data-run-id='{run_id}']")).to_contain_text("no-js-api")


@pytest.mark.parametrize("width", [360, 1280])
def test_a_long_input_scrolls_nothing_sideways(browsing: Browsing, width: int) -> None:
    page = browsing.signed_in(viewport={"width": width, "height": 900})
    page.goto("/runbooks/runbook-1")
    long_value = "svc-" + "x" * 160  # one unbroken word, wider than the screen
    page.locator("#execute-form").get_by_label(re.compile(r"^Service")).fill(long_value)
    page.locator("#execute-form").get_by_role("button", name=re.compile(r"^Execute")).click()
    expect(page.locator("#execute-confirm-input")).to_contain_text(long_value)
    sideways = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(sideways) <= 0
    page.get_by_role("button", name=re.compile(r"^Confirm")).click()
    expect(page.locator("#run-result")).to_be_visible()
    expect(page.locator("#runbook-runs tbody tr").first).to_contain_text(long_value)
    assert page.evaluate(sideways) <= 0
