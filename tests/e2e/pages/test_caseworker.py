"""A caseworker in the browser walks a SENCo's request to a final plan: work tray with its
filters and paging, assignment, every step through forms (refused and bad ones shown as
error messages), an exception started and ended, a date corrected; another LA's case is a
404 page."""

from __future__ import annotations

import pytest

from tests.e2e.pages.site import LA, OTHER_LA, OTHER_LA_SCHOOL, SCHOOL
from tests.support.api import Api, referral_body, token
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e


def record(b, case_path: str, step: str, button: str, **fields) -> None:
    """Open the step's form from the case page, fill it and submit it."""
    b.open(case_path)
    b.page.click(f"#record ~ ul a[href$='/steps/{step}']")
    b.check()
    for selector, value in fields.items():
        if value is True:
            b.page.check(f"#{selector}")
        else:
            b.page.fill(f"#{selector}", value)
    b.submit(button)


@pytest.mark.timeout(900)  # a long journey, each page checked by axe-core
def test_caseworker_walks_a_request_to_a_final_plan(site, browser_for):
    school = Api(site.url, token("school", school_urn=SCHOOL, la_code=LA))
    case = school.post("/v1/referrals", referral_body(LA, SCHOOL, "2026-09-01")).json()
    # enough cases for a second page of the tray
    for n in range(26):
        r = school.post("/v1/referrals", referral_body(LA, SCHOOL, f"2026-10-{n + 1:02d}"))
        assert r.status_code == 201
    case_path = f"/cases/{case['id']}"

    b = browser_for()
    page = b.page
    b.sign_in("cw-971")
    assert page.url.endswith("/cases") and page.locator("h1").inner_text() == "Work tray"
    # sorted by next due date and paged: the oldest request's decision is due first
    # generous: in a full run the deadlines service may still be working through the
    # events of earlier modules' cases (same vhost and database)
    wait_for(lambda: b.open("/cases") and case["reference"] in page.locator(
        "tbody tr").first.inner_text(), timeout=120, interval=0.5)
    assert page.locator("tbody tr").count() == 25
    b.screenshot("caseworker-work-tray")
    page.click("a:has-text('Next page')")
    b.check()
    assert page.locator("tbody tr").count() >= 2

    # assign the case to me; the tray's "assigned to me" shows it
    b.open(case_path)
    page.select_option("#caseworker", "cw-971")
    b.submit("Assign")
    assert "Case assigned" in b.banner()
    assert "Caseworker assigned" in page.locator("table", has_text="Recorded by").inner_text()
    b.open("/cases?view=mine")
    assert page.locator("tbody tr").count() == 1
    assert Api(site.url, token("la_caseworker", la_code=LA, sub="cw-971")).get(
        f"/v1/referrals/{case['id']}").json()["assigned_to"] == "cw-971"

    # overdue filter: the September request's decision (6 weeks) is past due on 16 November
    b.open("/cases?due=overdue")
    assert case["reference"] in page.locator("tbody").inner_text()

    # bad input and a refused step, as error messages
    record(b, case_path, "decision_to_assess", "Record decision to assess")
    assert b.error_summary()[0].startswith("Outcome:")
    b.open(case_path + "/steps/final_plan_issued")
    b.submit("Record final plan issued")
    assert b.error_summary()[0].startswith("Step not allowed") or "not allowed" in \
        b.error_summary()[0]

    record(b, case_path, "decision_to_assess", "Record decision to assess",
           **{"on-day": "2", "on-month": "10", "on-year": "2026", "outcome": True})
    assert "Step recorded" in b.banner()
    for adviser in ("educational_psychologist", "health"):
        b.open(case_path + "/steps/advice_requested")
        page.fill("#on-day", "5")
        page.fill("#on-month", "10")
        page.check(f"input[name=adviser][value={adviser}]")
        b.submit("Record advice requested")
    # an exception started and ended (Reg 5(4))
    b.open(case_path + "/steps/exception_started")
    page.fill("#on-day", "6")
    page.fill("#on-month", "10")
    page.check("input[name=limb][value=c]")
    b.submit("Record exception started")
    assert b.error_summary() == ["Note: is required"]
    page.fill("#note", "Family bereavement (synthetic)")
    b.submit("Record exception started")
    assert "Step recorded" in b.banner()
    b.open(case_path + "/steps/exception_ended")
    page.fill("#on-day", "8")
    page.fill("#on-month", "10")
    page.check("input[name=exception_id]")
    b.submit("Record exception ended")
    assert "Step recorded" in b.banner()
    for adviser in ("educational_psychologist", "health"):
        b.open(case_path + "/steps/advice_received")
        page.fill("#on-day", "20")
        page.fill("#on-month", "10")
        page.check(f"input[name=adviser][value={adviser}]")
        b.submit("Record advice received")
    record(b, case_path, "draft_plan_issued", "Record draft plan issued",
           **{"on-day": "1", "on-month": "11"})
    record(b, case_path, "school_consulted", "Record school consulted",
           **{"on-day": "2", "on-month": "11", "school_urn": SCHOOL})
    record(b, case_path, "school_response_received", "Record school response received",
           **{"on-day": "9", "on-month": "11", "school_urn": SCHOOL})

    # a date corrected: first to an impossible date (before the receipt), then rightly
    b.open(case_path)
    page.click("tr:has-text('Draft plan issued') a:has-text('Correct date')")
    b.check()
    page.fill("#on-day", "1")
    page.fill("#on-month", "1")
    b.submit("Correct the date")
    assert b.error_summary()[0].startswith("Date:")
    page.fill("#on-day", "30")
    page.fill("#on-month", "10")
    page.fill("#on-year", "2026")
    b.submit("Correct the date")
    assert "Date corrected" in b.banner()

    record(b, case_path, "final_plan_issued", "Record final plan issued",
           **{"on-day": "16", "on-month": "11"})
    assert "Plan maintained" in page.locator(".govuk-summary-list").inner_text()
    wait_for(lambda: b.open(case_path) and "Annual review" in page.locator(
        "table").first.inner_text(), timeout=20, interval=0.5)
    assert "Met" in page.locator("tr", has_text="Final plan").first.inner_text()

    # another LA's case is a 404 page; managers' pages are refused to a caseworker
    far = Api(site.url, token("school", school_urn=OTHER_LA_SCHOOL, la_code=OTHER_LA))
    theirs = far.post("/v1/referrals", referral_body(OTHER_LA, OTHER_LA_SCHOOL,
                                                     "2026-11-02")).json()
    b.open(f"/cases/{theirs['id']}", status=404)
    b.open(f"/cases/{theirs['id']}/steps/decision_to_assess", status=404)
