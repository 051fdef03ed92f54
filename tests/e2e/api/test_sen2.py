"""The SEN2 return of an LA, end to end: details recorded through the API, the return
produced through the API and the `ehcp sen2 export` command, the XML valid against the
project's XSD, its counts equal to the deadlines service's timeliness figures, the
validation report naming case references, every case in it audited, nothing logged."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from lxml import etree

from services.referrals import sen2
from tests.e2e.api.cases import TO_PLAN, step, submit
from tests.support.api import Api, token

pytestmark = pytest.mark.e2e

LA, SCHOOL = "987", "987001"
SCHEMA = etree.XMLSchema(etree.parse(str(sen2.XSD)))


def complete(upn_body: str) -> dict:
    return {"sex": "M", "ethnicity": "WBRI", "postcode": "ZZ99 3AA",
            "upn": sen2.upn_check_letter("A" + upn_body) + upn_body,
            "plan_residential": False, "plan_work_based": False, "personal_budget": "DP",
            "request_mediation": False, "request_tribunal": False}


@pytest.fixture(scope="module")
def region(system):
    system.register_schools(LA, SCHOOL)
    caseworker = Api(system.url, token("la_caseworker", la_code=LA, sub="cw-987"))
    manager = Api(system.url, token("la_manager", la_code=LA, sub="mgr-987"))
    cases = {}
    # A: decided in time, plan within 20 weeks (the main path)
    cases["on_time"] = submit(caseworker, LA, SCHOOL, "2026-01-05")
    for type_, on, fields, _ in TO_PLAN:
        step(caseworker, cases["on_time"]["id"], type_, on, **fields)
    # B: decided late (after 6 weeks), refused; its mediation and tribunal not recorded
    cases["refused"] = submit(caseworker, LA, SCHOOL, "2026-03-02")
    step(caseworker, cases["refused"]["id"], "decision_to_assess", "2026-05-01",
         outcome="refuse")
    # C: an exception (Reg 13(3)(d): the family away 35 days, past the 4 weeks it needs)
    # during the assessment; the plan after 20 weeks (22 Jun) but within the adjusted
    # target (22 Jun + 35 days = 27 Jul)
    late = cases["late_plan"] = submit(caseworker, LA, SCHOOL, "2026-02-02")
    step(caseworker, late["id"], "decision_to_assess", "2026-03-02", outcome="assess")
    step(caseworker, late["id"], "exception_started", "2026-04-01", limb="d",
         note="family away (synthetic)")
    step(caseworker, late["id"], "exception_ended", "2026-05-06", exception_id="exc-1")
    step(caseworker, late["id"], "draft_plan_issued", "2026-06-15")
    step(caseworker, late["id"], "final_plan_issued", "2026-07-15")
    # D: received late in the year, not yet decided
    cases["undecided"] = submit(caseworker, LA, SCHOOL, "2026-11-02")
    # E: a 2027 request: not in the 2027 return (it covers 2026)
    cases["next_year"] = submit(caseworker, LA, SCHOOL, "2027-02-01")
    for n, (name, case) in enumerate(cases.items()):
        details = complete(f"98720012{n:04d}")
        if name == "refused":
            details = {k: v for k, v in details.items() if not k.startswith("request_")}
        r = caseworker.put(f"/v1/referrals/{case['id']}/sen2", details)
        assert r.status_code == 200, r.text
    return {"caseworker": caseworker, "manager": manager, "cases": cases}


def test_details_are_checked_and_kept_from_other_roles(system, region):
    case = region["cases"]["on_time"]["id"]
    bad = region["caseworker"].put(f"/v1/referrals/{case}/sen2", {"sex": "X", "upn": "1"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"sex", "upn"}
    not_bool = region["caseworker"].put(f"/v1/referrals/{case}/sen2", {"plan_residential": 1})
    assert not_bool.status_code == 422  # JSON true or false only
    school = Api(system.url, token("school", school_urn=SCHOOL))
    assert school.put(f"/v1/referrals/{case}/sen2", {"sex": "F"}).status_code == 403
    other_la = Api(system.url, token("la_manager", la_code="988"))
    assert other_la.put(f"/v1/referrals/{case}/sen2", {"sex": "F"}).status_code == 404


def test_the_return_validates_and_agrees_with_the_figures(system, region):
    r = region["manager"].get("/v1/reports/sen2", params={"la_code": LA, "year": 2027})
    assert r.status_code == 200, r.text
    body = r.json()
    doc = etree.fromstring(body["xml"].encode())
    assert SCHEMA.validate(doc), SCHEMA.error_log
    assert doc.findtext("Header/Source/LEA") == LA
    assert doc.findtext("Header/CollectionDetails/Year") == "2027"
    c, figures = body["counts"], body["figures"]
    incl, excl = figures["including_exceptions"], figures["excluding_exceptions"]
    print(f"\nSEN2 2027 for {LA}: counts {c}\n  figures 2026: incl {incl}\n  excl {excl}")
    assert len(doc.findall("Person")) == c["persons"] == 4  # A, B, C, D; not E
    assert (c["requests_decided"], c["decided_within_6_weeks"]) == (3, 2)
    assert (c["plans_issued"], c["within_20_weeks"]) == (2, 1)
    assert (incl["requests_decided"], incl["decided_within_6_weeks"]) == (3, 2)
    assert (incl["plans_issued"], incl["within_20_weeks"]) == (2, 1)
    assert c["plans_issued_excluding_exceptions"] == excl["plans_issued"] == 1
    assert body["counts_agree"] is True
    week20 = [p.findtext("Requests/Assessment/Week20") for p in doc.findall("Person")]
    assert sorted(w for w in week20 if w) == ["N", "Y"]
    refused = region["cases"]["refused"]["reference"]
    assert {(e["reference"], e["field"]) for e in body["errors"]} == {
        (refused, "RequestMediation"), (refused, "RequestTribunal")}


def test_only_the_las_managers_and_every_case_audited(system, region):
    assert region["caseworker"].get("/v1/reports/sen2",
                                    params={"year": 2027}).status_code == 403
    other = Api(system.url, token("la_manager", la_code="988"))
    assert other.get("/v1/reports/sen2", params={"la_code": LA, "year": 2027}
                     ).status_code == 403
    assert region["manager"].get("/v1/reports/sen2").status_code == 422  # year required
    region["manager"].get("/v1/reports/sen2", params={"year": 2027})
    trail = region["manager"].get(
        f"/v1/referrals/{region['cases']['on_time']['id']}/audit").json()["entries"]
    assert any(e["action"] == "sen2_export" and e["actor_sub"] == "mgr-987" for e in trail)
    assert any(e["action"] == "record_sen2" for e in trail)


def test_ehcp_sen2_export_writes_a_private_file_and_prints_no_personal_data(system, region,
                                                                            tmp_path):
    out = tmp_path / "sen2.xml"
    done = subprocess.run(
        [sys.executable, "-m", "services.gateway.cli", "sen2", "export", LA, "--year", "2027",
         "--out", str(out), "--url", system.url], env=system.env, capture_output=True,
        text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    print("\n" + done.stdout)
    assert "4 persons" in done.stdout and "agree" in done.stdout
    assert region["cases"]["refused"]["reference"] in done.stdout
    assert "Child-Synthetic" not in done.stdout + done.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert SCHEMA.validate(etree.parse(str(out)))
    assert b"Child-Synthetic" in out.read_bytes()  # the statutory return names the child
    for service in system.services.values():
        assert "Child-Synthetic" not in service.log()
