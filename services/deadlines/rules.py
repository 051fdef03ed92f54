"""Every statutory timescale of docs/statutory-timescales.md, as data.

The engine in ``domain.py`` reads these records; nothing about a deadline's length,
unit, citation or exception limbs is written anywhere else. Sources: Children and
Families Act 2014 (CFA), SEND Regulations 2014 (SI 2014/1530, "Reg"), SEND Code of
Practice 2015 (CoP), Tribunal Procedure Rules (SI 2008/2699).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from shared.events import ADVISERS  # noqa: F401 -- re-exported: one list, in the catalogue


class Unit(StrEnum):
    DAYS = "days"  # trigger + N calendar days ("within N days of")
    DAYS_BEGINNING_WITH = "days_beginning_with"  # "at least N days beginning with": + N-1
    WEEKS = "weeks"  # trigger + 7N calendar days
    MONTHS = "months"  # same day N months later, clipped to month end
    WORKING_DAYS = "working_days"  # N working days after the trigger (E&W)
    WORKING_DAYS_BEGINNING_WITH = "working_days_beginning_with"  # trigger is day 1
    FIXED_DATE = "fixed_date"  # a calendar date (fixed_month/fixed_day) of a given year
    IMMEDIATE = "immediate"  # "at once": due on the trigger date


class Party(StrEnum):
    """Who must act. Family windows are not LA duties: no breach alert for them."""

    LA = "la"
    ADVISER = "adviser"
    SCHOOL = "school"
    FAMILY = "family"
    MEDIATION = "mediation"


# Exception limbs. Reg 5(4), 10(4), 13(3), 27(3): (a) school/post-16 closure >= 4 weeks,
# (b) early years provider closure, (c) exceptional personal circumstances, (d) absence
# from the LA's area >= 4 weeks. Reg 8(2) (advice): exceptional circumstances (c),
# absence (d), missed appointment. Reg 44(3) (Tribunal orders): as advice, absence >= 2 weeks.
LIMB_SCHOOL_CLOSURE = "a"
LIMB_EARLY_YEARS_CLOSURE = "b"
LIMB_PERSONAL = "c"
LIMB_ABSENCE = "d"
LIMB_APPOINTMENT = "appointment"
ALL_LIMBS = (
    LIMB_SCHOOL_CLOSURE,
    LIMB_EARLY_YEARS_CLOSURE,
    LIMB_PERSONAL,
    LIMB_ABSENCE,
    LIMB_APPOINTMENT,
)
# Accepted spellings of limbs in exception_started.data.limb.
LIMB_ALIASES: dict[str, str] = {
    "a": "a",
    "school_closure": "a",
    "b": "b",
    "early_years_closure": "b",
    "c": "c",
    "exceptional_circumstances": "c",
    "personal_circumstances": "c",
    "d": "d",
    "absence": "d",
    "appointment": "appointment",
    "missed_appointment": "appointment",
}

ASSESSMENT_LIMBS = ("a", "b", "c", "d")  # Reg 5(4), 10(4), 13(3), 27(3)
ADVICE_LIMBS = ("c", "d", "appointment")  # Reg 8(2): no school-closure limb for advice
TRIBUNAL_LIMBS = ("c", "d", "appointment")  # Reg 44(3)



@dataclass(frozen=True)
class Rule:
    id: str
    milestone: str  # name in the API; "advice" and "school_consultation" get ":<key>"
    trigger: str  # event type that starts the clock
    offset: int
    unit: Unit
    regulation: str
    met_by: tuple[str, ...] = ()  # event types that meet the milestone
    exception_limbs: tuple[str, ...] = ()  # limbs that may disapply the limit
    exception_regulation: str | None = None
    absence_min_days: int = 28  # limb (d) needs a continuous absence this long
    party: Party = Party.LA
    guidance: bool = False  # not law: CoP or IPSEA guidance
    unconfirmed: bool = False  # regulation number not checked against the text
    fixed_month: int | None = None
    fixed_day: int | None = None
    description: str = ""
    # A deadline only for an act the LA may never take (a decision not to issue a plan):
    # past its date without that act it lapses (`not_applicable`), it is never breached.
    lapses: bool = False

    @property
    def exceptions_apply(self) -> bool:
        return bool(self.exception_limbs)

    @property
    def never_breached(self) -> bool:
        """Family windows (the family's right, not an LA duty) and lapsing deadlines."""
        return self.lapses or self.party is Party.FAMILY


# A table: one record per rule, kept compact on purpose.
# fmt: off
RULES: tuple[Rule, ...] = (
    # --- EHC needs assessment: the 20-week process -------------------------------------
    Rule("A1", "decision_to_assess", "request_received", 6, Unit.WEEKS, "Reg 5(1)",
         met_by=("decision_to_assess",), exception_limbs=ASSESSMENT_LIMBS,
         exception_regulation="Reg 5(4)",
         description="Decide whether to assess and tell the parent/young person"),
    Rule("A2", "advice", "advice_requested", 6, Unit.WEEKS, "Reg 8(1)",
         met_by=("advice_received",), exception_limbs=ADVICE_LIMBS,
         exception_regulation="Reg 8(2)", party=Party.ADVISER,
         description="Adviser gives advice within 6 weeks of the request"),
    Rule("A3", "decision_not_to_issue", "request_received", 16, Unit.WEEKS, "Reg 10(1)",
         met_by=("decision_not_to_issue",), exception_limbs=ASSESSMENT_LIMBS,
         exception_regulation="Reg 10(4)", lapses=True,
         description="If no plan will be issued, tell the parent within 16 weeks of the "
                     "request (opened only once the LA decides to assess); a deadline only "
                     "for a decision not to issue: it lapses, never breaches"),
    Rule("A4", "draft_response", "draft_plan_issued", 15, Unit.DAYS_BEGINNING_WITH,
         "Reg 13(1)(a)", met_by=("draft_response_received",), party=Party.FAMILY,
         description="The family's window: at least 15 days beginning with the day the draft "
                     "is served; a final plan issued inside it (no response yet) is "
                     "flagged `breached`"),
    Rule("A5", "school_consultation", "school_consulted", 15, Unit.DAYS, "CoP 9.83",
         met_by=("school_response_received",), party=Party.SCHOOL, guidance=True,
         description="School or college consulted on being named responds"),
    Rule("A6", "final_plan", "request_received", 20, Unit.WEEKS, "Reg 13(2)",
         met_by=("final_plan_issued",), exception_limbs=ASSESSMENT_LIMBS,
         exception_regulation="Reg 13(3)",
         description="Final EHC plan issued within 20 weeks of the request (CoP 9.40)"),
    # --- Annual reviews and amendments ----------------------------------------------------
    Rule("R1", "annual_review", "final_plan_issued", 12, Unit.MONTHS, "CFA s44(1)",
         met_by=("review_meeting_held",),
         description="Review within 12 months of the plan, then of each review"),
    Rule("R1u", "early_years_review", "final_plan_issued", 6, Unit.MONTHS, "CoP 9.178",
         met_by=("review_meeting_held",), guidance=True,
         description="Child under 5: consider a review every 3-6 months"),
    Rule("R2", "review_invitations", "review_meeting_scheduled", -2, Unit.WEEKS,
         "Reg 20(3)-(4), 21(3)-(4)", met_by=("review_invitations_sent",),
         description="Invitations at least 2 weeks before the review meeting"),
    Rule("R2a", "review_advice", "review_meeting_scheduled", -2, Unit.WEEKS,
         "Reg 20(3)-(4), 21(3)-(4)", met_by=("review_advice_circulated",),
         description="Advice circulated at least 2 weeks before the review meeting"),
    Rule("R3", "review_report", "review_meeting_held", 2, Unit.WEEKS, "Reg 20(7), 21(7)",
         met_by=("review_report_sent",),
         description="Review report sent within 2 weeks of the meeting"),
    Rule("R4", "review_decision", "review_meeting_held", 4, Unit.WEEKS, "Reg 20(10)",
         met_by=("review_decision", "cease_decision"), unconfirmed=True,
         description="Keep, amend or cease, with proposed amendments: 4 weeks "
                     "(R (L) v Devon CC [2022] EWHC 493 (Admin))"),
    Rule("R5a", "amendments_response", "amendments_proposed", 15, Unit.DAYS_BEGINNING_WITH,
         "Reg 22(2)(c)", met_by=("amendments_response_received",), party=Party.FAMILY,
         description="The family's window on proposed amendments: at least 15 days; an "
                     "amended plan issued inside it (no response yet) is flagged `breached`"),
    Rule("R5", "amended_plan", "amendments_proposed", 8, Unit.WEEKS, "Reg 22(3)-(4)",
         met_by=("amended_plan_issued", "decision_not_to_amend"),
         description="Final amended plan, or notice of a decision not to amend (Reg 22(4)), "
                     "within 8 weeks of the amendment notice"),
    Rule("R6", "phase_transfer", "phase_transfer", 0, Unit.FIXED_DATE, "Reg 18(1)",
         met_by=("amended_plan_issued",), fixed_month=2, fixed_day=15,
         description="Plan amended naming the new school by 15 Feb of the transfer year"),
    Rule("R6p", "phase_transfer", "phase_transfer", 0, Unit.FIXED_DATE, "Reg 18(1)",
         met_by=("amended_plan_issued",), fixed_month=3, fixed_day=31,
         description="Secondary to post-16: by 31 March of the transfer year"),
    Rule("R6q", "phase_transfer", "phase_transfer", -5, Unit.MONTHS, "Reg 18(2)",
         met_by=("amended_plan_issued",),
         description="Post-16 to post-16 move at another time: at least 5 months before"),
    # --- Reassessment ---------------------------------------------------------------------
    Rule("RA1", "reassessment_decision", "reassessment_requested", 15, Unit.DAYS,
         "Reg 25(1)", met_by=("reassessment_decided",),
         description="Decide on a request to reassess within 15 days (via secondary sources)"),
    Rule("RA2", "reassessment_final_plan", "reassessment_decided", 14, Unit.WEEKS,
         "Reg 27(2)", met_by=("final_plan_issued", "amended_plan_issued"),
         exception_limbs=ASSESSMENT_LIMBS, exception_regulation="Reg 27(3)",
         description="Final plan within 14 weeks of the notice of a decision to reassess"),
    # --- Transfer between LAs ---------------------------------------------------------------
    Rule("T1", "plan_transfer_out", "move_notified", 15, Unit.WORKING_DAYS_BEGINNING_WITH,
         "Reg 15(2)", met_by=("transferred_out",),
         description="Transfer the plan on the day of the move, or within 15 working days "
                     "beginning with the day the old LA learned of it"),
    Rule("T2", "transfer_notice", "transferred_in", 6, Unit.WEEKS, "Reg 15(4)",
         met_by=("transfer_notice_sent",),
         description="New LA tells the family: transferred, reassessment?, review date"),
    Rule("T3", "annual_review", "transferred_in", 3, Unit.MONTHS, "Reg 15(5)",
         met_by=("review_meeting_held",),
         description="Review by the later of 12 months after the plan was made or last "
                     "reviewed and 3 months after the transfer"),
    Rule("T4d", "decision_to_assess", "transferred_in", 6, Unit.WEEKS, "Reg 5(1)(b)",
         met_by=("decision_to_assess",), exception_limbs=ASSESSMENT_LIMBS,
         exception_regulation="Reg 5(4)",
         description="Move during assessment: the new LA's clock starts when it becomes "
                     "responsible"),
    Rule("T4n", "decision_not_to_issue", "transferred_in", 16, Unit.WEEKS, "Reg 10(1)",
         met_by=("decision_not_to_issue",), exception_limbs=ASSESSMENT_LIMBS,
         exception_regulation="Reg 10(4)", lapses=True,
         description="Move during assessment: 16 weeks from when the new LA is responsible"),
    Rule("T4", "final_plan", "transferred_in", 20, Unit.WEEKS, "Reg 13(2)",
         met_by=("final_plan_issued",), exception_limbs=ASSESSMENT_LIMBS,
         exception_regulation="Reg 13(3)",
         description="Move during assessment: 20 weeks from when the new LA is responsible"),
    # --- Mediation and appeal ---------------------------------------------------------------
    Rule("M1", "mediation_contact", "decision_notice_sent", 2, Unit.MONTHS, "Reg 33",
         met_by=("mediation_contacted", "mediation_declined", "mediation_requested"),
         party=Party.FAMILY,
         description="Family contacts a mediation adviser within 2 months of the notice"),
    Rule("M2", "mediation_certificate", "mediation_declined", 3, Unit.WORKING_DAYS, "Reg 34",
         met_by=("mediation_certificate_issued",), party=Party.MEDIATION,
         description="Certificate within 3 working days of being told mediation is unwanted"),
    Rule("M3", "mediation_meeting", "mediation_requested", 30, Unit.DAYS, "Reg 37",
         met_by=("mediation_held",), unconfirmed=True,
         description="The LA arranges mediation within 30 days of being told the family "
                     "wants it"),
    Rule("M4", "mediation_certificate", "mediation_held", 3, Unit.WORKING_DAYS, "Reg 39",
         met_by=("mediation_certificate_issued",), party=Party.MEDIATION, unconfirmed=True,
         description="Certificate within 3 working days of the mediation concluding"),
    Rule("AP", "appeal", "decision_notice_sent", 2, Unit.MONTHS,
         "SI 2008/2699 r20(1)(c), r12(2)-(3)", met_by=("appeal_lodged",), party=Party.FAMILY,
         description="Appeal within 2 months of the notice or 1 month after a mediation "
                     "certificate if later; 25 Dec-1 Jan and August not counted (r12(3)); "
                     "a limit ending on a non-working day ends on the next (r12(2))"),
    # --- Tribunal orders (Reg 44(2)); exceptions Reg 44(3) with a 2-week absence ------------
    # Reg 44(2): (a) appeal against ceasing dismissed: cease at once; (b) assess or
    # reassess: notice 2 weeks, (b)(i) no plan 10 weeks, (b)(ii) final plan 14 weeks;
    # (c) make and maintain a plan: (c)(i) draft 5 weeks, (c)(ii) final 11 weeks. The
    # letters of the amendment, school-only and continue limbs are unconfirmed.
    Rule("TO-ASSESS", "tribunal_assess_notice", "tribunal_order", 2, Unit.WEEKS,
         "Reg 44(2)(b)", met_by=("decision_to_assess",), exception_limbs=TRIBUNAL_LIMBS,
         exception_regulation="Reg 44(3)", absence_min_days=14,
         description="Order to assess: notify that it will assess within 2 weeks"),
    Rule("TO-NO-PLAN", "tribunal_no_plan_notice", "tribunal_order", 10, Unit.WEEKS,
         "Reg 44(2)(b)(i)", met_by=("decision_not_to_issue",), exception_limbs=TRIBUNAL_LIMBS,
         exception_regulation="Reg 44(3)", absence_min_days=14, lapses=True,
         description="Order to assess: notify within 10 weeks if no plan will be issued"),
    Rule("TO-PLAN-AFTER-ASSESS", "tribunal_final_plan", "tribunal_order", 14, Unit.WEEKS,
         "Reg 44(2)(b)(ii)", met_by=("final_plan_issued",), exception_limbs=TRIBUNAL_LIMBS,
         exception_regulation="Reg 44(3)", absence_min_days=14,
         description="Order to assess: final plan within 14 weeks"),
    Rule("TO-DRAFT", "tribunal_draft_plan", "tribunal_order", 5, Unit.WEEKS, "Reg 44(2)(c)(i)",
         met_by=("draft_plan_issued",), exception_limbs=TRIBUNAL_LIMBS,
         exception_regulation="Reg 44(3)", absence_min_days=14,
         description="Order to make a plan: draft within 5 weeks"),
    Rule("TO-FINAL", "tribunal_final_plan", "tribunal_order", 11, Unit.WEEKS,
         "Reg 44(2)(c)(ii)",
         met_by=("final_plan_issued",), exception_limbs=TRIBUNAL_LIMBS,
         exception_regulation="Reg 44(3)", absence_min_days=14,
         description="Order to make a plan: final plan within 11 weeks"),
    Rule("TO-AMEND", "tribunal_amended_plan", "tribunal_order", 5, Unit.WEEKS, "Reg 44(2)(d)",
         met_by=("amended_plan_issued",), exception_limbs=TRIBUNAL_LIMBS, unconfirmed=True,
         exception_regulation="Reg 44(3)", absence_min_days=14,
         description="Order to amend a plan: amended plan within 5 weeks"),
    Rule("TO-SCHOOL", "tribunal_amended_plan", "tribunal_order", 2, Unit.WEEKS,
         "Reg 44(2)(e)", met_by=("amended_plan_issued",), exception_limbs=TRIBUNAL_LIMBS,
         unconfirmed=True,
         exception_regulation="Reg 44(3)", absence_min_days=14,
         description="Order to change the named school only: within 2 weeks"),
    Rule("TO-CONTINUE", "tribunal_continue_plan", "tribunal_order", 0, Unit.IMMEDIATE,
         "Reg 44(2)(f)", met_by=("tribunal_order_complied",), unconfirmed=True,
         description="Order to continue to maintain the plan: at once"),
    Rule("TO-CEASE", "tribunal_cease_plan", "tribunal_order", 0, Unit.IMMEDIATE,
         "Reg 44(2)(a)", met_by=("tribunal_order_complied", "cease_decision"),
         description="Order that the plan ceases: at once"),
)
# fmt: on

# Reg 45 (appeals the LA does not oppose): the same limits as Reg 44(2), run from the day
# the LA told the Tribunal it will not oppose (the tribunal_order step, `unopposed`).
# (id of the Reg 44 rule) -> (id, paragraph, unconfirmed paragraph number).
_REG45: dict[str, tuple[str, str, bool]] = {
    "TO-ASSESS": ("U-ASSESS", "Reg 45(3)", False),
    "TO-NO-PLAN": ("U-NO-PLAN", "Reg 45(3A)(a)", False),
    "TO-PLAN-AFTER-ASSESS": ("U-PLAN-AFTER-ASSESS", "Reg 45(3A)(b)", False),
    "TO-AMEND": ("U-AMEND", "Reg 45(4)", False),
    "TO-SCHOOL": ("U-SCHOOL", "Reg 45(5)", True),
    "TO-DRAFT": ("U-DRAFT", "Reg 45(6)", True),
    "TO-FINAL": ("U-FINAL", "Reg 45(6)", True),
    "TO-CONTINUE": ("U-CONTINUE", "Reg 45(7)", True),
}
_BY_ID = {r.id: r for r in RULES}
RULES = RULES + tuple(
    replace(_BY_ID[old], id=new, regulation=paragraph, unconfirmed=unconfirmed,
            exception_regulation="Reg 45 (limbs of Reg 44(3))"
            if _BY_ID[old].exception_limbs else None,
            description=_BY_ID[old].description + " (unopposed appeal, from the LA's notice "
                        "to the Tribunal)")
    for old, (new, paragraph, unconfirmed) in _REG45.items()
)
UNOPPOSED_RULES: dict[str, str] = {old: new for old, (new, _, _) in _REG45.items()}

RULES_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}
# Rules whose open milestones lapse instead of breaching (the SQL status reads this too).
NEVER_BREACHED_RULES: tuple[str, ...] = tuple(r.id for r in RULES if r.never_breached)

# data.order of a tribunal_order event -> the rules it starts (HMCTS SEND18).
TRIBUNAL_ORDERS: dict[str, tuple[str, ...]] = {
    "assess": ("TO-ASSESS", "TO-NO-PLAN", "TO-PLAN-AFTER-ASSESS"),
    "make_plan": ("TO-DRAFT", "TO-FINAL"),
    "amend": ("TO-AMEND",),
    "amend_school": ("TO-SCHOOL",),
    "continue": ("TO-CONTINUE",),
    "cease": ("TO-CEASE",),
}
# Tolerated spellings of data.order.
TRIBUNAL_ORDER_ALIASES: dict[str, str] = {
    "assess": "assess",
    "no_plan_after_assessment": "assess",
    "make_plan": "make_plan",
    "issue_plan": "make_plan",
    "amend": "amend",
    "amend_plan": "amend",
    "amend_school": "amend_school",
    "change_school": "amend_school",
    "continue": "continue",
    "continue_plan": "continue",  # the referrals lifecycle's name
    "maintain": "continue",
    "cease": "cease",
}


def rule(rule_id: str) -> Rule:
    return RULES_BY_ID[rule_id]
