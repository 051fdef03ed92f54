"""`ehcp import` end to end: the real command into a running system."""

from __future__ import annotations

import random
import subprocess
import sys

import psycopg
import pytest

from tests.support.api import Api, token
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e

# An LA of this module's own: other modules of the run count 881's cases and decisions.
LA = "995"
_BASE = random.randrange(300000, 900000, 10)
URN = str(_BASE + 1)
HEADER = ("record,case_ref,given_name,family_name,date_of_birth,school_urn,requested_by,"
          "received_on,type,on,outcome,adviser\n")


@pytest.fixture(scope="module", autouse=True)
def register(system):
    system.register_schools(LA, URN)


def ehcp_import(system, path, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.gateway.cli", "import", str(path),
                           "--la", LA, "--as", "import-test", *extra], env=system.env,
                          capture_output=True, text=True, timeout=120)


def case_count(system) -> int:
    with psycopg.connect(system.env["DATABASE_URL"]) as conn:
        return conn.execute("SELECT count(*) FROM referrals.cases").fetchone()[0]


def test_a_caseload_is_imported_with_deadlines_and_a_reimport_is_refused(system, tmp_path):
    tag = f"T{_BASE}"
    csv = tmp_path / "caseload.csv"
    csv.write_text(HEADER + (
        f"case,{tag}-1,Ann,Synthetic,2016-04-01,{URN},school,2026-01-05,,,,\n"
        f"step,{tag}-1,,,,,,,decision_to_assess,2026-02-10,assess,\n"
        f"step,{tag}-1,,,,,,,advice_requested,2026-02-11,,health\n"
        f"case,{tag}-2,Ben,Synthetic,2015-09-01,{URN},parent,2026-03-02,,,,\n"
        f"case,{tag}-3,Cat,Synthetic,2014-02-01,{URN},school,2025-11-03,,,,\n"
        f"step,{tag}-3,,,,,,,decision_to_assess,2025-12-01,refuse,\n"))
    done = ehcp_import(system, csv)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "3 cases and 3 steps imported" in done.stdout

    la = Api(system.url, token("la_manager", la_code=LA))
    school = Api(system.url, token("school", school_urn=URN))
    listed = la.get(f"/v1/referrals?school_urn={URN}&limit=50").json()["items"]
    by_status = sorted(c["status"] for c in listed)
    assert by_status == ["assessing", "refused", "request_received"]
    assessing = next(c for c in listed if c["status"] == "assessing")
    assert assessing["advice_outstanding"] == ["health"]

    def computed():
        cases = la.get(f"/v1/referrals?school_urn={URN}&limit=50").json()["items"]
        return all(c["deadlines_up_to_date"] for c in cases)
    wait_for(computed, timeout=60)
    deadlines = la.get(f"/v1/referrals/{assessing['id']}/deadlines").json()["deadlines"]
    due = {d["milestone"]: d["due_on"] for d in deadlines}
    assert due["final_plan"] == "2026-05-25"  # 5 Jan 2026 + 20 weeks, Reg 13(2)
    audit = la.get(f"/v1/referrals/{assessing['id']}/audit").json()
    actions = [(e["action"], e["actor_sub"]) for e in audit["entries"]]
    assert ("create", "import-test") in actions and ("step", "import-test") in actions
    # no alert burst for dates long past: the school's inbox has no stale warnings
    alerts = school.get("/v1/alerts").json()["alerts"]
    # no burst of stale alerts: each imported case announces its clock once ("scheduled",
    # as a request recorded through the API does); the warnings and overdue notices whose
    # dates passed before the import are never sent (deadlines' pending_alerts)
    ours = [a for a in alerts if a["case_id"] in {c["id"] for c in listed}]
    assert sorted(a["kind"] for a in ours) == ["scheduled"] * 3

    before = case_count(system)
    again = ehcp_import(system, csv)
    assert again.returncode != 0
    assert "line 2: case_ref: already imported as 995-" in again.stdout
    assert "line 5: case_ref" in again.stdout and "line 6: case_ref" in again.stdout
    assert "nothing imported" in again.stderr
    assert case_count(system) == before


def test_an_imported_case_corrected_through_the_api_moves_its_deadlines(system, tmp_path):
    """The case travels as one case.imported; a correction names its request or step by
    the ids the referrals service keeps for it, and the deadlines service must know them."""
    tag, urn = f"C{_BASE}", str(_BASE + 2)  # a school of its own: its only case
    system.register_schools(LA, urn)
    csv = tmp_path / "corrected.csv"
    csv.write_text(HEADER + (
        f"case,{tag}-1,Dan,Synthetic,2016-04-01,{urn},school,2026-01-05,,,,\n"
        f"step,{tag}-1,,,,,,,decision_to_assess,2026-02-10,assess,\n"))
    done = ehcp_import(system, csv)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "1 case.imported event queued" in done.stdout  # the request and step together
    la = Api(system.url, token("la_manager", la_code=LA))
    [case] = la.get(f"/v1/referrals?school_urn={urn}&limit=50").json()["items"]

    def deadline(milestone: str) -> dict:
        body = la.get(f"/v1/referrals/{case['id']}/deadlines").json()
        return next(d for d in body["deadlines"] if d["milestone"] == milestone)

    wait_for(lambda: la.get(f"/v1/referrals/{case['id']}").json()["deadlines_up_to_date"],
             timeout=60)
    assert deadline("final_plan")["due_on"] == "2026-05-25"  # 5 Jan + 20 weeks, Reg 13(2)
    assert la.post(f"/v1/referrals/{case['id']}/corrections",
                   {"received_on": "2026-01-12"}).status_code == 201
    # 12 Jan 2026 + 20 weeks = 1 Jun 2026
    wait_for(lambda: deadline("final_plan")["due_on"] == "2026-06-01", timeout=60)
    step = next(s for s in la.get(f"/v1/referrals/{case['id']}/events").json()["steps"]
                if s["type"] == "decision_to_assess")
    assert la.post(f"/v1/referrals/{case['id']}/events/{step['id']}/corrections",
                   {"on": "2026-02-20"}).status_code == 201
    wait_for(lambda: deadline("decision_to_assess")["met_on"] == "2026-02-20", timeout=60)


def test_a_file_with_errors_reports_every_bad_line_and_imports_nothing(system, tmp_path):
    tag = f"E{_BASE}"
    csv = tmp_path / "bad.csv"
    csv.write_text(HEADER + (
        f"case,{tag}-1,Ann,Synthetic,2016-04-01,{URN},school,2026-01-05,,,,\n"
        f"case,{tag}-2,Ben,Synthetic,2015-09-01,999998,parent,2026-03-02,,,,\n"
        f"step,{tag}-1,,,,,,,draft_plan_issued,2026-02-10,,\n"
        f"case,{tag}-3,Cat,Synthetic,2014-02-01,{URN},school,2025-13-03,,,,\n"))
    before = case_count(system)
    done = ehcp_import(system, csv)
    assert done.returncode != 0
    assert "line 3: school_urn: no school with this URN in the register" in done.stdout
    assert "line 4: type: draft_plan_issued is not allowed" in done.stdout
    assert "line 5: received_on:" in done.stdout
    assert "line 2" not in done.stdout
    assert "3 errors on 3 lines; nothing imported" in done.stderr
    assert case_count(system) == before
