"""Issue 11 on the real service: the status read back from PostgreSQL (lists, filters)
agrees with the pure engine for milestones met late but within their exception."""

from __future__ import annotations

from datetime import date

import pytest

from services.deadlines import store
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


def _status_on(db, case_id: str, today: date) -> dict[str, str]:
    """The status as of `today` that lists, filters and gauges read (store's SQL)."""
    return {r["rule"]: r["status"] for r in store.milestones_of_cases(db, [case_id], today)}


def test_family_windows_and_no_plan_notice_lapse_in_sql_never_breach(pinned, infra):
    draft = Case(infra.amqp_uri, "912")
    draft.received(date(2026, 6, 1))
    draft.step("decision_to_assess", date(2026, 6, 20), {"outcome": "assess"})
    draft.step("draft_plan_issued", date(2026, 8, 25))  # window to 8 Sep 2026
    no_plan = Case(infra.amqp_uri, "912")
    no_plan.received(date(2026, 6, 1))
    no_plan.step("decision_to_assess", date(2026, 6, 20), {"outcome": "assess"})  # A3 21 Sep
    with infra.connect("deadlines") as db:
        wait_for(lambda: settled(db, draft) and "A4" in milestones(db, draft.id))
        wait_for(lambda: settled(db, no_plan) and "A3" in milestones(db, no_plan.id))
        assert _status_on(db, draft.id, TODAY)["A4"] == "pending"
        assert _status_on(db, no_plan.id, TODAY)["A3"] == "pending"
        later = date(2026, 10, 1)  # both dates passed with nothing recorded
        assert _status_on(db, draft.id, later)["A4"] == "not_applicable"
        assert _status_on(db, no_plan.id, later)["A3"] == "not_applicable"
        assert _status_on(db, no_plan.id, later)["A6"] == "pending"  # 19 Oct
        overdue = store.list_deadlines(db, {
            "case_ids": [draft.id, no_plan.id], "overdue": True, "limit": 100, "offset": 0},
            date(2026, 10, 20))
        assert {r["rule"] for r in overdue} == {"A6"}  # the LA's own duties only
