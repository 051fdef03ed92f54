"""Unit tests of the pure case-lifecycle state machine (synthetic cases only)."""

from __future__ import annotations

import copy
import dataclasses
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.referrals.lifecycle import (
    ADVISERS,
    CLOSED_STATES,
    DISAGREEMENT_STEPS,
    OPEN_STATES,
    PLAN_IN_PLACE_STATES,
    STATES,
    STEP_TYPES,
    CaseState,
    InvalidStep,
    StepNotAllowed,
    allowed_steps,
    apply_step,
    case_reference,
    new_case,
)
from shared.events import CASE_STEP_TYPES

RECEIVED = date(2026, 1, 5)  # a Monday
TODAY = date(2027, 6, 30)
LA = "881"
OTHER_LA = "882"
SCHOOL = "100001"
OTHER_SCHOOL = "100002"

# --- the expected transition table, written out independently of the implementation ------

TAIL = ["exception_started", "withdrawn", "transferred_out", "transferred_in"]
# What every state with a plan in place also accepts (issue 11).
PLAN_TAIL = ["review_meeting_scheduled", "move_notified", "decision_notice_sent"]
EXPECTED_ALLOWED: dict[str, list[str]] = {
    "request_received": ["decision_to_assess", *TAIL],
    "assessing": ["advice_requested", "decision_not_to_issue", "draft_plan_issued", *TAIL],
    "draft_plan_issued": [
        "draft_response_received",
        "school_consulted",
        "final_plan_issued",
        *TAIL,
    ],
    "plan_maintained": [
        "review_meeting_held",
        "phase_transfer",
        *TAIL,
        "reassessment_requested",
        "tribunal_order",
        "review_meeting_scheduled",
        "move_notified",
        "cease_decision",
        "decision_notice_sent",
    ],
    "review_held": ["review_decision", "phase_transfer", *TAIL, *PLAN_TAIL],
    "amending": ["amendments_proposed", "phase_transfer", *TAIL, *PLAN_TAIL],
    "amendments_proposed": [
        "school_consulted",
        "amendments_response_received",
        "amended_plan_issued",
        "decision_not_to_amend",
        "phase_transfer",
        *TAIL,
        *PLAN_TAIL,
    ],
    "reassessment_requested": ["phase_transfer", *TAIL, "reassessment_decided", *PLAN_TAIL],
    "refused": ["tribunal_order", "decision_notice_sent"],
    "not_issuing": ["tribunal_order", "decision_notice_sent"],
    "ceased": ["tribunal_order", "decision_notice_sent"],
    "withdrawn": [],
    "transferred_out": [],
}

Step = tuple[str, dict[str, Any]]

ASSESS: Step = ("decision_to_assess", {"outcome": "assess"})
DRAFT: Step = ("draft_plan_issued", {})
FINAL: Step = ("final_plan_issued", {})
REVIEW: Step = ("review_meeting_held", {})
AMEND: Step = ("review_decision", {"outcome": "amend"})
PROPOSE: Step = ("amendments_proposed", {})
REPORT: Step = ("review_report_sent", {})

# A shortest path from a new case to each state, with no pending advice/replies/exceptions.
PATHS: dict[str, list[Step]] = {
    "request_received": [],
    "assessing": [ASSESS],
    "draft_plan_issued": [ASSESS, DRAFT],
    "plan_maintained": [ASSESS, DRAFT, FINAL],
    "review_held": [ASSESS, DRAFT, FINAL, REVIEW, REPORT],
    "amending": [ASSESS, DRAFT, FINAL, REVIEW, REPORT, AMEND],
    "amendments_proposed": [ASSESS, DRAFT, FINAL, REVIEW, REPORT, AMEND, PROPOSE],
    "reassessment_requested": [ASSESS, DRAFT, FINAL, ("reassessment_requested", {})],
    "refused": [("decision_to_assess", {"outcome": "refuse"})],
    "not_issuing": [ASSESS, ("decision_not_to_issue", {})],
    "ceased": [ASSESS, DRAFT, FINAL, REVIEW, REPORT, ("review_decision", {"outcome": "cease"})],
    "withdrawn": [("withdrawn", {})],
    "transferred_out": [("transferred_out", {"la_code": OTHER_LA})],
}


def walk(steps: list[Step], start: date = RECEIVED, gap_days: int = 7) -> CaseState:
    """A new case with ``steps`` applied a week apart."""
    case = new_case(start, LA, SCHOOL, TODAY)
    for i, (step_type, data) in enumerate(steps, start=1):
        case = apply_step(case, step_type, start + timedelta(days=gap_days * i), data, TODAY)
    return case


def case_in(state: str) -> CaseState:
    case = walk(PATHS[state])
    assert case.status == state
    return case


def next_day(case: CaseState) -> date:
    return case.last_step_on + timedelta(days=1)


