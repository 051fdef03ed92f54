"""Marshmallow schemas of the referrals service's RPC inputs and outputs.

The gateway's OpenAPI document is generated from these, so what is validated is what is
documented."""

from __future__ import annotations

from datetime import date

from marshmallow import INCLUDE, RAISE, Schema, fields, validate

from services.referrals import sen2
from services.referrals.lifecycle import (
    ADVISERS,
    ASSESS_OUTCOMES,
    EXCEPTION_LIMBS,
    MAX_NOTE_LENGTH,
    PHASES,
    REASSESSMENT_OUTCOMES,
    REVIEW_OUTCOMES,
    STATES,
    STEP_TYPES,
    TRIBUNAL_ORDERS,
)
from shared.events import LA_CODE, URN

ROLES = ("school", "la_caseworker", "la_manager", "region_admin", "ops")
OUTCOMES = tuple(dict.fromkeys(ASSESS_OUTCOMES + REVIEW_OUTCOMES + REASSESSMENT_OUTCOMES))
ORDERS = tuple(dict.fromkeys(o for orders in TRIBUNAL_ORDERS.values() for o in orders))
MAX_PAGE = 200
# EHC plans exist since Part 3 of the Children and Families Act 2014 came into force; an
# older "received" date is a typing error, not an import.
FIRST_RECEIPT = date(2014, 9, 1)
# Plans run to age 25, so no one born before this can have been in the system since 2014.
FIRST_BIRTH = date(1980, 1, 1)


class Out(Schema):
    """A response: documented fields, and room for more (additionalProperties)."""

    class Meta:
        unknown = INCLUDE


class Actor(Schema):
    """Who is asking: taken from the verified token by the gateway."""

    sub = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    roles = fields.List(fields.String(), load_default=list)
    la_code = fields.String(load_default=None, allow_none=True)
    school_urn = fields.String(load_default=None, allow_none=True)
    source = fields.String(load_default=None, allow_none=True)


class Child(Schema):
    class Meta:
        unknown = RAISE

    given_name = fields.String(required=True, validate=validate.Length(min=1, max=100),
                               metadata={"example": "Sam"})
    family_name = fields.String(required=True, validate=validate.Length(min=1, max=100),
                                metadata={"example": "Synthetic"})
    date_of_birth = fields.Date(required=True, validate=validate.Range(min=FIRST_BIRTH),
                                metadata={"example": "2016-04-01"})


class ReferralRequest(Schema):
    """POST /v1/referrals: a request for an EHC needs assessment. `received_on` may be in
    the past (an LA importing its open caseload), never in the future."""

    class Meta:
        unknown = RAISE

    child = fields.Nested(Child, required=True)
    la_code = fields.String(required=True, validate=LA_CODE, metadata={"example": "881"})
    school_urn = fields.String(required=True, validate=URN, metadata={"example": "100001"})
    requested_by = fields.String(
        required=True, validate=validate.OneOf(["school", "parent", "young_person"]),
        metadata={"example": "school"})
    received_on = fields.Date(required=True, validate=validate.Range(min=FIRST_RECEIPT),
                              metadata={"example": "2026-01-05"})


