"""Issue 11 through the public API: the statutory clock in the cases it used to get wrong
(a Tribunal order to assess, an order to continue a ceased plan, an exception ended without
naming it), walked on the real services with the clock pinned to 2027-06-30."""

from __future__ import annotations

import pytest

from tests.e2e.api.cases import PATHS, step, submit
from tests.support.api import Api, token
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e

LA, SCHOOL = "981", "981001"


@pytest.fixture(scope="module", autouse=True)
def register(system):
    system.register_schools(LA, SCHOOL)


@pytest.fixture(scope="module")
def caseworker(system):
    return Api(system.url, token("la_caseworker", la_code=LA, sub="cw-981"))


@pytest.fixture(scope="module")
def school(system):
    return Api(system.url, token("school", school_urn=SCHOOL, sub="senco-981001"))


def deadlines(api: Api, case_id: str) -> list[dict] | None:
    body = api.get(f"/v1/referrals/{case_id}/deadlines").json()
    return body["deadlines"] if body["deadlines_up_to_date"] else None


def walk(api: Api, case_id: str, path) -> None:
    for type_, on, fields in path:
        step(api, case_id, type_, on, **fields)


def test_notice_after_a_tribunal_order_to_assess_is_recordable_and_meets_reg_44(
        caseworker, school):
    case = submit(school, LA, SCHOOL)
    walk(caseworker, case["id"], PATHS["refused"])  # refused 10 Feb 2026
    ordered = step(caseworker, case["id"], "tribunal_order", "2026-06-01", order="assess")
    assert ordered["status"] == "assessing"
    assert "decision_to_assess" in ordered["allowed_steps"]
    refused = step(caseworker, case["id"], "decision_to_assess", "2026-06-12", expect=422,
                   outcome="refuse")
    assert refused["errors"] == [{"field": "outcome", "message": refused["errors"][0]["message"]}]
    noticed = step(caseworker, case["id"], "decision_to_assess", "2026-06-12", outcome="assess")
    assert noticed["status"] == "assessing"
    assert "decision_to_assess" not in noticed["allowed_steps"]
    got = wait_for(lambda: (lambda d: d and {m["rule"]: m for m in d}.get("TO-ASSESS", {})
                            .get("met_on") and {m["rule"]: m for m in d})(
        deadlines(caseworker, case["id"])))
    assert got["TO-ASSESS"]["status"] == "met"
    assert (got["TO-ASSESS"]["due_on"], got["TO-ASSESS"]["regulation"]) == (
        "2026-06-15", "Reg 44(2)(b)")


def test_order_to_continue_a_ceased_plan_reopens_the_review_clock(caseworker, school):
    case = submit(school, LA, SCHOOL)
    walk(caseworker, case["id"], PATHS["ceased"])  # plan 20 May 2026, review 10 May 2027
    step(caseworker, case["id"], "tribunal_order", "2027-06-20", order="continue_plan")

    def reviews():
        d = deadlines(caseworker, case["id"])
        if not d or not any(m["rule"] == "TO-CONTINUE" for m in d):
            return None
        return d

    got = wait_for(reviews)
    by_due = {(m["rule"], m["due_on"]): m for m in got}
    assert by_due[("TO-CONTINUE", "2027-06-20")]["status"] == "met"
    # 12 months after the review of 10 May 2027 (CFA s44(1)), open again.
    assert by_due[("R1", "2028-05-10")]["status"] == "pending"


def test_exception_ended_without_id_closes_the_only_open_one(caseworker, school):
    case = submit(school, LA, SCHOOL)
    walk(caseworker, case["id"], PATHS["assessing"])
    step(caseworker, case["id"], "exception_started", "2026-03-02", limb="c", note="synthetic")
    ended = step(caseworker, case["id"], "exception_ended", "2026-03-16")
    assert ended["referral"]["open_exceptions"] == []
    assert ended["step"]["data"]["exception_id"] == "exc-1"
    got = wait_for(lambda: (lambda d: d and {m["rule"]: m for m in d}.get("A6", {})
                            .get("adjusted_due_on") and {m["rule"]: m for m in d})(
        deadlines(caseworker, case["id"])))
    assert (got["A6"]["adjusted_due_on"], got["A6"]["exception_days"]) == ("2026-06-08", 14)

    for _ in (2, 3):
        step(caseworker, case["id"], "exception_started", "2026-04-01", limb="c", note="n")
    several = step(caseworker, case["id"], "exception_ended", "2026-04-10", expect=422)
    (error,) = several["errors"]
    assert error["field"] == "exception_id"
    assert "exc-2" in error["message"] and "exc-3" in error["message"]