# Valid data for each step type, used where a step is applied only to probe its state check.
SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "decision_to_assess": {"outcome": "assess"},
    "advice_requested": {"adviser": "health"},
    "advice_received": {"adviser": "health"},
    "school_consulted": {"school_urn": SCHOOL},
    "school_response_received": {"school_urn": SCHOOL},
    "review_decision": {"outcome": "maintain"},
    "phase_transfer": {"transfer_year": 2027, "to_phase": "secondary"},
    "exception_started": {"limb": "c", "note": "synthetic note"},
    "exception_ended": {"exception_id": "exc-1"},
    "transferred_out": {"la_code": OTHER_LA},
    "transferred_in": {"la_code": OTHER_LA},
    "reassessment_decided": {"outcome": "reassess"},
    "tribunal_order": {"order": "assess"},
    "review_meeting_scheduled": {"meeting_on": "2027-07-20"},
    "move_notified": {"la_code": OTHER_LA},
}


# --- vocabulary -----------------------------------------------------------------------------


def test_states_and_steps_are_complete_and_distinct() -> None:
    assert set(STATES) == set(EXPECTED_ALLOWED) == set(PATHS)
    assert len(STATES) == len(set(STATES))
    assert set(OPEN_STATES) | set(CLOSED_STATES) == set(STATES)
    assert not set(OPEN_STATES) & set(CLOSED_STATES)
    assert set(PLAN_IN_PLACE_STATES) <= set(OPEN_STATES)
    # the contract module's tuple itself (declared once), each step once
    assert STEP_TYPES is CASE_STEP_TYPES
    assert len(STEP_TYPES) == len(set(STEP_TYPES))


@pytest.mark.parametrize("state", STATES)
def test_allowed_steps_match_the_table(state: str) -> None:
    assert allowed_steps(case_in(state)) == EXPECTED_ALLOWED[state]


def test_every_step_type_is_reachable_from_some_state() -> None:
    reachable = {step for steps in EXPECTED_ALLOWED.values() for step in steps}
    # The pending-work steps are offered only while work is pending (tested below), the
    # disagreement steps only after a decision notice (test_disagreement_after_a_notice).
    pending = {
        "advice_received",
        "school_response_received",
        "exception_ended",
        "review_invitations_sent",
        "review_advice_circulated",
        "review_report_sent",
    }
    assert reachable | pending | DISAGREEMENT_STEPS == set(STEP_TYPES)


def test_disagreement_after_a_notice_and_review_work_while_pending() -> None:
    case = walk(PATHS["refused"])
    assert not set(allowed_steps(case)) & DISAGREEMENT_STEPS
    case = apply_step(case, "decision_notice_sent", next_day(case), {}, TODAY)
    assert DISAGREEMENT_STEPS <= set(allowed_steps(case))
    for step_type in (
        "mediation_requested",
        "mediation_held",
        "mediation_certificate_issued",
        "appeal_lodged",
    ):
        case = apply_step(case, step_type, next_day(case), {}, TODAY)
    assert case.status == "refused"
    case = apply_step(case, "tribunal_order", next_day(case), {"order": "assess"}, TODAY)
    assert not set(allowed_steps(case)) & DISAGREEMENT_STEPS  # the appeal is decided

    case = walk(PATHS["plan_maintained"])
    with pytest.raises(InvalidStep) as past:
        apply_step(
            case, "review_meeting_scheduled", next_day(case), {"meeting_on": "2026-01-01"}, TODAY
        )
    assert past.value.field == "meeting_on"
    case = apply_step(
        case, "review_meeting_scheduled", next_day(case), {"meeting_on": "2026-03-01"}, TODAY
    )
    assert {"review_invitations_sent", "review_advice_circulated"} <= set(allowed_steps(case))
    case = apply_step(case, "review_invitations_sent", next_day(case), {}, TODAY)
    case = apply_step(case, "review_meeting_held", next_day(case), {}, TODAY)
    assert "review_invitations_sent" not in allowed_steps(case)
    assert "review_report_sent" in allowed_steps(case)
    case = apply_step(case, "review_report_sent", next_day(case), {}, TODAY)
    assert "review_report_sent" not in allowed_steps(case)
    case = apply_step(case, "review_decision", next_day(case), {"outcome": "maintain"}, TODAY)
    case = apply_step(case, "cease_decision", next_day(case), {}, TODAY)  # Reg 31, no review
    assert case.status == "ceased"


def test_closed_states_allow_nothing_but_an_appeal_outcome() -> None:
    for state in CLOSED_STATES:
        assert set(allowed_steps(case_in(state))) <= {"tribunal_order", "decision_notice_sent"}
        assert case_in(state).is_closed


# --- the full walk -----------------------------------------------------------------------------