class StepRequest(Schema):
    """POST /v1/referrals/{id}/events: one step of the case, dated `on`. Which other fields
    a step needs depends on its type (see the API page); the lifecycle checks them."""

    class Meta:
        unknown = RAISE

    type = fields.String(required=True, validate=validate.OneOf(STEP_TYPES),
                         metadata={"example": "decision_to_assess"})
    on = fields.Date(required=True, metadata={"example": "2026-02-10"})
    outcome = fields.String(validate=validate.OneOf(OUTCOMES),
                            metadata={"example": "assess",
                                      "description": "decision_to_assess: assess|refuse; "
                                      "review_decision: maintain|amend|cease; "
                                      "reassessment_decided: reassess|refuse"})
    adviser = fields.String(validate=validate.OneOf(ADVISERS),
                            metadata={"description": "advice_requested / advice_received"})
    school_urn = fields.String(validate=URN, metadata={
        "description": "school_consulted / school_response_received; optional on "
                       "final_plan_issued and amended_plan_issued (the school named)"})
    transfer_year = fields.Integer(strict=True, validate=validate.Range(min=2000, max=9999),
                                   metadata={"description": "phase_transfer"})
    transfer_on = fields.String(validate=validate.Length(max=10), metadata={
        "format": "date", "description": "phase_transfer to post16_to_post16: the day of the "
        "move (the plan is due 5 months before, Reg 18(2))"})
    meeting_on = fields.String(validate=validate.Length(max=10), metadata={
        "format": "date", "description": "review_meeting_scheduled: the day of the meeting "
        "(invitations and advice are due 2 weeks before, Reg 20(3)-(4))"})
    moved_on = fields.String(validate=validate.Length(max=10), metadata={
        "format": "date", "description": "move_notified: the day of the move, if known "
        "(Reg 15(2))"})
    year_group = fields.Integer(strict=True, validate=validate.Range(min=0, max=14), metadata={
        "description": "phase_transfer: the National Curriculum year the child moves into "
                       "(Year 10 is refused: not a transfer between phases, Reg 2(1))"})
    to_phase = fields.String(validate=validate.OneOf(PHASES),
                             metadata={"description": "phase_transfer"})
    limb = fields.String(validate=validate.OneOf(EXCEPTION_LIMBS),
                         metadata={"description": "exception_started: Reg 5(4) limb a-d, "
                                   "or appointment (a missed examination or test, Reg 8(2)(c)); "
                                   "a and b count only with school (early years) advice asked "
                                   "from a week before the closure to a week before it "
                                   "re-opens, d only once the absence reaches 4 weeks"})
    note = fields.String(validate=validate.Length(max=MAX_NOTE_LENGTH),
                         metadata={"description": "exception_started (kept in the case, "
                                   "never sent in events)"})
    exception_id = fields.String(validate=validate.Length(max=20),
                                 metadata={"description": "exception_ended: the id given "
                                           "when it started (e.g. exc-1)"})
    la_code = fields.String(validate=LA_CODE, metadata={
        "description": "transferred_out / move_notified: LA moved to; transferred_in: LA "
                       "moved from"})
    order = fields.String(validate=validate.OneOf(ORDERS),
                          metadata={"description": "tribunal_order"})
    unopposed = fields.Boolean(truthy={True}, falsy={False}, metadata={
        "description": "tribunal_order: true when the LA did not oppose the appeal (Reg 45); "
                       "`on` is then the day it told the Tribunal"})


class Referral(Out):
    """A case as returned to callers allowed to see it."""

    id = fields.UUID()
    reference = fields.String(metadata={"example": "881-2026-00042"})
    status = fields.String(validate=validate.OneOf(STATES))
    la_code = fields.String()
    school_urn = fields.String()
    requested_by = fields.String()
    received_on = fields.Date()
    child = fields.Nested(Child)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    last_step_on = fields.Date()
    responsible_since = fields.Date()
    advice_outstanding = fields.List(fields.String())
    consultations_outstanding = fields.List(fields.String())
    open_exceptions = fields.List(fields.String())
    transferred_from = fields.String(allow_none=True)
    transfer_year = fields.Integer(allow_none=True)
    to_phase = fields.String(allow_none=True)
    allowed_steps = fields.List(fields.String(), metadata={
        "description": "the step types that may be recorded now"})
    assigned_to = fields.String(allow_none=True, metadata={
        "description": "the caseworker the case is assigned to (their user id)"})
    deadlines_up_to_date = fields.Boolean(metadata={
        "description": "false while the deadlines service has not yet taken the case's "
                       "latest event into account"})


class _Correction(Schema):
    """A recorded date put right; the note says why (audit trail, never leaves referrals)."""

    class Meta:
        unknown = RAISE

    note = fields.String(validate=validate.Length(max=500), load_default=None,
                         metadata={"description": "why, for the audit trail (kept in the "
                                                  "referrals service only)"})


class StepCorrection(_Correction):
    """POST /v1/referrals/{id}/events/{step_id}/corrections: the step's right date."""

    on = fields.Date(required=True, metadata={"example": "2026-02-12"})


