"""Validation of what the deadlines service's RPCs accept."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.events import LA_CODE, MILESTONE_STATUS, URN
from shared.problems import validation_problem

ALERT_KINDS = ("approaching", "due", "breached")
UNITS = ("working_days", "days")


class AlertOffsetSchema(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(ALERT_KINDS))
    offset = fields.Integer(required=True, validate=validate.Range(min=-120, max=120))
    unit = fields.String(load_default="working_days", validate=validate.OneOf(UNITS))


class LaSettingsSchema(Schema):
    class Meta:
        unknown = RAISE

    next_working_day_receipt = fields.Boolean()
    receipt_cutoff = fields.String(validate=validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$"))
    alert_offsets = fields.List(fields.Nested(AlertOffsetSchema),
                                validate=validate.Length(max=20))
    phase_transfer_reading = fields.String(validate=validate.OneOf(("by", "before")), metadata={
        "description": "Reg 18(1): 'by' 15 Feb / 31 Mar (Code of Practice, default) or "
                       "'before' (the regulation's word: 14 Feb / 30 Mar)"})
    review_period_reading = fields.String(
        validate=validate.OneOf(("anniversary", "starting_with")), metadata={
            "description": "CFA s44(1): review by the anniversary (default) or within the 12 "
                           "months 'starting with' the plan or review date (the day before)"})
    review_clock_from = fields.String(validate=validate.OneOf(("meeting", "decision")), metadata={
        "description": "the next annual review runs from the review meeting (default) or "
                       "from the LA's decision after it"})
    milestone_alert_offsets = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=100)),
        values=fields.List(fields.Nested(AlertOffsetSchema), validate=validate.Length(max=20)))


class ClosureSchema(Schema):
    class Meta:
        unknown = RAISE

    la_code = fields.String(required=True, validate=LA_CODE)
    school_urn = fields.String(load_default=None, allow_none=True, validate=URN)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)

    @validates_schema
    def _order(self, data, **kw):
        if data["ends_on"] < data["starts_on"]:
            raise ValidationError("must not be before starts_on", "ends_on")


class DeadlineFilters(Schema):
    class Meta:
        unknown = RAISE

    la_code = fields.String(validate=LA_CODE)
    school_urns = fields.List(fields.String(validate=URN), validate=validate.Length(max=1000))
    case_ids = fields.List(fields.UUID(), validate=validate.Length(max=1000))
    rules = fields.List(fields.String(validate=validate.Length(max=40)))
    status = fields.Raw(validate=lambda v: _statuses(v))  # one status or a list of them
    open_only = fields.Boolean(load_default=False)
    due_before = fields.Date()
    due_within_days = fields.Integer(validate=validate.Range(min=0, max=3660))
    overdue = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


def _statuses(value: object) -> bool:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or any(s not in MILESTONE_STATUS for s in items):
        raise ValidationError(f"must be one or more of {', '.join(MILESTONE_STATUS)}")
    return True


def load(schema: Schema, data: object, prefix: str = "") -> dict:
    """Load or raise the one error format (422 with a field list)."""
    try:
        return schema.load(data if data is not None else {})
    except ValidationError as exc:
        raise validation_problem(exc.messages, prefix) from None