def test_walk_from_request_to_plan_review_amendment_and_phase_transfer() -> None:
    day = RECEIVED
    case = new_case(RECEIVED, LA, SCHOOL, TODAY)
    assert (case.status, case.last_step_on, case.responsible_since) == (
        "request_received",
        RECEIVED,
        RECEIVED,
    )
    assert not case.is_closed and not case.plan_in_place

    def step(step_type: str, expected_status: str, **data: Any) -> CaseState:
        nonlocal case, day
        day += timedelta(days=3)
        case = apply_step(case, step_type, day, data, TODAY)
        assert case.status == expected_status, step_type
        assert case.last_step_on == day
        return case

    step("decision_to_assess", "assessing", outcome="assess")
    for adviser in ADVISERS:
        step("advice_requested", "assessing", adviser=adviser)
    assert case.advice_outstanding == case.advice_requested == frozenset(ADVISERS)
    assert "advice_received" in allowed_steps(case)
    for adviser in ADVISERS:
        step("advice_received", "assessing", adviser=adviser)
    assert case.advice_outstanding == frozenset()
    assert case.advice_requested == frozenset(ADVISERS)
    assert "advice_received" not in allowed_steps(case)

    step("exception_started", "assessing", limb="a", note="school closed for summer")
    assert case.last_exception_id == "exc-1"
    assert case.open_exceptions == {"exc-1"}
    step("exception_ended", "assessing", exception_id="exc-1")
    assert case.open_exceptions == frozenset()

    step("draft_plan_issued", "draft_plan_issued")
    step("school_consulted", "draft_plan_issued", school_urn=SCHOOL)
    step("school_consulted", "draft_plan_issued", school_urn=OTHER_SCHOOL)
    assert case.consultations_outstanding == {SCHOOL, OTHER_SCHOOL}
    step("school_response_received", "draft_plan_issued", school_urn=OTHER_SCHOOL)
    step("school_response_received", "draft_plan_issued", school_urn=SCHOOL)
    assert case.consultations_outstanding == frozenset()

    step("final_plan_issued", "plan_maintained", school_urn=OTHER_SCHOOL)
    assert case.school_urn == OTHER_SCHOOL  # the named school now follows the case
    assert case.plan_in_place

    step("review_meeting_held", "review_held")
    step("review_decision", "plan_maintained", outcome="maintain")
    step("review_meeting_held", "review_held")
    step("review_decision", "amending", outcome="amend")
    step("amendments_proposed", "amendments_proposed")
    step("school_consulted", "amendments_proposed", school_urn="100003")
    step("school_response_received", "amendments_proposed", school_urn="100003")
    step("amended_plan_issued", "plan_maintained", school_urn="100003")
    assert case.school_urn == "100003"

    step("phase_transfer", "plan_maintained", transfer_year=2027, to_phase="secondary")
    assert (case.transfer_year, case.to_phase) == (2027, "secondary")
    # The invariant fields never moved.
    assert (case.received_on, case.la_code, case.responsible_since) == (RECEIVED, LA, RECEIVED)


def test_plan_issued_without_school_urn_keeps_the_school() -> None:
    assert case_in("plan_maintained").school_urn == SCHOOL


@pytest.mark.parametrize(
    ("path", "step_type", "data", "expected"),
    [
        ([], "decision_to_assess", {"outcome": "refuse"}, "refused"),
        ([ASSESS], "decision_not_to_issue", {}, "not_issuing"),
        (PATHS["review_held"], "review_decision", {"outcome": "maintain"}, "plan_maintained"),
        (PATHS["review_held"], "review_decision", {"outcome": "amend"}, "amending"),
        (PATHS["review_held"], "review_decision", {"outcome": "cease"}, "ceased"),
        (
            PATHS["reassessment_requested"],
            "reassessment_decided",
            {"outcome": "reassess"},
            "assessing",
        ),
        (
            PATHS["reassessment_requested"],
            "reassessment_decided",
            {"outcome": "refuse"},
            "plan_maintained",
        ),
        (PATHS["refused"], "tribunal_order", {"order": "assess"}, "assessing"),
        (PATHS["amendments_proposed"], "decision_not_to_amend", {}, "plan_maintained"),
        (
            PATHS["reassessment_requested"] + [("reassessment_decided", {"outcome": "reassess"})],
            "decision_not_to_issue",
            {},
            "plan_maintained",
        ),
        (
            PATHS["plan_maintained"]
            + [
                ("tribunal_order", {"order": "assess"}),
                ("decision_to_assess", {"outcome": "assess"}),
            ],
            "decision_not_to_issue",
            {},
            "plan_maintained",
        ),
        (PATHS["not_issuing"], "tribunal_order", {"order": "make_plan"}, "assessing"),
        (PATHS["ceased"], "tribunal_order", {"order": "continue_plan"}, "plan_maintained"),
        (PATHS["plan_maintained"], "tribunal_order", {"order": "assess"}, "assessing"),
        (
            PATHS["plan_maintained"],
            "tribunal_order",
            {"order": "amend_plan"},
            "amendments_proposed",
        ),
        (
            PATHS["plan_maintained"],
            "tribunal_order",
            {"order": "change_school"},
            "amendments_proposed",
        ),
    ],
)
def test_branching_steps(path: list[Step], step_type: str, data: dict, expected: str) -> None:
    case = walk(path)
    assert apply_step(case, step_type, next_day(case), data, TODAY).status == expected


