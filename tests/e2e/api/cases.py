"""Helpers of the API tests: tokens per tenant, cases walked to a given state."""

from __future__ import annotations

from tests.support.api import Api, referral_body, token

# Each module uses its own LA codes and URNs: the test database is shared by the run.


def submit(api: Api, la_code: str, school_urn: str, received_on: str = "2026-01-05",
           **headers) -> dict:
    response = api.post("/v1/referrals", referral_body(la_code, school_urn, received_on),
                        headers=headers or None)
    assert response.status_code == 201, response.text
    return response.json()


def step(api: Api, case_id: str, type: str, on: str, expect: int = 201, **fields) -> dict:
    response = api.post(f"/v1/referrals/{case_id}/events", {"type": type, "on": on, **fields})
    assert response.status_code == expect, (type, on, fields, response.status_code,
                                            response.text)
    return response.json()


# (type, on, fields, state after): the main path, from request to a maintained plan.
TO_PLAN = [
    ("decision_to_assess", "2026-02-10", {"outcome": "assess"}, "assessing"),
    ("advice_requested", "2026-02-11", {"adviser": "educational_psychologist"}, "assessing"),
    ("advice_received", "2026-03-10", {"adviser": "educational_psychologist"}, "assessing"),
    ("draft_plan_issued", "2026-04-01", {}, "draft_plan_issued"),
    ("final_plan_issued", "2026-05-20", {}, "plan_maintained"),
]
# Ways into every state from a new request (prefixes of TO_PLAN and a few branches).
PATHS: dict[str, list[tuple[str, str, dict]]] = {
    "request_received": [],
    "assessing": [s[:3] for s in TO_PLAN[:1]],
    "draft_plan_issued": [s[:3] for s in TO_PLAN[:4]],
    "plan_maintained": [s[:3] for s in TO_PLAN],
    "review_held": [s[:3] for s in TO_PLAN] + [("review_meeting_held", "2027-05-10", {})],
    "amending": [s[:3] for s in TO_PLAN] + [
        ("review_meeting_held", "2027-05-10", {}),
        ("review_decision", "2027-05-20", {"outcome": "amend"})],
    "amendments_proposed": [s[:3] for s in TO_PLAN] + [
        ("review_meeting_held", "2027-05-10", {}),
        ("review_decision", "2027-05-20", {"outcome": "amend"}),
        ("amendments_proposed", "2027-05-25", {})],
    "reassessment_requested": [s[:3] for s in TO_PLAN] + [
        ("reassessment_requested", "2027-06-12", {})],
    "refused": [("decision_to_assess", "2026-02-10", {"outcome": "refuse"})],
    "not_issuing": [s[:3] for s in TO_PLAN[:1]] + [("decision_not_to_issue", "2026-04-20", {})],
    "ceased": [s[:3] for s in TO_PLAN] + [
        ("review_meeting_held", "2027-05-10", {}),
        ("review_decision", "2027-05-20", {"outcome": "cease"})],
    "withdrawn": [("withdrawn", "2026-01-20", {})],
    "transferred_out": [("transferred_out", "2026-01-20", {"la_code": "999"})],
}


def case_in(api: Api, state: str, la_code: str, school_urn: str) -> dict:
    case = submit(api, la_code, school_urn)
    for type_, on, fields in PATHS[state]:
        step(api, case["id"], type_, on, **fields)
    current = api.get(f"/v1/referrals/{case['id']}").json()
    assert current["status"] == state, current
    return current


__all__ = ["Api", "token", "submit", "step", "case_in", "PATHS", "TO_PLAN"]
