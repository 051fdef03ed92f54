"""A case brought in by `ehcp import` travels as one case.imported: the deadlines service
must compute exactly what it computes for the same history recorded event by event, and
corrections made after the import must find the request and steps by their ids."""

from __future__ import annotations

from datetime import date

import pytest

from tests.integration.deadlines.helpers import Case, rpc, settled
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration

LA = "913"
RECEIVED = date(2026, 1, 5)
# An assessment with advice sought and an exception (Reg 13(3)(c)) of four weeks.
HISTORY = [
    ("decision_to_assess", date(2026, 2, 10), {"outcome": "assess"}),
    ("advice_requested", date(2026, 2, 11), {"adviser": "health"}),
    ("exception_started", date(2026, 3, 2), {"limb": "c", "exception_id": "exc-1"}),
    ("exception_ended", date(2026, 3, 30), {"exception_id": "exc-1"}),
    ("advice_received", date(2026, 4, 1), {"adviser": "health"}),
]


def _schedule(deadlines, case: Case) -> list[dict]:
    """The case's deadlines as the API shows them, without what names the case."""
    rows = deadlines.deadlines_of_cases([case.id])[case.id]
    return sorted(({k: v for k, v in d.items() if k not in ("case_id", "reference")}
                   for d in rows), key=lambda d: (d["rule"], d["milestone"], d["due_on"]))


def _by_rule(deadlines, case: Case) -> dict[str, dict]:
    return {d["rule"]: d for d in _schedule(deadlines, case)}


def test_an_imported_case_has_the_deadlines_of_the_same_history_recorded_step_by_step(
        deadlines_system, infra):
    by_steps = Case(infra.amqp_uri, LA)
    by_steps.received(RECEIVED)
    for step_type, on, data in HISTORY:
        by_steps.step(step_type, on, data)
    imported = Case(infra.amqp_uri, LA)
    imported.imported(RECEIVED, HISTORY)
    with infra.connect("deadlines") as db:
        wait_for(lambda: settled(db, by_steps) and settled(db, imported))
    with rpc(infra.amqp_uri) as deadlines:  # settled: recomputed with the last event
        assert _schedule(deadlines, imported) == _schedule(deadlines, by_steps)
        final_plan = _by_rule(deadlines, imported)["A6"]
    # 5 Jan 2026 + 20 weeks = 25 May 2026 (Reg 13(2)); the exception of 28 days
    # (2 Mar - 30 Mar) moves the target to 22 Jun 2026.
    assert (final_plan["due_on"], final_plan["adjusted_due_on"]) == ("2026-05-25",
                                                                     "2026-06-22")


def test_corrections_after_an_import_name_its_request_and_its_steps(deadlines_system, infra):
    case = Case(infra.amqp_uri, LA)
    event = case.imported(RECEIVED, HISTORY[:1])
    decision_step = str(event["payload"]["steps"][0]["step_id"])
    # the receipt date corrected: the correction names the case.imported event's id, as
    # the referrals service's latest_receipt_version gives it for an imported case
    case.correction("request_received", date(2026, 1, 12), corrects=event["id"])
    case.correction("decision_to_assess", date(2026, 2, 20), corrects=decision_step,
                    data={"outcome": "assess"})
    with infra.connect("deadlines") as db:
        wait_for(lambda: settled(db, case))
    with rpc(infra.amqp_uri) as deadlines:  # settled: recomputed with the last event
        rules = _by_rule(deadlines, case)
    # 12 Jan 2026 + 6 weeks = 23 Feb 2026 (Reg 5(1)), met on the corrected 20 Feb;
    # 12 Jan 2026 + 20 weeks = 1 Jun 2026 (Reg 13(2))
    assert (rules["A1"]["due_on"], rules["A1"]["met_on"], rules["A1"]["status"]) == (
        "2026-02-23", "2026-02-20", "met")
    assert rules["A6"]["due_on"] == "2026-06-01"