@pytest.mark.parametrize("state", OPEN_STATES)
def test_withdrawal_from_every_open_state_closes_for_good(state: str) -> None:
    case = case_in(state)
    closed = apply_step(case, "withdrawn", next_day(case), {}, TODAY)
    assert closed.status == "withdrawn"
    assert allowed_steps(closed) == []


@pytest.mark.parametrize("state", OPEN_STATES)
def test_transfer_out_from_every_open_state_closes_for_good(state: str) -> None:
    case = case_in(state)
    closed = apply_step(case, "transferred_out", next_day(case), {"la_code": OTHER_LA}, TODAY)
    assert closed.status == "transferred_out"
    assert closed.la_code == LA  # the old LA keeps its (closed) record
    assert allowed_steps(closed) == []


@pytest.mark.parametrize("state", OPEN_STATES)
def test_transfer_in_continues_the_case_and_restarts_the_clocks(state: str) -> None:
    case = case_in(state)
    on = next_day(case)
    moved = apply_step(case, "transferred_in", on, {"la_code": OTHER_LA}, TODAY)
    assert moved.status == state
    assert moved.responsible_since == on
    assert moved.transferred_from == OTHER_LA
    assert moved.la_code == LA
    assert moved.received_on == RECEIVED


# --- pending work: advice, school replies, exceptions --------------------------------------


def test_advice_received_only_for_requested_outstanding_adviser() -> None:
    case = case_in("assessing")
    with pytest.raises(StepNotAllowed) as refused:
        apply_step(case, "advice_received", next_day(case), {"adviser": "health"}, TODAY)
    assert refused.value.allowed == EXPECTED_ALLOWED["assessing"]

    case = apply_step(case, "advice_requested", next_day(case), {"adviser": "health"}, TODAY)
    assert allowed_steps(case) == sorted(
        [*EXPECTED_ALLOWED["assessing"], "advice_received"], key=STEP_TYPES.index
    )
    with pytest.raises(InvalidStep) as invalid:
        apply_step(case, "advice_received", next_day(case), {"adviser": "social_care"}, TODAY)
    assert invalid.value.field == "adviser"

    with pytest.raises(InvalidStep) as duplicate:
        apply_step(case, "advice_requested", next_day(case), {"adviser": "health"}, TODAY)
    assert duplicate.value.field == "adviser"

    case = apply_step(case, "advice_received", next_day(case), {"adviser": "health"}, TODAY)
    # Advice may be asked for again once received (e.g. updated advice).
    again = apply_step(case, "advice_requested", next_day(case), {"adviser": "health"}, TODAY)
    assert again.advice_outstanding == {"health"}


def test_late_advice_can_be_recorded_after_the_draft_and_the_final_plan() -> None:
    case = walk([ASSESS, ("advice_requested", {"adviser": "social_care"}), DRAFT, FINAL])
    assert case.status == "plan_maintained"
    assert "advice_received" in allowed_steps(case)
    case = apply_step(case, "advice_received", next_day(case), {"adviser": "social_care"}, TODAY)
    assert case.status == "plan_maintained"
    assert case.advice_outstanding == frozenset()


def test_school_reply_only_for_an_outstanding_consultation() -> None:
    case = case_in("draft_plan_issued")
    with pytest.raises(StepNotAllowed):
        apply_step(case, "school_response_received", next_day(case), {"school_urn": SCHOOL}, TODAY)
    case = apply_step(case, "school_consulted", next_day(case), {"school_urn": SCHOOL}, TODAY)
    with pytest.raises(InvalidStep) as again:
        apply_step(case, "school_consulted", next_day(case), {"school_urn": SCHOOL}, TODAY)
    assert again.value.field == "school_urn"
    with pytest.raises(InvalidStep) as other:
        apply_step(
            case, "school_response_received", next_day(case), {"school_urn": OTHER_SCHOOL}, TODAY
        )
    assert other.value.field == "school_urn"
    # The final plan may name a school that has not replied; the reply is still recordable.
    case = apply_step(case, "final_plan_issued", next_day(case), {}, TODAY)
    assert "school_response_received" in allowed_steps(case)


