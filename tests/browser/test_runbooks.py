"""Executing a runbook from its generated form: field errors first, then a recorded run."""

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import PageWatch

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_execute_form_marks_the_missing_field_then_reports_the_run(
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

    # ...and the server checks too (a browser without validation, or a hand-made request).
    form.evaluate("el => { el.noValidate = true; }")
    with page.expect_navigation():
        form.get_by_role("button", name=re.compile(r"^Execute")).click()
    service = page.locator("#execute-form").get_by_label(re.compile(r"^Service"))
    expect(service).to_have_attribute("aria-invalid", "true")
    error_id = service.get_attribute("aria-describedby") or ""
    error = page.locator(f"#{error_id.split()[-1]}")
    expect(error).to_have_class(re.compile(r"field-error"))
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    # Next to the field: the error is in the same form-field wrapper as the input.
    assert error.evaluate(
        "(el, input) => el.closest('.form-field') === input.closest('.form-field')",
        service.element_handle(),
    )
    expect(page.locator("#run-result")).to_have_count(0)

    service.fill("billing-api")
    with page.expect_navigation():
        page.locator("#execute-form").get_by_role("button", name=re.compile(r"^Execute")).click()
    result = page.locator("#run-result")
    expect(result).to_be_visible()
    run_id = result.get_attribute("data-run-id")
    assert run_id
    expect(result).to_contain_text(run_id)
    expect(page.locator("#execute-form [aria-invalid='true']")).to_have_count(0)
