"""The public API beyond single cases: lists (filters, sort, cursor), deadlines across
cases, managers' figures and audit, the documents, errors as problem+json, and the demo
region walked end to end with the console command's tokens."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from tests.e2e.api.cases import case_in, step, submit
from tests.support.api import Api, token
from tests.support.processes import ROOT, wait_for

pytestmark = pytest.mark.e2e

LA = "961"
SCHOOL, SCHOOL_B = "961001", "961002"


@pytest.fixture(scope="module", autouse=True)
def register(system):
    """The schools this module's requests name, in the register."""
    system.register_schools(LA, SCHOOL, SCHOOL_B)
    system.register_schools("962", "962001")


@pytest.fixture(scope="module")
def caseworker(system):
    return Api(system.url, token("la_caseworker", la_code=LA, sub="cw-961"))


@pytest.fixture(scope="module")
def manager(system):
    return Api(system.url, token("la_manager", la_code=LA, sub="mgr-961"))


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [i["id"] for i in response.json()["items"]]


def settled(api: Api, case_ids: list[str]) -> None:
    """Wait until the deadlines of these cases reflect their latest events."""
    for case_id in case_ids:
        wait_for(lambda c=case_id: api.get(f"/v1/referrals/{c}").json()["deadlines_up_to_date"])