def test_exceptions_are_numbered_and_ended_individually() -> None:
    case = case_in("request_received")
    with pytest.raises(StepNotAllowed):
        apply_step(case, "exception_ended", next_day(case), {"exception_id": "exc-1"}, TODAY)
    assert case.last_exception_id is None
    for limb in "ab":
        case = apply_step(
            case, "exception_started", next_day(case), {"limb": limb, "note": "n"}, TODAY
        )
    assert case.open_exceptions == {"exc-1", "exc-2"}
    assert case.last_exception_id == "exc-2"
    assert "exception_ended" in allowed_steps(case)
    case = apply_step(case, "exception_ended", next_day(case), {"exception_id": "exc-1"}, TODAY)
    assert case.open_exceptions == {"exc-2"}
    with pytest.raises(InvalidStep) as ended_twice:
        apply_step(case, "exception_ended", next_day(case), {"exception_id": "exc-1"}, TODAY)
    assert ended_twice.value.field == "exception_id"
    # Ids are never reused after an exception ends.
    case = apply_step(
        case, "exception_started", next_day(case), {"limb": "d", "note": "away"}, TODAY
    )
    assert case.last_exception_id == "exc-3"


def test_post16_to_post16_move_is_dated_by_the_move() -> None:
    case = walk(PATHS["plan_maintained"])
    data = {"to_phase": "post16_to_post16", "transfer_on": "2027-01-10"}
    case = apply_step(case, "phase_transfer", next_day(case), data, TODAY)
    assert (case.to_phase, case.transfer_year) == ("post16_to_post16", 2027)


def test_exception_ended_without_id_closes_the_only_open_one() -> None:
    case = case_in("assessing")
    case = apply_step(case, "exception_started", next_day(case), {"limb": "c", "note": "n"}, TODAY)
    case = apply_step(case, "exception_ended", next_day(case), {}, TODAY)
    assert case.open_exceptions == frozenset()
    for limb in "cd":
        case = apply_step(
            case, "exception_started", next_day(case), {"limb": limb, "note": "n"}, TODAY
        )
    with pytest.raises(InvalidStep) as several:
        apply_step(case, "exception_ended", next_day(case), {}, TODAY)
    assert several.value.field == "exception_id"
    assert "exc-2" in several.value.message and "exc-3" in several.value.message


def test_tribunal_order_to_assess_makes_the_notice_recordable() -> None:
    """Reg 44(2)(b): the LA's notice that it will assess, after the order, is recordable
    once (as decision_to_assess, outcome assess); it cannot be a refusal."""
    for path in (PATHS["refused"], PATHS["plan_maintained"]):
        case = walk(path)
        case = apply_step(case, "tribunal_order", next_day(case), {"order": "assess"}, TODAY)
        assert case.status == "assessing" and "decision_to_assess" in allowed_steps(case)
        with pytest.raises(InvalidStep) as refused:
            apply_step(case, "decision_to_assess", next_day(case), {"outcome": "refuse"}, TODAY)
        assert refused.value.field == "outcome"
        case = apply_step(case, "decision_to_assess", next_day(case), {"outcome": "assess"}, TODAY)
        assert case.status == "assessing"
        assert "decision_to_assess" not in allowed_steps(case)


@pytest.mark.parametrize("state", OPEN_STATES)
def test_exceptions_can_be_recorded_in_every_open_state(state: str) -> None:
    case = case_in(state)
    case = apply_step(
        case, "exception_started", next_day(case), {"limb": "c", "note": "illness"}, TODAY
    )
    assert case.status == state
    case = apply_step(case, "exception_ended", next_day(case), {"exception_id": "exc-1"}, TODAY)
    assert case.status == state and not case.open_exceptions


# --- every refused transition --------------------------------------------------------------

REFUSED_TRANSITIONS = [
    (state, step_type)
    for state in STATES
    for step_type in STEP_TYPES
    if step_type not in EXPECTED_ALLOWED[state]
]


@pytest.mark.parametrize(("state", "step_type"), REFUSED_TRANSITIONS)
def test_step_not_allowed(state: str, step_type: str) -> None:
    case = case_in(state)
    before = copy.deepcopy(case)
    with pytest.raises(StepNotAllowed) as refused:
        apply_step(case, step_type, next_day(case), SAMPLE_DATA.get(step_type, {}), TODAY)
    assert refused.value.current_state == state
    assert refused.value.step_type == step_type
    assert refused.value.allowed == EXPECTED_ALLOWED[state]
    assert state in str(refused.value) and step_type in str(refused.value)
    assert case == before


def test_not_allowed_is_checked_before_the_date_and_data() -> None:
    case = case_in("withdrawn")
    with pytest.raises(StepNotAllowed):
        apply_step(case, "decision_to_assess", date(2000, 1, 1), {}, TODAY)


# --- every InvalidStep field -----------------------------------------------------------------

