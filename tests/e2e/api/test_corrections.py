"""Correcting the date of a recorded step: the deadlines are recomputed as if the right
date had been recorded first, the audit trail keeps both dates, and a correction that would
put the case's steps out of order is refused and changes nothing."""

from __future__ import annotations

import pytest

from tests.e2e.api.cases import step, submit
from tests.support.api import Api, token
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e

LA, SCHOOL, OTHER_SCHOOL = "971", "971001", "971002"


@pytest.fixture(scope="module", autouse=True)
def register(system):
    """The schools this module's requests name, in the register."""
    system.register_schools(LA, SCHOOL, OTHER_SCHOOL)


@pytest.fixture(scope="module")
def caseworker(system):
    return Api(system.url, token("la_caseworker", la_code=LA, sub="cw-971"))


@pytest.fixture(scope="module")
def school(system):
    return Api(system.url, token("school", school_urn=SCHOOL, sub="senco-971001"))


def deadline(api: Api, case_id: str, milestone: str) -> dict:
    body = api.get(f"/v1/referrals/{case_id}/deadlines").json()
    if not body["deadlines_up_to_date"]:
        return {}
    return next((d for d in body["deadlines"] if d["milestone"] == milestone), {})


def correct(api: Api, case_id: str, step_id: str, on: str, expect: int = 201, **extra):
    response = api.post(f"/v1/referrals/{case_id}/events/{step_id}/corrections",
                        {"on": on, **extra})
    assert response.status_code == expect, response.text
    return response.json()


def test_a_corrected_date_moves_the_deadlines_and_is_audited(caseworker, school, system):
    case = submit(school, LA, SCHOOL, received_on="2026-01-05")
    # Recorded late by mistake: 20 Feb is after the 6-week limit (16 Feb 2026, Reg 5(1)).
    recorded = step(caseworker, case["id"], "decision_to_assess", "2026-02-20",
                    outcome="assess")
    step_id = recorded["step"]["id"]
    late = wait_for(lambda: deadline(caseworker, case["id"], "decision_to_assess")
                    .get("met_on") == "2026-02-20" and
                    deadline(caseworker, case["id"], "decision_to_assess"))
    assert late["status"] == "late"

    answer = correct(caseworker, case["id"], step_id, "2026-02-12", note="typed 20 for 12")
    assert answer["step"]["on"] == "2026-02-12" and answer["status"] == "assessing"
    fixed = wait_for(lambda: deadline(caseworker, case["id"], "decision_to_assess")
                     .get("met_on") == "2026-02-12" and
                     deadline(caseworker, case["id"], "decision_to_assess"))
    assert fixed["status"] == "met" and fixed["due_on"] == "2026-02-16"

    # Corrected twice: the latest correction wins.
    correct(caseworker, case["id"], step_id, "2026-02-13")
    wait_for(lambda: deadline(caseworker, case["id"], "decision_to_assess")
             .get("met_on") == "2026-02-13")
    steps = caseworker.get(f"/v1/referrals/{case['id']}/events").json()["steps"]
    assert [s["on"] for s in steps if s["type"] == "decision_to_assess"] == ["2026-02-13"]

    manager = Api(system.url, token("la_manager", la_code=LA, sub="mgr-971"))
    trail = manager.get(f"/v1/referrals/{case['id']}/audit").json()["entries"]
    fixes = [e["detail"] for e in trail if e["action"] == "correct_step"]
    assert {(f["from"], f["to"]) for f in fixes} == {("2026-02-20", "2026-02-12"),
                                                     ("2026-02-12", "2026-02-13")}
    assert all("typed" not in str(e) for e in trail)  # the note stays out of the trail


def test_a_correction_that_breaks_the_order_is_refused_and_changes_nothing(caseworker,
                                                                             school):
    case = submit(school, LA, SCHOOL, received_on="2026-01-05")
    decided = step(caseworker, case["id"], "decision_to_assess", "2026-02-10",
                   outcome="assess")
    step(caseworker, case["id"], "advice_requested", "2026-02-11",
         adviser="educational_psychologist")
    before = caseworker.get(f"/v1/referrals/{case['id']}/events").json()
    for on in ("2026-02-12", "2026-01-01", "2099-01-01"):  # after advice, before receipt, future
        problem = correct(caseworker, case["id"], decided["step"]["id"], on, expect=422)
        assert problem["errors"][0]["field"] == "on"
    assert correct(caseworker, case["id"], decided["step"]["id"], "12-02-2026",
                   expect=422)["errors"][0]["field"] == "on"
    assert caseworker.get(f"/v1/referrals/{case['id']}/events").json() == before


def test_only_the_cases_la_corrects(caseworker, school, system):
    case = submit(school, LA, SCHOOL, received_on="2026-01-05")
    decided = step(caseworker, case["id"], "decision_to_assess", "2026-02-10",
                   outcome="assess")
    path = f"/v1/referrals/{case['id']}/events/{decided['step']['id']}/corrections"
    assert school.post(path, {"on": "2026-02-09"}).status_code == 403
    for outsider in (token("school", school_urn=OTHER_SCHOOL),
                     token("la_caseworker", la_code="972"), token("region_admin"),
                     token("ops")):
        assert Api(system.url, outsider).post(path, {"on": "2026-02-09"}).status_code == 404
    unknown = f"/v1/referrals/{case['id']}/events/{case['id']}/corrections"
    assert caseworker.post(unknown, {"on": "2026-02-09"}).status_code == 404


def test_a_corrected_receipt_date_restarts_the_clocks(caseworker, school, system):
    case = submit(school, LA, SCHOOL, received_on="2026-01-05")
    wait_for(lambda: deadline(caseworker, case["id"], "final_plan").get("due_on")
             == "2026-05-25")  # 5 Jan 2026 + 140 days
    step(caseworker, case["id"], "decision_to_assess", "2026-02-10", outcome="assess")
    path = f"/v1/referrals/{case['id']}/corrections"

    # Received a week later than typed: Mon 12 Jan 2026 + 140 days = Mon 1 Jun 2026 and
    # + 42 days = Mon 23 Feb 2026.
    answer = caseworker.post(path, {"received_on": "2026-01-12", "note": "date stamp"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["received_on"] == "2026-01-12"
    wait_for(lambda: deadline(caseworker, case["id"], "final_plan").get("due_on")
             == "2026-06-01")
    decision = deadline(caseworker, case["id"], "decision_to_assess")
    assert decision["due_on"] == "2026-02-23" and decision["met_on"] == "2026-02-10"

    # After the decision already recorded, or in the future: refused, nothing changes.
    for on in ("2026-02-11", "2099-01-01"):
        refused = caseworker.post(path, {"received_on": on})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "received_on"
    assert caseworker.get(f"/v1/referrals/{case['id']}").json()["received_on"] == "2026-01-12"
    assert school.post(path, {"received_on": "2026-01-06"}).status_code == 403
    assert Api(system.url, token("la_caseworker", la_code="972")).post(
        path, {"received_on": "2026-01-06"}).status_code == 404

    manager = Api(system.url, token("la_manager", la_code=LA, sub="mgr-971"))
    trail = manager.get(f"/v1/referrals/{case['id']}/audit").json()["entries"]
    assert [(e["detail"]["from"], e["detail"]["to"]) for e in trail
            if e["action"] == "correct_receipt"] == [("2026-01-05", "2026-01-12")]
