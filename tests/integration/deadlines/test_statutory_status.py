"""Issue 11 on the real service: the status read back from PostgreSQL (lists, filters)
agrees with the pure engine for milestones met late but within their exception."""

from __future__ import annotations

from datetime import date

import pytest

from tests.integration.deadlines.helpers import Case, milestones, rpc, settled
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration

TODAY = date(2026, 9, 1)  # long after the adjusted target (22 Jun 2026)


@pytest.fixture(scope="module")
def pinned(deadlines_system):
    deadlines = deadlines_system.services["deadlines"]
    deadlines.stop()
    deadlines.start(extra_env={"NOW": TODAY.isoformat()})
    yield deadlines_system
    deadlines.stop()
    deadlines.start()


def test_met_within_the_adjusted_target_is_never_breached_in_sql(pinned, infra):
    # Golden case i11_final_plan_late_but_within_exception_is_never_breached.
    case = Case(infra.amqp_uri, "911")
    case.received(date(2026, 1, 5))
    case.step("decision_to_assess", date(2026, 2, 10), {"outcome": "assess"})
    case.step("exception_started", date(2026, 3, 2), {"limb": "c", "exception_id": "exc-1"})
    case.step("exception_ended", date(2026, 3, 30), {"exception_id": "exc-1"})
    case.step("final_plan_issued", date(2026, 6, 15))
    with infra.connect("deadlines") as db:
        wait_for(lambda: settled(db, case) and milestones(db, case.id)["A6"]["met_on"])
        a6 = milestones(db, case.id)["A6"]
        assert (a6["status"], a6["adjusted_due_on"], a6["next_alert_on"]) == (
            "exception", date(2026, 6, 22), None)
    with rpc(infra.amqp_uri) as deadlines:
        by_case = {d["rule"]: d for d in deadlines.deadlines_of_cases([case.id])[case.id]}
        breached = deadlines.list_deadlines({"case_ids": [case.id], "status": "breached"})
        overdue = deadlines.list_deadlines({"case_ids": [case.id], "overdue": True})
        excepted = deadlines.list_deadlines({"case_ids": [case.id], "status": "exception"})
    assert by_case["A6"]["status"] == "exception"
    assert by_case["A6"]["met_on"] == "2026-06-15"
    assert "A6" not in {d["rule"] for d in breached + overdue}
    assert [d["rule"] for d in excepted] == ["A6"]