INVALID_DATA: list[tuple[str, list[Step], str, dict[str, Any], str]] = [
    # (id, path, step type, data, field)
    ("outcome missing", [], "decision_to_assess", {}, "outcome"),
    ("outcome unknown", [], "decision_to_assess", {"outcome": "maybe"}, "outcome"),
    ("outcome not text", [], "decision_to_assess", {"outcome": ["assess"]}, "outcome"),
    ("outcome null", [], "decision_to_assess", {"outcome": None}, "outcome"),
    ("adviser missing", [ASSESS], "advice_requested", {}, "adviser"),
    ("adviser unknown", [ASSESS], "advice_requested", {"adviser": "dentist"}, "adviser"),
    (
        "received adviser unknown",
        [ASSESS, ("advice_requested", {"adviser": "health"})],
        "advice_received",
        {"adviser": "dentist"},
        "adviser",
    ),
    ("consulted urn missing", PATHS["draft_plan_issued"], "school_consulted", {}, "school_urn"),
    (
        "consulted urn short",
        PATHS["draft_plan_issued"],
        "school_consulted",
        {"school_urn": "12345"},
        "school_urn",
    ),
    (
        "consulted urn number",
        PATHS["draft_plan_issued"],
        "school_consulted",
        {"school_urn": 123456},
        "school_urn",
    ),
    (
        "reply urn missing",
        [ASSESS, DRAFT, ("school_consulted", {"school_urn": SCHOOL})],
        "school_response_received",
        {},
        "school_urn",
    ),
    (
        "final plan urn bad",
        PATHS["draft_plan_issued"],
        "final_plan_issued",
        {"school_urn": "abc"},
        "school_urn",
    ),
    (
        "amended plan urn bad",
        PATHS["amendments_proposed"],
        "amended_plan_issued",
        {"school_urn": "1000011"},
        "school_urn",
    ),
    ("review outcome missing", PATHS["review_held"], "review_decision", {}, "outcome"),
    (
        "review outcome unknown",
        PATHS["review_held"],
        "review_decision",
        {"outcome": "refuse"},
        "outcome",
    ),
    (
        "transfer year missing",
        PATHS["plan_maintained"],
        "phase_transfer",
        {"to_phase": "secondary"},
        "transfer_year",
    ),
    (
        "transfer year text",
        PATHS["plan_maintained"],
        "phase_transfer",
        {"transfer_year": "2027", "to_phase": "secondary"},
        "transfer_year",
    ),
    (
        "transfer year bool",
        PATHS["plan_maintained"],
        "phase_transfer",
        {"transfer_year": True, "to_phase": "secondary"},
        "transfer_year",
    ),
    (
        "transfer year past",
        PATHS["plan_maintained"],
        "phase_transfer",
        {"transfer_year": 2025, "to_phase": "secondary"},
        "transfer_year",
    ),
    (
        "transfer year far",
        PATHS["plan_maintained"],
        "phase_transfer",
        {"transfer_year": 2062, "to_phase": "secondary"},
        "transfer_year",
    ),
    (
        "to phase missing",
        PATHS["plan_maintained"],
        "phase_transfer",
        {"transfer_year": 2027},
        "to_phase",
    ),
    (
        "to phase unknown",
        PATHS["plan_maintained"],
        "phase_transfer",
        {"transfer_year": 2027, "to_phase": "university"},
        "to_phase",
    ),
    ("limb missing", [], "exception_started", {"note": "n"}, "limb"),
    ("limb unknown", [], "exception_started", {"limb": "e", "note": "n"}, "limb"),
    ("note missing", [], "exception_started", {"limb": "a"}, "note"),
    ("note blank", [], "exception_started", {"limb": "a", "note": "   "}, "note"),
    ("note not text", [], "exception_started", {"limb": "a", "note": 42}, "note"),
    ("note too long", [], "exception_started", {"limb": "a", "note": "x" * 2001}, "note"),
    (
        "exception id missing with two open",
        [
            ("exception_started", {"limb": "c", "note": "n"}),
            ("exception_started", {"limb": "d", "note": "n"}),
        ],
        "exception_ended",
        {},
        "exception_id",
    ),
    (
        "exception id unknown",
        [("exception_started", {"limb": "c", "note": "n"})],
        "exception_ended",
        {"exception_id": "exc-99"},
        "exception_id",
    ),
    (
        "exception id not text",
        [("exception_started", {"limb": "c", "note": "n"})],
        "exception_ended",
        {"exception_id": ["exc-1"]},
        "exception_id",
    ),
    (
        "unopposed not a boolean",
        PATHS["refused"],
        "tribunal_order",
        {"order": "assess", "unopposed": "yes"},
        "unopposed",
    ),
    (
        "into year 10",
        PATHS["plan_maintained"],
        "phase_transfer",
        {"transfer_year": 2027, "to_phase": "secondary", "year_group": 10},
        "year_group",
    ),
    (
        "post-16 move without its date",
        PATHS["plan_maintained"],
        "phase_transfer",
        {"to_phase": "post16_to_post16"},
        "transfer_on",
    ),
    (
        "post-16 move date not a date",
        PATHS["plan_maintained"],
        "phase_transfer",
        {"to_phase": "post16_to_post16", "transfer_on": "next spring"},
        "transfer_on",
    ),
    ("out la missing", [], "transferred_out", {}, "la_code"),
    ("out la short", [], "transferred_out", {"la_code": "88"}, "la_code"),
    ("out la number", [], "transferred_out", {"la_code": 882}, "la_code"),
    ("out la same", [], "transferred_out", {"la_code": LA}, "la_code"),
    ("in la missing", [], "transferred_in", {}, "la_code"),
    ("in la letters", [], "transferred_in", {"la_code": "abc"}, "la_code"),
    ("in la same", [], "transferred_in", {"la_code": LA}, "la_code"),
    (
        "reassessment outcome missing",
        PATHS["reassessment_requested"],
        "reassessment_decided",
        {},
        "outcome",
    ),
    (
        "reassessment outcome unknown",
        PATHS["reassessment_requested"],
        "reassessment_decided",
        {"outcome": "amend"},
        "outcome",
    ),
    ("order missing", PATHS["refused"], "tribunal_order", {}, "order"),
    (
        "order wrong for refused",
        PATHS["refused"],
        "tribunal_order",
        {"order": "make_plan"},
        "order",
    ),
    (
        "order wrong for not issuing",
        PATHS["not_issuing"],
        "tribunal_order",
        {"order": "assess"},
        "order",
    ),
    ("order wrong for ceased", PATHS["ceased"], "tribunal_order", {"order": "assess"}, "order"),
    (
        "order wrong for plan",
        PATHS["plan_maintained"],
        "tribunal_order",
        {"order": "continue_plan"},
        "order",
    ),
    ("order not text", PATHS["refused"], "tribunal_order", {"order": ["assess"]}, "order"),
    ("unknown step type", [], "case_closed", {}, "type"),
    ("data not a mapping", [], "decision_to_assess", ["assess"], "data"),  # type: ignore[list-item]
]


