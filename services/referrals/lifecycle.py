"""The EHC case lifecycle: which step may be applied to a case, and what the case becomes.

Pure functions over immutable values: no I/O, no clock (callers pass ``today``), no framework
imports, so the referrals service, the gateway and the tests all share one set of rules.
Statutory references are to ``shared/docs/statutory-timescales.md``.

States
------
Open (steps are recorded):

``request_received``        request for an EHC needs assessment received; awaiting the decision.
``assessing``               LA decided to assess (or reassess, or was ordered to): advice
                            is sought and received.
``draft_plan_issued``       draft plan served; the family comments, schools are consulted.
``plan_maintained``         a final EHC plan is in place (after issue, a review, or amendment).
``review_held``             annual review meeting held; awaiting the LA's review decision.
``amending``                LA decided to amend the plan; amendments not yet sent.
``amendments_proposed``     proposed amendments sent (or ordered by the Tribunal); awaiting
                            the amended plan.
``reassessment_requested``  a reassessment was requested while a plan is in place.

Closed by an LA decision that carries appeal rights; the only step they accept is a
``tribunal_order`` that reverses the decision (an upheld decision needs no step):

``refused``                 decision not to assess.
``not_issuing``             decision not to issue a plan after assessment.
``ceased``                  decision to cease the plan after a review.

Terminal (accept nothing at all):

``withdrawn``               the request or case was withdrawn.
``transferred_out``         the child moved to another LA, which carries on with its own case.

A plan is "in place" in ``plan_maintained``, ``review_held``, ``amending``,
``amendments_proposed`` and ``reassessment_requested``; phase transfers are recorded only there.

Transitions (besides the steps every open state accepts, below)
---------------------------------------------------------------
request_received        decision_to_assess: assess -> assessing, refuse -> refused
assessing               advice_requested (stays); decision_not_to_issue -> not_issuing
                        (after a reassessment: -> plan_maintained, the plan continues);
                        draft_plan_issued -> draft_plan_issued
draft_plan_issued       draft_response_received (the family's representations, Reg 13(1)),
                        school_consulted (stays); final_plan_issued -> plan_maintained
plan_maintained         review_meeting_held -> review_held; phase_transfer (stays);
                        cease_decision -> ceased (Reg 31, outside a review);
                        reassessment_requested -> reassessment_requested;
                        tribunal_order: assess -> assessing,
                        amend_plan | change_school -> amendments_proposed
review_held             review_decision: maintain -> plan_maintained, amend -> amending,
                        cease -> ceased; phase_transfer (stays)
amending                amendments_proposed -> amendments_proposed; phase_transfer (stays)
amendments_proposed     amendments_response_received (the family's, Reg 22(2)(c)),
                        school_consulted (stays); amended_plan_issued -> plan_maintained;
                        decision_not_to_amend (Reg 22(4)) -> plan_maintained;
                        phase_transfer (stays)
reassessment_requested  reassessment_decided: reassess -> assessing,
                        refuse -> plan_maintained; phase_transfer (stays)
refused                 tribunal_order: assess -> assessing
not_issuing             tribunal_order: make_plan -> assessing
ceased                  tribunal_order: continue_plan -> plan_maintained
withdrawn, transferred_out: nothing

A Tribunal order to assess (from refused or plan_maintained) leads to assessing with the
LA's notice that it will assess still due (Reg 44(2)(b), 2 weeks): ``decision_to_assess``
with outcome assess records it, once; ``refuse`` is 422.

With a plan in place: review_meeting_scheduled (``meeting_on``; then review_invitations_sent
and review_advice_circulated until the meeting), move_notified and decision_notice_sent
(all stay); after a review meeting, review_report_sent while the report is pending.
refused, not_issuing and ceased also accept decision_notice_sent. After a decision notice,
the family's mediation_contacted, mediation_declined, mediation_requested, mediation_held,
mediation_certificate_issued and appeal_lodged are recorded (all stay) until a Tribunal order.

Every open state also accepts exception_started, withdrawn -> withdrawn,
transferred_out -> transferred_out, transferred_in (stays), and, while pending,
advice_received, school_response_received and exception_ended (all stay).
final_plan_issued and amended_plan_issued take an optional ``school_urn``: the school named
in the plan, which becomes the case's school.

Transfers between LAs
---------------------
Each LA keeps its own case (tenancy is by LA). ``transferred_out`` closes the old LA's case;
its ``la_code`` names the LA the child moved *to*. The new LA opens (or imports) a case and
records ``transferred_in`` on it; its ``la_code`` names the LA the child came *from*.
``transferred_in`` is allowed from any open state and keeps the state (the case continues
where it stood), but sets ``responsible_since`` to the step date: under T4 (Regs 5(1)(b),
10(1), 13(2)) the new LA's assessment clocks start when it becomes responsible, and for a
plan in place T2/T3 run from the transfer. ``received_on`` stays the request's receipt date,
which bounds every step date.

Pending work is case-dependent: ``advice_received`` is offered only while some advice is
outstanding, ``school_response_received`` only while a consultation is outstanding, and
``exception_ended`` only while an exception is open (without ``exception_id`` it closes the
only open exception; 422 naming the open ones when there are several). Exceptions (limbs
a-d) can be started in any open state; which deadlines they suspend is the deadlines
service's business.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from shared.events import (  # one list of each, in the shared catalogue
    ADVISERS,
    CASE_STEP_TYPES,
)

# --- states -------------------------------------------------------------------------------

REQUEST_RECEIVED = "request_received"
ASSESSING = "assessing"
DRAFT_PLAN_ISSUED = "draft_plan_issued"
PLAN_MAINTAINED = "plan_maintained"
REVIEW_HELD = "review_held"
AMENDING = "amending"
AMENDMENTS_PROPOSED = "amendments_proposed"
REASSESSMENT_REQUESTED = "reassessment_requested"
REFUSED = "refused"
NOT_ISSUING = "not_issuing"
CEASED = "ceased"
WITHDRAWN = "withdrawn"
TRANSFERRED_OUT = "transferred_out"

OPEN_STATES: tuple[str, ...] = (
    REQUEST_RECEIVED,
    ASSESSING,
    DRAFT_PLAN_ISSUED,
    PLAN_MAINTAINED,
    REVIEW_HELD,
    AMENDING,
    AMENDMENTS_PROPOSED,
    REASSESSMENT_REQUESTED,
)
APPEALABLE_CLOSED_STATES: tuple[str, ...] = (REFUSED, NOT_ISSUING, CEASED)
TERMINAL_STATES: tuple[str, ...] = (WITHDRAWN, TRANSFERRED_OUT)
CLOSED_STATES: tuple[str, ...] = APPEALABLE_CLOSED_STATES + TERMINAL_STATES
STATES: tuple[str, ...] = OPEN_STATES + CLOSED_STATES
PLAN_IN_PLACE_STATES: tuple[str, ...] = (
    PLAN_MAINTAINED,
    REVIEW_HELD,
    AMENDING,
    AMENDMENTS_PROPOSED,
    REASSESSMENT_REQUESTED,
)

# --- steps and their vocabularies ---------------------------------------------------------

# The step types are part of the event contract (case.step_recorded.step_type).
STEP_TYPES: tuple[str, ...] = CASE_STEP_TYPES
# Steps of the family's disagreement after a notice with appeal rights (Regs 32-39,
# Tribunal Procedure Rules r20): recorded by the LA as it learns of them.
DISAGREEMENT_STEPS: frozenset[str] = frozenset(
    {
        "mediation_contacted",
        "mediation_declined",
        "mediation_requested",
        "mediation_held",
        "mediation_certificate_issued",
        "appeal_lodged",
    }
)
# A review meeting may be scheduled up to this far ahead of the day it is recorded.
MAX_MEETING_DAYS_AHEAD = 366

ASSESS_OUTCOMES: tuple[str, ...] = ("assess", "refuse")
REVIEW_OUTCOMES: tuple[str, ...] = ("maintain", "amend", "cease")
REASSESSMENT_OUTCOMES: tuple[str, ...] = ("reassess", "refuse")
# Reg 5(4) limbs a-d; "appointment": the child missed an appointment for an examination or
# test (Reg 8(2)(c), advice only).
EXCEPTION_LIMBS: tuple[str, ...] = ("a", "b", "c", "d", "appointment")
# The phase the child moves *to* (Reg 18): 15 February applies to all but post-16 (31 March);
# a move between post-16 institutions at another time is due 5 months before the move
# (Reg 18(2)), dated by ``transfer_on``.
POST16_TO_POST16 = "post16_to_post16"
PHASES: tuple[str, ...] = ("primary", "junior", "middle", "secondary", "post16", POST16_TO_POST16)
# Reg 2(1) lists the transfers between phases; a move into Year 10 (e.g. to a 14-19
# school) is none of them.
NOT_A_PHASE_TRANSFER_YEAR = 10

# Tribunal orders (Reg 44(2)) and the state each one reverses -> the state it leads to.
TRIBUNAL_ORDERS: Mapping[str, Mapping[str, str]] = {
    REFUSED: {"assess": ASSESSING},
    NOT_ISSUING: {"make_plan": ASSESSING},  # the LA's next step is the draft plan
    # A refused reassessment returns the case to plan_maintained; contents appeals too.
    PLAN_MAINTAINED: {
        "assess": ASSESSING,
        "amend_plan": AMENDMENTS_PROPOSED,  # the order stands in for the proposals
        "change_school": AMENDMENTS_PROPOSED,
    },
    CEASED: {"continue_plan": PLAN_MAINTAINED},
}

MAX_NOTE_LENGTH = 2000
# Phase transfers are recorded ahead of time; a bound catches typos such as 2062.
MAX_TRANSFER_YEARS_AHEAD = 5

_LA_CODE = re.compile(r"\d{3}")
_URN = re.compile(r"\d{6}")

# Steps any open state accepts (subject to pending work for the conditional ones).
_OPEN_STEPS: frozenset[str] = frozenset(
    {"exception_started", "withdrawn", "transferred_out", "transferred_in"}
)
# Steps specific to each state, on top of _OPEN_STEPS for open states.
_STATE_STEPS: Mapping[str, frozenset[str]] = {
    REQUEST_RECEIVED: frozenset({"decision_to_assess"}),
    ASSESSING: frozenset({"advice_requested", "decision_not_to_issue", "draft_plan_issued"}),
    DRAFT_PLAN_ISSUED: frozenset(
        {"draft_response_received", "school_consulted", "final_plan_issued"}
    ),
    PLAN_MAINTAINED: frozenset(
        {
            "review_meeting_held",
            "phase_transfer",
            "reassessment_requested",
            "tribunal_order",
            "cease_decision",  # Reg 31: ceasing outside a review
        }
    ),
    REVIEW_HELD: frozenset({"review_decision", "phase_transfer"}),
    AMENDING: frozenset({"amendments_proposed", "phase_transfer"}),
    AMENDMENTS_PROPOSED: frozenset(
        {
            "amendments_response_received",
            "school_consulted",
            "amended_plan_issued",
            "decision_not_to_amend",
            "phase_transfer",
        }
    ),
    REASSESSMENT_REQUESTED: frozenset({"reassessment_decided", "phase_transfer"}),
    REFUSED: frozenset({"tribunal_order"}),
    NOT_ISSUING: frozenset({"tribunal_order"}),
    CEASED: frozenset({"tribunal_order"}),
    WITHDRAWN: frozenset(),
    TRANSFERRED_OUT: frozenset(),
}


# --- errors -------------------------------------------------------------------------------


class StepNotAllowed(Exception):
    """The step cannot be applied from the case's current state (HTTP 409)."""

    def __init__(self, current_state: str, step_type: str, allowed: list[str]) -> None:
        self.current_state = current_state
        self.step_type = step_type
        self.allowed = list(allowed)
        allowed_text = ", ".join(self.allowed) if self.allowed else "none"
        super().__init__(
            f"step {step_type!r} is not allowed from state {current_state!r}; "
            f"allowed: {allowed_text}"
        )