def test_list_filters_sort_and_cursor(caseworker):
    school = Api(caseworker.base_url, token("school", school_urn=SCHOOL_B))
    fresh = submit(caseworker, LA, SCHOOL_B, received_on="2027-06-01")   # decision due 07-13
    older = submit(caseworker, LA, SCHOOL_B, received_on="2027-04-01")   # overdue 05-13
    assessing = case_in(caseworker, "assessing", LA, SCHOOL_B)
    step(caseworker, assessing["id"], "advice_requested", "2026-02-11", adviser="health")
    settled(caseworker, [fresh["id"], older["id"], assessing["id"]])

    base = {"school_urn": SCHOOL_B}
    everything = ids(caseworker.get("/v1/referrals", params={**base, "limit": 200}))
    assert set(everything) >= {fresh["id"], older["id"], assessing["id"]}
    assert ids(school.get("/v1/referrals", params={"limit": 200})) == everything

    by_state = ids(caseworker.get("/v1/referrals", params={**base, "status": "assessing"}))
    assert by_state == [assessing["id"]]
    two_states = caseworker.get("/v1/referrals",
                                params={**base, "status": "assessing,request_received"})
    assert set(ids(two_states)) == set(everything)
    assert ids(caseworker.get("/v1/referrals", params={**base, "adviser": "health"})) == [
        assessing["id"]]
    assert ids(caseworker.get("/v1/referrals", params={**base, "adviser": "social_care"})) == []

    # sorted by the next due date: the overdue request first, the fresh one after
    listed = caseworker.get("/v1/referrals", params={**base, "limit": 200}).json()["items"]
    dues = [i["next_deadline"]["due_on"] for i in listed if i["next_deadline"]]
    assert dues == sorted(dues)
    nxt = {i["id"]: i["next_deadline"] for i in listed}
    assert nxt[older["id"]] == {"milestone": "decision_to_assess", "due_on": "2027-05-13",
                                "status": "breached", "overdue": True}
    assert nxt[fresh["id"]]["due_on"] == "2027-07-13" and not nxt[fresh["id"]]["overdue"]
    overdue = ids(caseworker.get("/v1/referrals", params={**base, "overdue": "true"}))
    assert older["id"] in overdue and fresh["id"] not in overdue
    soon = ids(caseworker.get("/v1/referrals", params={**base, "due_within": 14,
                                                       "overdue": "false"}))
    assert soon == [fresh["id"]]

    # a cursor walks the list a page at a time, each case once
    seen, cursor = [], None
    while True:
        params = {**base, "limit": 1, **({"cursor": cursor} if cursor else {})}
        body = caseworker.get("/v1/referrals", params=params).json()
        seen += [i["id"] for i in body["items"]]
        assert body["count"] == len(everything)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == everything
    by_received = ids(caseworker.get("/v1/referrals", params={**base, "sort": "received_on"}))
    assert by_received.index(assessing["id"]) < by_received.index(older["id"]) < \
        by_received.index(fresh["id"])

    for bad in ({"cursor": "garbage!"}, {"status": "nonsense"}, {"limit": 0},
                {"due_within": -1}, {"school_urn": "12"}, {"sort": "name"}):
        response = caseworker.get("/v1/referrals", params=bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["errors"][0]["field"].split(".")[0] == next(iter(bad))


def test_deadlines_across_cases(caseworker):
    case = submit(caseworker, LA, SCHOOL, received_on="2027-03-01")
    settled(caseworker, [case["id"]])
    mine = caseworker.get("/v1/deadlines", params={"school_urn": SCHOOL, "limit": 200}).json()
    rows = [d for d in mine["items"] if d["case_id"] == case["id"]]
    assert {d["milestone"] for d in rows} >= {"decision_to_assess", "final_plan"}
    assert all(d["reference"] == case["reference"] and d["la_code"] == LA for d in rows)
    due = [d["adjusted_due_on"] or d["due_on"] for d in mine["items"]]
    assert due == sorted(due)

    late = caseworker.get("/v1/deadlines", params={"status": "breached",
                                                   "school_urn": SCHOOL}).json()["items"]
    assert any(d["case_id"] == case["id"] and d["milestone"] == "decision_to_assess"
               and d["overdue"] for d in late)
    assert all(d["status"] == "breached" for d in late)
    before = caseworker.get("/v1/deadlines", params={"due_before": "2027-04-30",
                                                     "school_urn": SCHOOL}).json()["items"]
    assert all((d["adjusted_due_on"] or d["due_on"]) <= "2027-04-30" for d in before)
    assert any(d["case_id"] == case["id"] for d in before)
    final = caseworker.get("/v1/deadlines", params={"milestone": "final_plan",
                                                    "status": "open"}).json()["items"]
    assert {d["milestone"] for d in final} == {"final_plan"}


def test_timeliness_figures_match_the_dates_entered(caseworker, manager):
    # (received, decision, outcome, exception started, final plan)
    cases = [
        ("2026-01-05", "2026-02-10", "assess", None, "2026-05-20"),        # 36 d, 135 d
        ("2026-01-05", "2026-03-01", "refuse", None, None),                # 55 d: late
        ("2026-01-12", "2026-02-20", "assess", "2026-03-01", "2026-07-01"),  # 170 d, exception
        ("2026-02-02", "2026-03-10", "assess", None, "2026-06-30"),        # 148 d: late
        ("2025-11-03", "2026-01-05", "assess", None, "2026-02-20"),        # 63 d, 109 d
    ]
    la = "962"
    cw = Api(caseworker.base_url, token("la_caseworker", la_code=la))
    ids = []
    for received, decided, outcome, exception, final in cases:
        case = submit(cw, la, "962001", received_on=received)
        ids.append(case["id"])
        step(cw, case["id"], "decision_to_assess", decided, outcome=outcome)
        if exception:
            step(cw, case["id"], "exception_started", exception, limb="c", note="n")
        if final:
            step(cw, case["id"], "draft_plan_issued", final)
            step(cw, case["id"], "final_plan_issued", final)
    settled(cw, ids)
    mgr = Api(caseworker.base_url, token("la_manager", la_code=la))
    figures = mgr.get("/v1/reports/timeliness", params={"la_code": la, "year": 2026}).json()
    assert figures == {
        "la_code": la, "year": 2026,
        # decisions dated 2026: 36, 55, 39, 36 and 63 days after the request
        # plans issued in 2026: 135, 170 (exception), 148 and 109 days
        "including_exceptions": {
            "requests_decided": 5, "decided_within_6_weeks": 3,
            "decided_within_6_weeks_pct": 60.0,
            "plans_issued": 4, "within_20_weeks": 2, "within_20_weeks_pct": 50.0,
            "over_20_weeks_under_a_year": 2, "over_a_year": 0},
        "excluding_exceptions": {
            "requests_decided": 5, "decided_within_6_weeks": 3,
            "decided_within_6_weeks_pct": 60.0,
            "plans_issued": 3, "within_20_weeks": 2, "within_20_weeks_pct": 66.7,
            "over_20_weeks_under_a_year": 1, "over_a_year": 0},
        "average_weeks_to_issue": 20.1,  # (135 + 170 + 148 + 109) / 4 / 7
    }
    assert mgr.get("/v1/reports/timeliness", params={"year": "twenty"}).status_code == 422


def test_audit_trail_says_who_when_what_and_from_where(caseworker, manager):
    school = Api(caseworker.base_url, token("school", school_urn=SCHOOL, sub="senco-audit"))
    case = submit(school, LA, SCHOOL)
    caseworker.get(f"/v1/referrals/{case['id']}")
    step(caseworker, case["id"], "decision_to_assess", "2026-02-10", outcome="assess")
    caseworker.get("/v1/referrals", params={"reference": case["reference"]})
    caseworker.get(f"/v1/referrals/{case['id']}/events")
    trail = manager.get(f"/v1/referrals/{case['id']}/audit").json()
    entries = list(reversed(trail["entries"]))  # oldest first
    assert [(e["actor_sub"], e["actor_role"], e["action"]) for e in entries] == [
        ("senco-audit", "school", "create"),
        ("cw-961", "la_caseworker", "read"),
        ("cw-961", "la_caseworker", "step"),
        ("cw-961", "la_caseworker", "list"),
        ("cw-961", "la_caseworker", "read_history"),
        ("mgr-961", "la_manager", "read_audit"),
    ]
    assert entries[2]["detail"] == {"type": "decision_to_assess", "on": "2026-02-10", "seq": 1}
    assert all(e["source"] == "127.0.0.1" and e["at"] for e in entries)
    page = manager.get(f"/v1/referrals/{case['id']}/audit", params={"limit": 2}).json()
    rest = manager.get(f"/v1/referrals/{case['id']}/audit",
                       params={"limit": 200, "before": page["next_before"]}).json()
    assert [e["id"] for e in page["entries"] + rest["entries"]] == sorted(
        [e["id"] for e in page["entries"] + rest["entries"]], reverse=True)


def test_documents_and_errors(system, caseworker):
    spec = requests.get(f"{system.url}/v1/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.")
    for path in ("/v1/referrals", "/v1/referrals/{id}", "/v1/referrals/{id}/events",
                 "/v1/referrals/{id}/deadlines", "/v1/deadlines", "/v1/alerts",
                 "/v1/reports/timeliness"):
        assert path in spec["paths"], path
    body = spec["components"]["schemas"]["ReferralRequest"]
    assert set(body["required"]) == {"child", "la_code", "school_urn", "requested_by",
                                     "received_on"}
    page = requests.get(f"{system.url}/v1/docs", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "/v1/referrals/{id}/events" in page.text and "decision_to_assess" in page.text

    url = system.url
    cases = [
        (requests.get(f"{url}/v1/nothing-here", timeout=5), 404),
        (requests.delete(f"{url}/v1/referrals", timeout=5), 405),
        (caseworker.post("/v1/referrals", data="{not json",
                         headers={"Content-Type": "application/json"}), 400),
        (caseworker.post("/v1/referrals", data="a=b",
                         headers={"Content-Type": "application/x-www-form-urlencoded"}), 415),
        (caseworker.post("/v1/referrals", [1, 2]), 422),
        (caseworker.get("/v1/referrals/not-a-uuid"), 404),
    ]
    for response, status in cases:
        assert response.status_code == status, (status, response.text)
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == status


def test_demo_region_end_to_end(system, tmp_path):
    """The issue's acceptance: with the demo region, a school token submits a request, a
    caseworker of that LA walks it to a final plan and an annual review; the other LA's
    tokens and another school's token see nothing of it; the figures match the dates."""
    tokens_file = tmp_path / "tokens.json"
    seeded = subprocess.run(
        [sys.executable, "-m", "services.gateway.cli", "seed-demo", "--url", system.url,
         "--tokens-file", str(tokens_file)], cwd=ROOT, env=system.env, capture_output=True,
        text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    tokens = json.loads(tokens_file.read_text())
    api = {label: Api(system.url, t) for label, t in tokens.items()}
    senco = api["SENCo, Oakfield Primary (881)"]
    caseworker = api["Caseworker, Northshire (881)"]
    manager = api["Manager, Northshire (881)"]
    outsiders = [api["Caseworker, Southvale (882)"], api["SENCo, Hilltop Secondary (882)"],
                 Api(system.url, token("school", school_urn="100002")),  # same LA, other school
                 api["Region admin"], api["Ops"]]
    assert {s["urn"] for s in caseworker.get("/v1/schools").json()["items"]} >= {
        "100001", "100002", "100003", "100004"}

    case = submit(senco, "881", "100001", received_on="2025-01-06")
    for type_, on, fields in [
        ("decision_to_assess", "2025-02-10", {"outcome": "assess"}),        # 35 days
        ("advice_requested", "2025-02-11", {"adviser": "educational_psychologist"}),
        ("advice_requested", "2025-02-11", {"adviser": "school"}),
        ("advice_received", "2025-03-20", {"adviser": "educational_psychologist"}),
    ]:
        step(caseworker, case["id"], type_, on, **fields)
    step(senco, case["id"], "advice_received", "2025-03-21", adviser="school")
    for type_, on, fields in [
        ("draft_plan_issued", "2025-04-14", {}),
        ("school_consulted", "2025-04-15", {"school_urn": "100001"}),
        ("school_response_received", "2025-04-25", {"school_urn": "100001"}),
        ("final_plan_issued", "2025-05-19", {}),                            # 133 days
        ("review_meeting_held", "2026-05-11", {}),
        ("review_decision", "2026-05-20", {"outcome": "maintain"}),
    ]:
        step(caseworker, case["id"], type_, on, **fields)
    assert senco.get(f"/v1/referrals/{case['id']}").json()["status"] == "plan_maintained"
    settled(caseworker, [case["id"]])
    deadlines = {d["milestone"]: d for d in senco.get(
        f"/v1/referrals/{case['id']}/deadlines").json()["deadlines"]}
    assert deadlines["final_plan"]["met_on"] == "2025-05-19"
    # the review met last year's milestone; the next review is due 12 months after it
    assert deadlines["annual_review"]["due_on"] == "2027-05-11", deadlines
    assert deadlines["review_decision"]["met_on"] == "2026-05-20", deadlines

    for outsider in outsiders:
        for path in (f"/v1/referrals/{case['id']}", f"/v1/referrals/{case['id']}/deadlines",
                     f"/v1/referrals/{case['id']}/events"):
            assert outsider.get(path).status_code == 404
        for path in ("/v1/referrals?limit=200", "/v1/deadlines?limit=200", "/v1/alerts"):
            text = outsider.get(path).text
            assert case["id"] not in text and case["reference"] not in text

    # 2025 in LA 881 holds this case only (the demo's own requests are dated 2027)
    figures = manager.get("/v1/reports/timeliness", params={"year": 2025}).json()
    assert figures["including_exceptions"] == {
        "requests_decided": 1, "decided_within_6_weeks": 1, "decided_within_6_weeks_pct": 100.0,
        "plans_issued": 1, "within_20_weeks": 1, "within_20_weeks_pct": 100.0,
        "over_20_weeks_under_a_year": 0, "over_a_year": 0}
    assert figures["average_weeks_to_issue"] == 19.0  # 133 days