@pytest.mark.parametrize(
    ("path", "step_type", "data", "field"),
    [case[1:] for case in INVALID_DATA],
    ids=[case[0] for case in INVALID_DATA],
)
def test_invalid_step_names_the_field(
    path: list[Step], step_type: str, data: Any, field: str
) -> None:
    case = walk(path)
    before = copy.deepcopy(case)
    with pytest.raises(InvalidStep) as invalid:
        apply_step(case, step_type, next_day(case), data, TODAY)
    assert invalid.value.field == field
    assert invalid.value.message
    assert str(invalid.value).startswith(f"{field}: ")
    assert case == before


def test_every_data_field_named_in_the_api_is_validated() -> None:
    fields = {case[4] for case in INVALID_DATA}
    assert {
        "outcome",
        "adviser",
        "school_urn",
        "transfer_year",
        "to_phase",
        "limb",
        "note",
        "exception_id",
        "la_code",
        "order",
        "type",
    } <= fields


# --- dates -----------------------------------------------------------------------------------


def test_step_before_receipt_is_refused() -> None:
    case = new_case(RECEIVED, LA, SCHOOL, TODAY)
    with pytest.raises(InvalidStep) as invalid:
        apply_step(
            case, "decision_to_assess", RECEIVED - timedelta(days=1), {"outcome": "assess"}, TODAY
        )
    assert invalid.value.field == "on"
    assert "received" in invalid.value.message


def test_step_in_the_future_is_refused() -> None:
    case = new_case(RECEIVED, LA, SCHOOL, TODAY)
    with pytest.raises(InvalidStep) as invalid:
        apply_step(
            case, "decision_to_assess", TODAY + timedelta(days=1), {"outcome": "assess"}, TODAY
        )
    assert invalid.value.field == "on"
    assert "future" in invalid.value.message


def test_step_out_of_order_is_refused() -> None:
    case = case_in("draft_plan_issued")
    with pytest.raises(InvalidStep) as invalid:
        apply_step(case, "final_plan_issued", case.last_step_on - timedelta(days=1), {}, TODAY)
    assert invalid.value.field == "on"
    assert "last step" in invalid.value.message


def test_same_day_and_today_are_accepted() -> None:
    case = new_case(TODAY, LA, SCHOOL, TODAY)
    case = apply_step(case, "decision_to_assess", TODAY, {"outcome": "assess"}, TODAY)
    case = apply_step(case, "advice_requested", TODAY, {"adviser": "health"}, TODAY)
    assert case.last_step_on == TODAY


@pytest.mark.parametrize("on", [datetime(2026, 2, 1, 9, 30), "2026-02-01", None])
def test_step_date_must_be_a_date(on: Any) -> None:
    case = new_case(RECEIVED, LA, SCHOOL, TODAY)
    with pytest.raises(InvalidStep) as invalid:
        apply_step(case, "decision_to_assess", on, {"outcome": "assess"}, TODAY)
    assert invalid.value.field == "on"


