"""An LA manager and a region admin in the browser: SEN2 figures with the month-by-month
chart and its table, caseload per caseworker, a case's audit trail, LA settings and school
closures (bad input as error messages); the admin's LAs, schools, users and recipients.
Alert links lead to the case page; pages of other roles are refused."""

from __future__ import annotations

import pytest

from tests.e2e.pages.site import LA, OTHER_LA, OTHER_LA_SCHOOL, SCHOOL
from tests.support.api import Api, referral_body, token
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(900)  # a long journey, each page checked by axe-core
def test_manager_journey(site, browser_for):
    school = Api(site.url, token("school", school_urn=SCHOOL, la_code=LA))
    la = Api(site.url, token("la_caseworker", la_code=LA, sub="cw2-971"))
    case = school.post("/v1/referrals", referral_body(LA, SCHOOL, "2026-06-01")).json()
    for step in ({"type": "decision_to_assess", "on": "2026-07-01", "outcome": "assess"},
                 {"type": "draft_plan_issued", "on": "2026-09-01"},
                 {"type": "final_plan_issued", "on": "2026-11-02"}):
        assert la.post(f"/v1/referrals/{case['id']}/events", step).status_code == 201
    assert la.put(f"/v1/referrals/{case['id']}/assignment",
                  {"caseworker": "cw2-971"}).status_code == 200
    assert la.put(f"/v1/referrals/{case['id']}/assignment",
                  {"caseworker": "cw-972"}).status_code == 422  # not of this LA
    late = school.post("/v1/referrals", referral_body(LA, SCHOOL, "2026-08-03")).json()

    b = browser_for()
    page = b.page
    b.sign_in("mgr-971")
    b.open("/manage/timeliness")
    assert page.locator("svg.app-chart title").text_content().startswith("20-week rate")
    nov = wait_for(lambda: b.open("/manage/timeliness") and page.locator(
        "#monthly tr", has_text="Nov").inner_text().split("\t")[1:] != ["0", "0", "–", "0"]
        and page.locator("#monthly tr", has_text="Nov").inner_text(), timeout=20, interval=0.5)
    assert int(nov.split("\t")[1]) >= 1  # final plans issued in November (this one late)
    b.screenshot("manager-timeliness")

    b.open("/manage/caseload")
    assert "cw2-971" in page.locator("tbody").inner_text()
    b.open(f"/cases/{case['id']}/audit")
    trail = page.locator("tbody").inner_text()
    assert "Assign" in trail and "cw2-971" in trail

    # settings and closures: bad input first, as the API's messages
    b.open("/manage/settings")
    page.fill("#receipt_cutoff", "25:99")
    b.submit("Save settings")
    assert b.error_summary() and b.error_summary()[0].startswith("Receipt cut-off time")
    page.check("#next_working_day_receipt")
    page.fill("#receipt_cutoff", "16:30")
    b.submit("Save settings")
    assert "Saved" in b.banner()
    assert page.is_checked("#next_working_day_receipt")
    for prefix, (d, m) in (("starts_on", ("10", "12")), ("ends_on", ("1", "12"))):
        page.fill(f"#{prefix}-day", d)
        page.fill(f"#{prefix}-month", m)
        page.fill(f"#{prefix}-year", "2026")
    b.submit("Add closure")
    assert b.error_summary()
    page.fill("#ends_on-day", "4")
    page.fill("#ends_on-month", "1")
    page.fill("#ends_on-year", "2027")
    b.submit("Add closure")
    assert "Added" in b.banner() and "10 December 2026" in page.locator("table").inner_text()
    page.click("button:has-text('Remove')")
    b.check()
    assert "Removed" in b.banner()

    # an alert's link (inbox, email and digest carry the same one) opens the case page
    alerts = wait_for(lambda: [a for a in la.get("/v1/alerts").json()["alerts"]
                               if a["case_id"] == late["id"]], timeout=30, interval=0.5)
    link = alerts[0]["link"]
    assert link.endswith(f"/cases/{late['id']}") and "Synthetic" not in link
    b.open(link.split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert page.locator("h1").inner_text() == late["reference"]
    b.open("/alerts")
    assert late["reference"] in page.locator("tbody").inner_text()
    b.open("/account")

    # another LA's case, and the admin's pages, are refused
    far = Api(site.url, token("school", school_urn=OTHER_LA_SCHOOL, la_code=OTHER_LA))
    theirs = far.post("/v1/referrals", referral_body(OTHER_LA, OTHER_LA_SCHOOL,
                                                     "2026-11-02")).json()
    b.open(f"/cases/{theirs['id']}/audit", status=404)
    b.open("/admin/users", status=403)
    cw = browser_for()
    cw.sign_in("cw-971")
    cw.open("/manage/timeliness", status=403)
    cw.open(f"/cases/{case['id']}/audit", status=403)


def test_region_admin_journey(site, browser_for):
    b = browser_for()
    page = b.page
    b.sign_in("admin")
    assert page.url.endswith("/admin/users")
    b.screenshot("region-admin-users")
    page.fill("#sub", "new-caseworker")
    page.select_option("#role", "la_caseworker")
    b.submit("Save user")
    assert b.error_summary() == ["LA code: required for an LA role"]
    page.fill("#la_code", LA)
    b.submit("Save user")
    assert "Added" in b.banner() and "new-caseworker" in page.locator("tbody").inner_text()
    page.click("tr:has-text('new-caseworker') button:has-text('Disable')")
    b.check()
    assert "Disabled" in page.locator("tr", has_text="new-caseworker").inner_text()

    b.open("/admin/las")
    page.fill("#la_code", "97")
    page.fill("#name", "Nowhere")
    b.submit("Save local authority")
    assert b.error_summary()[0].startswith("LA code:")
    page.fill("#la_code", "973")
    b.submit("Save local authority")
    assert "Nowhere" in page.locator("tbody").inner_text()

    b.open("/admin/schools")
    page.fill("#urn", "973001")
    page.fill("#name", "Willow Primary School")
    page.fill("#la_code", "979")
    b.submit("Save school")
    assert b.error_summary() == ["LA code: no such LA in the region"]
    page.fill("#la_code", "973")
    b.submit("Save school")
    assert "Willow Primary School" in page.locator("tbody").inner_text()

    b.open("/admin/recipients")
    page.select_option("#kind", "school")
    page.fill("#name", "Willow SENCo")
    page.fill("#la_code", "973")
    page.fill("#school_urn", "973001")
    page.fill("#emails", "not-an-email")
    b.submit("Add recipient")
    assert b.error_summary()
    page.fill("#emails", "senco@willow.example")
    b.submit("Add recipient")
    assert "Willow SENCo" in page.locator("tbody").inner_text()
    b.open("/cases", status=403)  # no case pages for a region admin
