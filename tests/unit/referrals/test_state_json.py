"""The case state's JSON form (how the referrals service stores the lifecycle)."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from services.referrals import lifecycle
from services.referrals.store import state_from_json, state_to_json

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