class ReceiptCorrection(_Correction):
    """POST /v1/referrals/{id}/corrections: the date the request was really received."""

    received_on = fields.Date(required=True, metadata={"example": "2026-01-06"})


class Step(Out):
    """One recorded step of a case (its history)."""

    id = fields.UUID(allow_none=True, metadata={"description": "null for the request itself"})
    seq = fields.Integer()
    type = fields.String()
    on = fields.Date()
    data = fields.Dict()
    status_after = fields.String(allow_none=True)
    recorded_by = fields.String()
    recorded_role = fields.String(allow_none=True)
    recorded_at = fields.AwareDateTime()


class StepRecorded(Out):
    """The answer to a recorded step: the step and the case's new state."""

    step = fields.Nested(Step)
    referral = fields.Nested(Referral)
    status = fields.String()
    allowed_steps = fields.List(fields.String())


class ListFilters(Schema):
    """Filters of the case index (the gateway adds deadline filters on top)."""

    class Meta:
        unknown = RAISE

    status = fields.List(fields.String(validate=validate.OneOf(STATES)), load_default=list)
    la_code = fields.String(validate=LA_CODE, load_default=None)
    school_urn = fields.String(validate=URN, load_default=None)
    adviser = fields.String(validate=validate.OneOf(ADVISERS), load_default=None)
    reference = fields.String(validate=validate.Length(max=40), load_default=None)
    assigned_to = fields.String(validate=validate.Length(min=1, max=200), load_default=None)
    unassigned = fields.Boolean(load_default=None)
    due_within = fields.Integer(validate=validate.Range(min=0, max=3650), load_default=None)
    overdue = fields.Boolean(load_default=None)


class AuditEntry(Out):
    id = fields.Integer()
    actor_sub = fields.String()
    actor_role = fields.String()
    action = fields.String()
    detail = fields.Dict()
    source = fields.String(allow_none=True)
    at = fields.AwareDateTime()


class Sen2Details(Schema):
    """PUT /v1/referrals/{id}/sen2: the SEN2 fields the case record lacks. The whole set is
    replaced (a field left out is cleared). Codes are the SEN2 lists (services/referrals/
    sen2.py); what is mandatory depends on the case, so the export's validation report
    says what is still missing."""

    class Meta:
        unknown = RAISE

    sex = fields.String(validate=validate.OneOf(sen2.SEX), allow_none=True,
                        metadata={"example": "F"})
    ethnicity = fields.String(validate=validate.OneOf(sen2.ETHNICITY), allow_none=True,
                              metadata={"example": "WBRI"})
    postcode = fields.String(validate=validate.Regexp(sen2.POSTCODE), allow_none=True,
                             metadata={"example": "ZZ99 3AA"})
    upn = fields.String(validate=validate.Regexp(sen2.UPN), allow_none=True,
                        metadata={"description": "unique pupil number (13 characters)"})
    uln = fields.String(validate=validate.Regexp(sen2.ULN), allow_none=True,
                        metadata={"description": "unique learner number (10 digits)"})
    upn_unknown = fields.String(validate=validate.OneOf(sen2.UPN_UNKNOWN), allow_none=True,
                                metadata={"description": "why neither UPN nor ULN is known"})
    request_mediation = fields.Boolean(allow_none=True)
    request_tribunal = fields.Boolean(allow_none=True)
    assessment_mediation = fields.Boolean(allow_none=True)
    assessment_tribunal = fields.Boolean(allow_none=True)
    plan_residential = fields.Boolean(allow_none=True)
    plan_work_based = fields.Boolean(allow_none=True)
    personal_budget = fields.String(validate=validate.OneOf(sen2.PERSONAL_BUDGET),
                                    allow_none=True)
    sen_setting = fields.String(validate=validate.OneOf(sen2.SEN_SETTING), allow_none=True,
                                metadata={"description": "placement without a URN or UKPRN"})
    ukprn = fields.String(validate=validate.Regexp(r"^1\d{7}$"), allow_none=True)
    cease_reason = fields.String(validate=validate.OneOf(sen2.CEASE_REASON), allow_none=True)


class Sen2Answer(Out):
    case_id = fields.String()
    reference = fields.String()
    sen2 = fields.Nested(Sen2Details)