class InvalidStep(ValueError):
    """A field of the step (or of a new case) is missing or invalid (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


# --- the case -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseState:
    """What the lifecycle needs to know about a case. Immutable: steps return new values."""

    status: str
    received_on: date
    last_step_on: date
    la_code: str
    school_urn: str
    # Date the current LA became responsible: the statutory clocks' start (T4).
    responsible_since: date
    advice_outstanding: frozenset[str] = frozenset()
    advice_requested: frozenset[str] = frozenset()  # every adviser ever asked
    consultations_outstanding: frozenset[str] = frozenset()  # school URNs awaiting a reply
    open_exceptions: frozenset[str] = frozenset()
    exceptions_started: int = 0  # numbers exception ids: exc-1, exc-2, ...
    transferred_from: str = ""
    transfer_year: int | None = None
    to_phase: str = ""
    # Reg 44(2)(b): after a Tribunal order to assess, the LA's notice that it will assess
    # (a decision_to_assess, outcome assess) is still to be recorded.
    tribunal_assess_notice_due: bool = False
    # A reassessment (Reg 27) is under way: ending it without a new plan keeps the plan.
    reassessing: bool = False
    review_meeting_on: str = ""  # ISO date of the scheduled review meeting, if any
    review_report_due: bool = False  # Reg 20(7): the report after a meeting not yet sent
    appeal_rights: bool = False  # a decision notice with appeal rights was sent

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATES

    @property
    def plan_in_place(self) -> bool:
        return self.status in PLAN_IN_PLACE_STATES

    @property
    def last_exception_id(self) -> str | None:
        """The id given to the most recent ``exception_started`` step, if any."""
        return _exception_id(self.exceptions_started) if self.exceptions_started else None


def _exception_id(number: int) -> str:
    return f"exc-{number}"


# --- validation helpers -------------------------------------------------------------------


def _is_plain_date(value: object) -> bool:
    # datetime is a date subclass; a timestamp here would hide a time-zone bug upstream.
    return isinstance(value, date) and not isinstance(value, datetime)


def _check_la_code(field: str, value: object) -> str:
    if not isinstance(value, str) or not _LA_CODE.fullmatch(value):
        raise InvalidStep(field, "must be a three-digit LA code, e.g. '881'")
    return value


def _check_urn(field: str, value: object) -> str:
    if not isinstance(value, str) or not _URN.fullmatch(value):
        raise InvalidStep(field, "must be a six-digit school URN")
    return value


def _require(data: Mapping[str, Any], field: str) -> Any:
    value = data.get(field)
    if value is None or value == "":
        raise InvalidStep(field, "is required")
    return value


def _choice(data: Mapping[str, Any], field: str, choices: tuple[str, ...]) -> str:
    value = _require(data, field)
    if not isinstance(value, str) or value not in choices:
        raise InvalidStep(field, f"must be one of: {', '.join(choices)}")
    return str(value)


# --- public API ---------------------------------------------------------------------------


def case_reference(la_code: str, year: int, seq: int) -> str:
    """The human reference of a case, unique in the region: ``881-2026-00042``."""
    _check_la_code("la_code", la_code)
    if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 9999:
        raise InvalidStep("year", "must be a four-digit year from 2000")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= 99999:
        raise InvalidStep("seq", "must be between 1 and 99999")
    return f"{la_code}-{year:04d}-{seq:05d}"


def new_case(received_on: date, la_code: str, school_urn: str, today: date) -> CaseState:
    """A case for a request received on ``received_on``.

    Past dates are fine (an LA importing its open caseload); the future is not.
    ``school_urn`` may be empty for a child not at a school (e.g. at home before school age).
    """
    if not _is_plain_date(received_on):
        raise InvalidStep("received_on", "must be a date")
    if received_on > today:
        raise InvalidStep("received_on", "cannot be in the future")
    _check_la_code("la_code", la_code)
    if school_urn != "":
        _check_urn("school_urn", school_urn)
    return CaseState(
        status=REQUEST_RECEIVED,
        received_on=received_on,
        last_step_on=received_on,
        la_code=la_code,
        school_urn=school_urn,
        responsible_since=received_on,
    )


def allowed_steps(case: CaseState) -> list[str]:
    """The steps that may be applied to ``case`` now, in ``STEP_TYPES`` order."""
    allowed = set(_STATE_STEPS[case.status])
    if case.status in OPEN_STATES:
        allowed |= _OPEN_STEPS
        # Late advice or replies are still recorded, whatever stage the case has reached.
        if case.advice_outstanding:
            allowed.add("advice_received")
        if case.consultations_outstanding:
            allowed.add("school_response_received")
        if case.open_exceptions:
            allowed.add("exception_ended")
        if case.tribunal_assess_notice_due:
            allowed.add("decision_to_assess")
        if case.review_report_due:
            allowed.add("review_report_sent")
    if case.status in PLAN_IN_PLACE_STATES:
        allowed |= {"review_meeting_scheduled", "move_notified", "decision_notice_sent"}
        if case.review_meeting_on:
            allowed |= {"review_invitations_sent", "review_advice_circulated"}
    if case.status in APPEALABLE_CLOSED_STATES:
        allowed.add("decision_notice_sent")
    if case.appeal_rights and case.status not in TERMINAL_STATES:
        allowed |= DISAGREEMENT_STEPS
    return [step for step in STEP_TYPES if step in allowed]


def apply_step(
    case: CaseState, step_type: str, on: date, data: Mapping[str, Any], today: date
) -> CaseState:
    """Apply one step dated ``on`` to ``case`` and return the new case.

    Raises InvalidStep for an unknown type, a bad date or bad data, and StepNotAllowed when
    the step cannot follow the current state. ``case`` is never changed.
    """
    if step_type not in STEP_TYPES:
        raise InvalidStep("type", f"unknown step type; one of: {', '.join(STEP_TYPES)}")
    allowed = allowed_steps(case)
    if step_type not in allowed:
        raise StepNotAllowed(case.status, step_type, allowed)
    _check_on(case, on, today)
    if not isinstance(data, Mapping):
        raise InvalidStep("data", "must be an object")
    moved = replace(case, last_step_on=on)
    return _HANDLERS[step_type](moved, on, data)


def _check_on(case: CaseState, on: object, today: date) -> None:
    if not _is_plain_date(on):
        raise InvalidStep("on", "must be a date")
    assert isinstance(on, date)  # for the type checker
    if on > today:
        raise InvalidStep("on", "cannot be in the future")
    if on < case.received_on:
        raise InvalidStep("on", f"cannot be before the request was received ({case.received_on})")
    if on < case.last_step_on:
        raise InvalidStep("on", f"cannot be before the case's last step ({case.last_step_on})")


# --- step handlers: each receives the case with last_step_on already moved ----------------

_Handler = Callable[[CaseState, date, Mapping[str, Any]], CaseState]


def _decision_to_assess(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    outcome = _choice(data, "outcome", ASSESS_OUTCOMES)
    if case.tribunal_assess_notice_due:
        # Reg 44(2)(b): the notice that the LA will assess, as the Tribunal ordered.
        if outcome != "assess":
            raise InvalidStep("outcome", "the Tribunal ordered an assessment: must be assess")
        return replace(case, status=ASSESSING, tribunal_assess_notice_due=False)
    return replace(case, status=ASSESSING if outcome == "assess" else REFUSED)


def _advice_requested(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    adviser = _choice(data, "adviser", ADVISERS)
    if adviser in case.advice_outstanding:
        raise InvalidStep("adviser", "advice from this adviser is already outstanding")
    return replace(
        case,
        advice_outstanding=case.advice_outstanding | {adviser},
        advice_requested=case.advice_requested | {adviser},
    )


def _advice_received(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    adviser = _choice(data, "adviser", ADVISERS)
    if adviser not in case.advice_outstanding:
        raise InvalidStep(
            "adviser",
            "no advice outstanding from this adviser; outstanding: "
            + ", ".join(sorted(case.advice_outstanding)),
        )
    return replace(case, advice_outstanding=case.advice_outstanding - {adviser})


def _to(status: str) -> _Handler:
    def handler(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
        return replace(case, status=status)

    return handler


def _decision_not_to_issue(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    if case.reassessing:
        # A reassessment that ends without a new plan: the existing plan continues.
        return replace(case, status=PLAN_MAINTAINED, reassessing=False)
    return replace(case, status=NOT_ISSUING)


def _review_meeting_scheduled(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    # Reg 20(3)-(4): invitations and advice at least 2 weeks before the meeting.
    meeting_on = _iso_date(data, "meeting_on")
    if not on <= meeting_on <= on + timedelta(days=MAX_MEETING_DAYS_AHEAD):
        raise InvalidStep("meeting_on", f"must be from {on} to a year after it")
    return replace(case, review_meeting_on=meeting_on.isoformat())


def _review_meeting_held(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    return replace(case, status=REVIEW_HELD, review_meeting_on="", review_report_due=True)


def _review_report_sent(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    return replace(case, review_report_due=False)


def _move_notified(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    # Reg 15(2): the old LA learned the family is moving to another LA.
    _other_la(case, data)
    if data.get("moved_on") not in (None, ""):
        _iso_date(data, "moved_on")
    return case


def _decision_notice_sent(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    # Regs 32-33: the notice carries appeal and mediation rights; their windows start.
    return replace(case, appeal_rights=True)


def _stay(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    return case


def _plan_issued(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    # Optional: the school named in the plan becomes the case's school (it may follow it).
    case = replace(case, reassessing=False)
    school_urn = data.get("school_urn")
    if school_urn is not None and school_urn != "":
        return replace(
            case, status=PLAN_MAINTAINED, school_urn=_check_urn("school_urn", school_urn)
        )
    return replace(case, status=PLAN_MAINTAINED)


def _school_consulted(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    urn = _check_urn("school_urn", _require(data, "school_urn"))
    if urn in case.consultations_outstanding:
        raise InvalidStep("school_urn", "this school was consulted and has not yet replied")
    return replace(case, consultations_outstanding=case.consultations_outstanding | {urn})


def _school_response(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    urn = _check_urn("school_urn", _require(data, "school_urn"))
    if urn not in case.consultations_outstanding:
        raise InvalidStep("school_urn", "no consultation of this school is awaiting a reply")
    return replace(case, consultations_outstanding=case.consultations_outstanding - {urn})


def _review_decision(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    outcome = _choice(data, "outcome", REVIEW_OUTCOMES)
    status = {"maintain": PLAN_MAINTAINED, "amend": AMENDING, "cease": CEASED}[outcome]
    return replace(case, status=status)


def _iso_date(data: Mapping[str, Any], field: str) -> date:
    """A date carried in step data as an ISO string (it is stored and replayed as JSON)."""
    value = _require(data, field)
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidStep(field, "must be a date, e.g. 2027-01-10")


def _phase_transfer(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    year_group = data.get("year_group")
    if year_group is not None:
        if not isinstance(year_group, int) or isinstance(year_group, bool):
            raise InvalidStep("year_group", "must be a whole National Curriculum year, e.g. 7")
        if year_group == NOT_A_PHASE_TRANSFER_YEAR:
            raise InvalidStep(
                "year_group",
                "a move into Year 10 is not a transfer between phases (Reg 2(1)): "
                "amend the plan after a review instead",
            )
    if data.get("to_phase") == POST16_TO_POST16:
        transfer_on = _iso_date(data, "transfer_on")
        if not on <= transfer_on <= on.replace(year=on.year + MAX_TRANSFER_YEARS_AHEAD):
            raise InvalidStep(
                "transfer_on", f"must be within {MAX_TRANSFER_YEARS_AHEAD} years from {on}"
            )
        return replace(case, transfer_year=transfer_on.year, to_phase=POST16_TO_POST16)
    year = _require(data, "transfer_year")
    if not isinstance(year, int) or isinstance(year, bool):
        raise InvalidStep("transfer_year", "must be a whole year, e.g. 2027")
    if not on.year <= year <= on.year + MAX_TRANSFER_YEARS_AHEAD:
        raise InvalidStep(
            "transfer_year",
            f"must be between {on.year} and {on.year + MAX_TRANSFER_YEARS_AHEAD}",
        )
    to_phase = _choice(data, "to_phase", PHASES)
    return replace(case, transfer_year=year, to_phase=to_phase)


def _exception_started(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    _choice(data, "limb", EXCEPTION_LIMBS)
    note = _require(data, "note")
    if not isinstance(note, str) or not note.strip():
        raise InvalidStep("note", "must be a non-empty text")
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidStep("note", f"must be at most {MAX_NOTE_LENGTH} characters")
    number = case.exceptions_started + 1
    return replace(
        case,
        exceptions_started=number,
        open_exceptions=case.open_exceptions | {_exception_id(number)},
    )


def ended_exception_id(case: CaseState, data: Mapping[str, Any]) -> str:
    """The exception an ``exception_ended`` step closes: the one it names, or the only
    open one (422 naming the open ones when several are open)."""
    exception_id = data.get("exception_id")
    if exception_id is None or exception_id == "":
        if len(case.open_exceptions) == 1:
            (only,) = case.open_exceptions
            return only
        raise InvalidStep(
            "exception_id",
            "several exceptions are open, name one of: " + ", ".join(sorted(case.open_exceptions)),
        )
    if not isinstance(exception_id, str) or exception_id not in case.open_exceptions:
        raise InvalidStep(
            "exception_id",
            "no open exception with this id; open: " + ", ".join(sorted(case.open_exceptions)),
        )
    return exception_id


def _exception_ended(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    exception_id = ended_exception_id(case, data)
    return replace(case, open_exceptions=case.open_exceptions - {exception_id})


def _other_la(case: CaseState, data: Mapping[str, Any]) -> str:
    la_code = _check_la_code("la_code", _require(data, "la_code"))
    if la_code == case.la_code:
        raise InvalidStep("la_code", "must be another LA than the case's own")
    return la_code


def _transferred_out(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    _other_la(case, data)  # the LA the child moved to
    return replace(case, status=TRANSFERRED_OUT)


def _transferred_in(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    from_la = _other_la(case, data)  # the LA the child came from
    # T4: the clocks restart from the day this LA became responsible; the state carries on.
    return replace(case, transferred_from=from_la, responsible_since=on)


def _reassessment_decided(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    outcome = _choice(data, "outcome", REASSESSMENT_OUTCOMES)
    # A refusal leaves the plan as it was (and is itself appealable from plan_maintained).
    if outcome == "reassess":
        return replace(case, status=ASSESSING, reassessing=True)
    return replace(case, status=PLAN_MAINTAINED)


def _tribunal_order(case: CaseState, on: date, data: Mapping[str, Any]) -> CaseState:
    # Reg 45: an appeal the LA does not oppose; the step is then dated to the LA's notice
    # to the Tribunal, from which the same limits run.
    if "unopposed" in data and not isinstance(data["unopposed"], bool):
        raise InvalidStep("unopposed", "must be true or false")
    orders = TRIBUNAL_ORDERS[case.status]
    order = _require(data, "order")
    if not isinstance(order, str) or order not in orders:
        raise InvalidStep(
            "order", f"from state {case.status!r} the order must be one of: {', '.join(orders)}"
        )
    # Reg 44(2)(b): an order to assess needs the LA's notice within 2 weeks; with a plan
    # in place it is a reassessment (the plan continues if no new one follows).
    return replace(
        case,
        status=orders[order],
        appeal_rights=False,  # the appeal is decided
        tribunal_assess_notice_due=order == "assess",
        reassessing=case.reassessing or (order == "assess" and case.status == PLAN_MAINTAINED),
    )


_HANDLERS: Mapping[str, _Handler] = {
    "decision_to_assess": _decision_to_assess,
    "advice_requested": _advice_requested,
    "advice_received": _advice_received,
    "decision_not_to_issue": _decision_not_to_issue,
    "draft_plan_issued": _to(DRAFT_PLAN_ISSUED),
    "draft_response_received": _stay,
    "amendments_response_received": _stay,
    "school_consulted": _school_consulted,
    "school_response_received": _school_response,
    "final_plan_issued": _plan_issued,
    "review_meeting_held": _review_meeting_held,
    "review_meeting_scheduled": _review_meeting_scheduled,
    "review_invitations_sent": _stay,
    "review_advice_circulated": _stay,
    "review_report_sent": _review_report_sent,
    "move_notified": _move_notified,
    "cease_decision": _to(CEASED),
    "decision_notice_sent": _decision_notice_sent,
    **{step: _stay for step in sorted(DISAGREEMENT_STEPS)},
    "review_decision": _review_decision,
    "amendments_proposed": _to(AMENDMENTS_PROPOSED),
    "amended_plan_issued": _plan_issued,
    "decision_not_to_amend": _to(PLAN_MAINTAINED),
    "phase_transfer": _phase_transfer,
    "exception_started": _exception_started,
    "exception_ended": _exception_ended,
    "withdrawn": _to(WITHDRAWN),
    "transferred_out": _transferred_out,
    "transferred_in": _transferred_in,
    "reassessment_requested": _to(REASSESSMENT_REQUESTED),
    "reassessment_decided": _reassessment_decided,
    "tribunal_order": _tribunal_order,
}
