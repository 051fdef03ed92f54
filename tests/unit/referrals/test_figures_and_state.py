"""Timeliness figures from recorded dates, and the case state's JSON form."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from services.referrals import lifecycle
from services.referrals.figures import timeliness
from services.referrals.store import state_from_json, state_to_json


def steps(case_id, *items):
    return [{"case_id": case_id, "seq": i + 1, "type": t, "on_date": d, "data": data}
            for i, (t, d, data) in enumerate(items)]


def test_figures_count_first_decisions_and_first_plans_only():
    cases = [{"id": "a", "received_on": date(2026, 1, 5)},
             {"id": "b", "received_on": date(2026, 1, 5)},
             {"id": "c", "received_on": date(2025, 12, 1)}]
    all_steps = (
        steps("a", ("decision_to_assess", date(2026, 2, 16), {"outcome": "assess"}),
              ("final_plan_issued", date(2026, 5, 25), {}),                          # 140 d
              ("final_plan_issued", date(2026, 9, 1), {}))                           # ignored
        + steps("b", ("decision_to_assess", date(2026, 2, 17), {"outcome": "refuse"}))  # 43 d
        + steps("c", ("exception_started", date(2026, 1, 10), {}),
                ("decision_to_assess", date(2026, 1, 12), {"outcome": "assess"}),
                ("final_plan_issued", date(2027, 1, 2), {}))                          # > 1 y
        + steps("unknown", ("final_plan_issued", date(2026, 3, 1), {}))
    )
    y2026 = timeliness(cases, all_steps, 2026)
    assert y2026["requests_received"] == 2
    assert y2026["decisions_to_assess"] == {"made": 3, "to_assess": 2, "refused": 1,
                                            "within_6_weeks": 2,  # a: 42 d, c: 42 d
                                            "within_6_weeks_percent": 66.7}
    assert y2026["plans_issued"]["issued"] == 1
    assert y2026["plans_issued"]["within_20_weeks"] == 1  # exactly 20 weeks is in time
    assert y2026["plans_issued"]["average_weeks_to_issue"] == 20.0
    y2027 = timeliness(cases, all_steps, 2027)["plans_issued"]
    assert (y2027["issued"], y2027["over_a_year"], y2027["excluding_exceptions"]) == (1, 1, 0)
    assert y2027["within_20_weeks_excluding_exceptions_percent"] is None
    empty = timeliness([], [], 2026)
    assert empty["plans_issued"]["average_weeks_to_issue"] is None


WALK = [("decision_to_assess", {"outcome": "assess"}),
        ("advice_requested", {"adviser": "health"}),
        ("exception_started", {"limb": "c", "note": "n"}),
        ("draft_plan_issued", {}),
        ("school_consulted", {"school_urn": "100002"}),
        ("final_plan_issued", {"school_urn": "100003"}),
        ("phase_transfer", {"transfer_year": 2027, "to_phase": "secondary"}),
        ("transferred_in", {"la_code": "882"})]


@settings(max_examples=30)
@given(st.integers(min_value=0, max_value=len(WALK)))
def test_state_survives_its_json_form(n):
    state = lifecycle.new_case(date(2026, 1, 5), "881", "100001", date(2026, 12, 1))
    for i, (step_type, data) in enumerate(WALK[:n]):
        state = lifecycle.apply_step(state, step_type, date(2026, 2, 1 + i), data,
                                     date(2026, 12, 1))
    assert state_from_json(state_to_json(state)) == state
