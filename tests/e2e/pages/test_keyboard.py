"""The request form with the keyboard only: sign in, reach every field with Tab, submit
with Enter, follow the error summary to the wrong field, fix it and submit."""

from __future__ import annotations

import pytest

from tests.e2e.pages.site import PASSWORD

pytestmark = pytest.mark.e2e


def tab_to(b, element_id: str, limit: int = 80) -> None:
    """Press Tab until the element has focus (it must be reachable in the tab order)."""
    for _ in range(limit):
        b.page.keyboard.press("Tab")
        if b.page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} is not reachable with Tab")


def test_request_form_by_keyboard_only(site, browser_for):
    b = browser_for()
    kb = b.page.keyboard
    b.open("/sign-in")
    tab_to(b, "sub")
    kb.type("senco-971001")
    tab_to(b, "password")
    kb.type(PASSWORD)
    kb.press("Enter")
    b.page.wait_for_url("**/cases")
    b.check()

    b.open("/cases/new")
    # the skip link comes first and jumps to the content
    kb.press("Tab")
    assert b.page.evaluate("document.activeElement.textContent").strip() == \
        "Skip to main content"
    tab_to(b, "child-given_name")
    kb.type("Alex")
    tab_to(b, "child-family_name")
    kb.type("Synthetic")
    tab_to(b, "child-date_of_birth-day")
    kb.type("12")
    kb.press("Tab")
    kb.type("14")  # no 14th month
    kb.press("Tab")
    kb.type("2016")
    kb.press("Enter")  # submits the form
    b.page.wait_for_selector(".govuk-error-summary")
    b.check()
    assert b.error_summary() == ["Date of birth: Not a valid date."]
    # the design system moves focus to the summary; its link leads to the field
    assert b.page.evaluate("document.activeElement.className").startswith(
        "govuk-error-summary")
    kb.press("Tab")
    kb.press("Enter")
    assert b.page.evaluate("document.activeElement.id") == "child-date_of_birth-day"
    tab_to(b, "child-date_of_birth-month")
    kb.press("Control+A")
    kb.type("4")
    tab_to(b, "requested_by")  # the first radio of "who made the request"
    tab_to(b, "received_on-year")
    kb.press("Enter")
    b.page.wait_for_selector(".govuk-notification-banner")
    b.check()
    assert "Request submitted" in b.banner()