def test_imported_case_with_past_dates_is_accepted() -> None:
    case = walk(PATHS["plan_maintained"], start=date(2019, 3, 1), gap_days=40)
    assert case.status == "plan_maintained"
    assert case.received_on == date(2019, 3, 1)


# --- new cases and references ----------------------------------------------------------------


def test_new_case_in_the_future_is_refused() -> None:
    with pytest.raises(InvalidStep) as invalid:
        new_case(TODAY + timedelta(days=1), LA, SCHOOL, TODAY)
    assert invalid.value.field == "received_on"


@pytest.mark.parametrize(
    ("received_on", "la_code", "school_urn", "field"),
    [
        (datetime(2026, 1, 5, 17, 30), LA, SCHOOL, "received_on"),
        ("2026-01-05", LA, SCHOOL, "received_on"),
        (RECEIVED, "88", SCHOOL, "la_code"),
        (RECEIVED, "8812", SCHOOL, "la_code"),
        (RECEIVED, 881, SCHOOL, "la_code"),
        (RECEIVED, LA, "12345", "school_urn"),
        (RECEIVED, LA, "ABCDEF", "school_urn"),
    ],
)
def test_new_case_validates_its_fields(
    received_on: Any, la_code: Any, school_urn: Any, field: str
) -> None:
    with pytest.raises(InvalidStep) as invalid:
        new_case(received_on, la_code, school_urn, TODAY)
    assert invalid.value.field == field


def test_new_case_may_have_no_school() -> None:
    assert new_case(RECEIVED, LA, "", TODAY).school_urn == ""


@pytest.mark.parametrize(
    ("la_code", "year", "seq", "expected"),
    [
        ("881", 2026, 42, "881-2026-00042"),
        ("201", 2030, 99999, "201-2030-99999"),
        ("919", 2026, 1, "919-2026-00001"),
    ],
)
def test_case_reference(la_code: str, year: int, seq: int, expected: str) -> None:
    assert case_reference(la_code, year, seq) == expected


@pytest.mark.parametrize(
    ("la_code", "year", "seq", "field"),
    [
        ("88", 2026, 1, "la_code"),
        ("8810", 2026, 1, "la_code"),
        ("88a", 2026, 1, "la_code"),
        (881, 2026, 1, "la_code"),
        ("881", 1999, 1, "year"),
        ("881", 10000, 1, "year"),
        ("881", "2026", 1, "year"),
        ("881", 2026, 0, "seq"),
        ("881", 2026, 100000, "seq"),
        ("881", 2026, True, "seq"),
    ],
)
def test_case_reference_validates(la_code: Any, year: Any, seq: Any, field: str) -> None:
    with pytest.raises(InvalidStep) as invalid:
        case_reference(la_code, year, seq)
    assert invalid.value.field == field


# --- immutability ------------------------------------------------------------------------------


def test_case_state_is_frozen() -> None:
    case = case_in("assessing")
    with pytest.raises(dataclasses.FrozenInstanceError):
        case.status = "plan_maintained"  # type: ignore[misc]


def test_applying_a_step_returns_a_new_case() -> None:
    case = case_in("assessing")
    before = copy.deepcopy(case)
    after = apply_step(case, "advice_requested", next_day(case), {"adviser": "health"}, TODAY)
    assert after is not case
    assert case == before


def test_invalid_step_is_a_value_error() -> None:
    assert issubclass(InvalidStep, ValueError)


# Random sequences: a refused step never changes anything, an accepted one keeps the rules.
_steps = st.tuples(
    st.sampled_from(STEP_TYPES),
    st.integers(min_value=-3, max_value=30),
    st.sampled_from(
        [
            {},
            *SAMPLE_DATA.values(),
            {"outcome": "refuse"},
            {"outcome": "amend"},
            {"order": "make_plan"},
            {"order": "continue_plan"},
        ]
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_steps, max_size=25))
def test_random_sequences_keep_the_invariants(steps: list[tuple[str, int, dict]]) -> None:
    case = new_case(RECEIVED, LA, SCHOOL, TODAY)
    for step_type, offset, data in steps:
        on = case.last_step_on + timedelta(days=offset)
        before = copy.deepcopy(case)
        try:
            after = apply_step(case, step_type, on, data, TODAY)
        except StepNotAllowed as refused:
            assert step_type not in allowed_steps(case)
            assert refused.allowed == allowed_steps(case)
            assert case == before
            continue
        except InvalidStep:
            assert case == before
            continue
        assert step_type in allowed_steps(before)
        assert after.status in STATES
        assert after.last_step_on == on >= before.last_step_on
        assert RECEIVED <= on <= TODAY
        assert after.advice_outstanding <= after.advice_requested
        assert (after.la_code, after.received_on) == (LA, RECEIVED)
        case = after
