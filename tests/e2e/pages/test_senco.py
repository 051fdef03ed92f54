"""A SENCo in the browser: signs in, submits a request (bad input first), follows the case,
records the school's advice, reads alerts and gets the calendar feed; refused steps and
other schools' cases are refused as pages."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.pages.site import LA, OTHER_LA, OTHER_LA_SCHOOL, OTHER_SCHOOL
from tests.support.api import Api, referral_body, token
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e


def fill_request(page, given="Robin", family="Synthetic", dob=("4", "7", "2017")):
    page.fill("#child-given_name", given)
    page.fill("#child-family_name", family)
    page.fill("#child-date_of_birth-day", dob[0])
    page.fill("#child-date_of_birth-month", dob[1])
    page.fill("#child-date_of_birth-year", dob[2])


@pytest.mark.timeout(900)  # a long journey, each page checked by axe-core
def test_senco_journey(site, browser_for):
    b = browser_for()
    page = b.page
    # a wrong password is an error message, not a sign-in
    b.open("/sign-in")
    page.fill("#sub", "senco-971003")
    page.fill("#password", "not the password")
    b.submit("Sign in")
    assert b.error_summary() == ["The username or password is not right"]

    b.sign_in("senco-971003")
    assert page.url.endswith("/cases")
    assert page.locator("h1").inner_text() == "Your school's cases"

    # bad input: the API's own messages, in the design system's error summary
    b.open("/cases/new")
    fill_request(page, given="", dob=("31", "2", "2017"))
    b.submit("Submit request")
    assert b.error_summary() == ["Given name: Missing data for required field.",
                                 "Date of birth: Not a valid date."]
    assert page.locator("#child-family_name").input_value() == "Synthetic"  # kept
    page.click(".govuk-error-summary__list a >> nth=0")
    assert page.evaluate("document.activeElement.id") == "child-given_name"

    fill_request(page)
    b.submit("Submit request")
    assert b.banner().strip().endswith(
        "Request submitted")
    reference = page.locator("h1").inner_text()
    assert reference.startswith(f"{LA}-2026-")
    case_url = page.url.split("?")[0]
    # every deadline: rule, regulation, due, adjusted, status
    wait_for(lambda: page.reload() and "Reg 5(1)" in page.locator("table").first.inner_text(),
             timeout=120, interval=0.5)
    row = page.locator("tr", has_text="Decision to assess").first.inner_text()
    assert "A1" in row and "Reg 5(1)" in row and "28 December 2026" in row and "Pending" in row

    # the school's list: next key date and who must act
    def listed():
        b.open("/cases")
        return page.locator("tr", has_text=reference).count() == 1 and \
            "28 December 2026" in page.locator("tr", has_text=reference).inner_text()
    wait_for(listed, timeout=20, interval=0.5)
    row = page.locator("tr", has_text=reference).inner_text()
    assert "Decision to assess" in row and "LA" in row
    b.screenshot("senco-cases")

    # a step the school may not record is refused on the form, with the API's reason
    b.open(case_url.replace(site.url, "") + "/steps/decision_to_assess")
    page.check("#outcome")
    b.submit("Record decision to assess")
    assert b.error_summary() == ["Your role may not record this step."]

    # the LA asks the school for advice; the SENCo records it in the browser
    case_id = case_url.rsplit("/", 1)[1]
    la = Api(site.url, token("la_caseworker", la_code=LA, sub="cw-971"))
    assert la.post(f"/v1/referrals/{case_id}/events", {
        "type": "decision_to_assess", "on": "2026-11-16", "outcome": "assess"}).status_code == 201
    assert la.post(f"/v1/referrals/{case_id}/events", {
        "type": "advice_requested", "on": "2026-11-16", "adviser": "school"}).status_code == 201
    b.open(case_url.replace(site.url, ""))
    page.click("a:has-text('Advice received')")
    b.check()
    page.fill("#on-day", "40")
    b.submit("Record advice received")
    assert b.error_summary() == ["Date: Not a valid date."]
    page.fill("#on-day", "16")
    b.submit("Record advice received")
    assert "Step recorded" in b.banner()
    assert "Advice: School" in page.locator("table", has_text="Recorded by").inner_text() \
        or "Advice received" in page.locator("table", has_text="Recorded by").inner_text()

    # alerts inbox and the calendar feed link
    b.open("/alerts")
    b.open("/calendar")
    b.submit("Create a new calendar link")
    url = page.locator("#calendar-url").inner_text()
    feed = requests.get(url.replace("http://127.0.0.1:8000", site.url), timeout=10)
    assert feed.status_code == 200 and "BEGIN:VCALENDAR" in feed.text
    assert "Robin" not in feed.text  # no names in the feed

    # another school's case, and another LA's, are "page not found"
    other = Api(site.url, token("school", school_urn=OTHER_SCHOOL, la_code=LA))
    theirs = other.post("/v1/referrals", referral_body(LA, OTHER_SCHOOL, "2026-11-02")).json()
    far = Api(site.url, token("school", school_urn=OTHER_LA_SCHOOL, la_code=OTHER_LA))
    far_case = far.post("/v1/referrals", referral_body(OTHER_LA, OTHER_LA_SCHOOL,
                                                       "2026-11-02")).json()
    for case in (theirs, far_case):
        b.open(f"/cases/{case['id']}", status=404)
        assert page.locator("h1").inner_text() == "Page not found"
        assert case["reference"] not in page.content()
    b.open("/cases/not-a-uuid", status=404)

    # sign out: the session is gone, pages ask to sign in again
    b.submit("Sign out")
    b.open("/cases")
    assert "/sign-in" in page.url
