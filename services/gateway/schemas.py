"""Marshmallow schemas of the public API that the gateway itself validates or assembles:
query strings, lists, the region directory. Request bodies of cases are the referrals
service's schemas (services/referrals/schemas.py); both feed the OpenAPI document."""

from __future__ import annotations

from datetime import date

from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, fields, validate

from services.deadlines.schemas import AlertOffsetSchema, LaSettingsSchema
from services.referrals import schemas as rs
from services.referrals.lifecycle import ADVISERS, STATES
from services.referrals.schemas import MAX_PAGE, ROLES, AuditEntry, Out, Referral, Step
from shared.events import LA_CODE, MILESTONE_STATUS, URN

SORTS = ("next_due", "received_on", "reference")


class AnyObject(Schema):
    """A JSON object validated by the service behind the route."""

    class Meta:
        unknown = INCLUDE


class Query(Schema):
    class Meta:
        unknown = EXCLUDE  # a cache-buster or tracking parameter is not an error


class ReferralListQuery(Query):
    status = fields.List(fields.String(validate=validate.OneOf(STATES)), metadata={
        "description": "one or more states (repeat the parameter or separate by commas)"})
    la_code = fields.String(validate=LA_CODE)
    school_urn = fields.String(validate=URN)
    adviser = fields.String(validate=validate.OneOf(ADVISERS), metadata={
        "description": "cases with advice outstanding from this adviser"})
    reference = fields.String(validate=validate.Length(min=1, max=40))
    due_within = fields.Integer(validate=validate.Range(min=0, max=3650), metadata={
        "description": "cases whose next deadline falls within N days (overdue included)"})
    overdue = fields.Boolean(metadata={
        "description": "true: only cases with a deadline passed; false: only others"})
    assigned_to = fields.String(validate=validate.Length(min=1, max=200), metadata={
        "description": "cases assigned to this caseworker (user id)"})
    unassigned = fields.Boolean(metadata={"description": "true: only cases nobody is "
                                          "assigned to"})
    sort = fields.String(load_default="next_due", validate=validate.OneOf(SORTS))
    cursor = fields.String(validate=validate.Length(max=200), metadata={
        "description": "next_cursor of the previous page"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE))


class Assignment(Schema):
    """PUT /v1/referrals/{id}/assignment: who works the case (null: nobody)."""

    class Meta:
        unknown = RAISE

    caseworker = fields.String(required=True, allow_none=True,
                               validate=validate.Length(min=1, max=200),
                               metadata={"example": "caseworker-881",
                                         "description": "user id of a caseworker of the LA"})


class DeadlineListQuery(Query):
    status = fields.List(fields.String(validate=validate.OneOf(MILESTONE_STATUS + ("open",))),
                         metadata={"description": "milestone statuses; `open` = pending, "
                                   "breached or under exception"})
    due_before = fields.Date(metadata={"description": "deadlines due on or before this day"})
    la_code = fields.String(validate=LA_CODE)
    school_urn = fields.String(validate=URN)
    milestone = fields.String(validate=validate.Length(min=1, max=60))
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PAGE))


class TimelinessQuery(Query):
    la_code = fields.String(validate=LA_CODE, metadata={"description": "default: your LA"})
    year = fields.Integer(validate=validate.Range(min=2014, max=2100),
                          metadata={"description": "calendar year; default: this year"})


class AuditQuery(Query):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PAGE))
    before = fields.Integer(validate=validate.Range(min=1), metadata={
        "description": "next_before of the previous page"})


class AlertQuery(Query):
    unread = fields.Boolean(load_default=False)


# --- responses ----------------------------------------------------------------------------


class ProblemField(Out):
    field = fields.String()
    message = fields.String()


class ProblemSchema(Out):
    """RFC 9457 problem details (application/problem+json)."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.List(fields.Nested(ProblemField), metadata={
        "description": "validation errors: one per field (dotted path)"})
    current_state = fields.String(metadata={"description": "409: the case's state"})
    allowed_steps = fields.List(fields.String(), metadata={
        "description": "409: the steps allowed from the current state"})
    step = fields.String(metadata={"description": "409: the step refused"})
    checks = fields.Dict(metadata={"description": "/readyz: each backing service's state"})


class Deadline(Out):
    milestone = fields.String(metadata={"example": "final_plan"})
    rule = fields.String(metadata={"example": "A6"})
    regulation = fields.String()
    due_on = fields.Date()
    adjusted_due_on = fields.Date(allow_none=True)
    status = fields.String(validate=validate.OneOf(MILESTONE_STATUS))
    met_on = fields.Date(allow_none=True)


class NextDeadline(Out):
    milestone = fields.String()
    due_on = fields.Date(metadata={"description": "adjusted target if an exception applies"})
    status = fields.String()
    overdue = fields.Boolean()


class ReferralListItem(Referral):
    next_deadline = fields.Nested(NextDeadline, allow_none=True)


class ReferralList(Out):
    items = fields.List(fields.Nested(ReferralListItem))
    count = fields.Integer(metadata={"description": "cases matching the filters"})
    next_cursor = fields.String(allow_none=True)


class CaseDeadlines(Out):
    case_id = fields.UUID()
    reference = fields.String()
    deadlines_up_to_date = fields.Boolean(metadata={
        "description": "false while the case's latest event is not yet reflected"})
    deadlines = fields.List(fields.Nested(Deadline))


class DeadlineListItem(Deadline):
    case_id = fields.UUID()
    reference = fields.String()
    la_code = fields.String()
    school_urn = fields.String()
    overdue = fields.Boolean()


class DeadlineList(Out):
    items = fields.List(fields.Nested(DeadlineListItem))
    count = fields.Integer()
    next_cursor = fields.String(allow_none=True)


class History(Out):
    case_id = fields.UUID()
    reference = fields.String()
    steps = fields.List(fields.Nested(Step))


class AuditTrail(Out):
    case_id = fields.UUID()
    reference = fields.String()
    entries = fields.List(fields.Nested(AuditEntry))
    next_before = fields.Integer(allow_none=True)


class Alert(Out):
    id = fields.UUID()
    case_id = fields.UUID()
    reference = fields.String()
    milestone = fields.String()
    kind = fields.String()
    due_on = fields.Date()
    title = fields.String()
    link = fields.String()
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)
    read = fields.Boolean()


class AlertList(Out):
    alerts = fields.List(fields.Nested(Alert))


class Sen2Figures(Out):
    requests_decided = fields.Integer(metadata={"description": "decisions to assess made"})
    decided_within_6_weeks = fields.Integer()
    decided_within_6_weeks_pct = fields.Float(allow_none=True)
    plans_issued = fields.Integer(metadata={"description": "new final plans issued"})
    within_20_weeks = fields.Integer()
    over_20_weeks_under_a_year = fields.Integer()
    over_a_year = fields.Integer()
    within_20_weeks_pct = fields.Float(allow_none=True)


class Timeliness(Out):
    """SEN2 timeliness for one calendar year (by the date of the decision or the plan)."""

    la_code = fields.String()
    year = fields.Integer()
    including_exceptions = fields.Nested(Sen2Figures)
    excluding_exceptions = fields.Nested(Sen2Figures, metadata={
        "description": "leaves out cases to which a Reg 5(4)/10(4)/13(3) exception applied"})
    average_weeks_to_issue = fields.Float(allow_none=True)


# --- the region's directory ---------------------------------------------------------------


class LocalAuthority(Schema):
    class Meta:
        unknown = EXCLUDE

    la_code = fields.String(required=True, validate=LA_CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class School(Schema):
    class Meta:
        unknown = EXCLUDE

    urn = fields.String(required=True, validate=URN)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    la_code = fields.String(required=True, validate=LA_CODE)


class User(Schema):
    """A member of staff known to the region (no child data). Disabling one makes every
    token of that subject fail with 401 at once."""

    class Meta:
        unknown = EXCLUDE

    sub = fields.String(required=True, validate=validate.Length(min=1, max=200))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    la_code = fields.String(load_default=None, allow_none=True, validate=LA_CODE)
    school_urn = fields.String(load_default=None, allow_none=True, validate=URN)
    active = fields.Boolean(dump_only=True)


class UserToken(Out):
    token = fields.String()
    expires_in = fields.Integer()


class LaList(Out):
    items = fields.List(fields.Nested(LocalAuthority))


class SchoolList(Out):
    items = fields.List(fields.Nested(School))


class UserList(Out):
    items = fields.List(fields.Nested(User))


class Health(Out):
    status = fields.String()
    checks = fields.Dict(keys=fields.String(), values=fields.String())


# --- an LA's statutory-clock settings and school closures (routes_la.py) ----------------


class StrictBoolean(fields.Boolean):
    """JSON true or false only (marshmallow's Boolean also takes 0, 1, "yes", "off"...)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class AlertOffset(AlertOffsetSchema):
    # strict: the deadlines service's Integer would take 2.5 (or 1e-42) and truncate it
    offset = fields.Integer(required=True, strict=True,
                            validate=validate.Range(min=-120, max=120), metadata={
                                "description": "negative: before the target date"})


def _offsets() -> fields.List:
    return fields.List(fields.Nested(AlertOffset), validate=validate.Length(max=20))


class LaSettings(LaSettingsSchema):
    """The deadlines service's own schema, stricter about JSON types (booleans, whole
    numbers). A PUT replaces them all: a key left out takes its default
    (next_working_day_receipt false, receipt_cutoff 17:00, alerts 10 and 5 working days
    before, on the day, the day after)."""

    next_working_day_receipt = StrictBoolean(metadata={
        "description": "a request after receipt_cutoff (HH:MM, London time) or on a "
                       "non-working day counts from the next working day"})
    alert_offsets = _offsets()
    milestone_alert_offsets = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=100)), values=_offsets(),
        metadata={"description": "per milestone name (advice:health), prefix (advice) or "
                  "rule id (A6)"})


class LaSettingsAnswer(Out):
    la_code = fields.String()
    settings = fields.Nested(LaSettings, metadata={
        "description": "as set; a key absent takes its default"})
    recompute_queued = fields.Integer(metadata={
        "description": "PUT: open cases of the LA queued to be recomputed"})


# Term dates far outside any case are a typing error, and keep date arithmetic in range.
CLOSURE_DATES = validate.Range(min=date(2000, 1, 1), max=date(2099, 12, 31),
                               error="must be between 2000-01-01 and 2099-12-31")


class ClosureRequest(Schema):
    class Meta:
        unknown = RAISE  # a misspelt date field is an error, not a closure without it

    school_urn = fields.String(load_default=None, allow_none=True, validate=URN, metadata={
        "description": "the school closed; null: every school of the LA (term dates)",
        "example": "100001"})
    starts_on = fields.Date(required=True, validate=CLOSURE_DATES,
                            metadata={"description": "first day closed",
                                      "example": "2026-07-22"})
    ends_on = fields.Date(required=True, validate=CLOSURE_DATES,
                          metadata={"description": "last day closed (not before starts_on)",
                                    "example": "2026-09-01"})


class Closure(Out):
    id = fields.UUID()
    la_code = fields.String()
    school_urn = fields.String(allow_none=True)
    starts_on = fields.Date()
    ends_on = fields.Date()


class ClosureAnswer(Closure):
    recompute_queued = fields.Integer(metadata={
        "description": "open cases of the LA queued to be recomputed"})


class ClosureRemoved(Out):
    id = fields.UUID()
    removed = fields.Boolean()
    recompute_queued = fields.Integer()


class ClosureList(Out):
    items = fields.List(fields.Nested(Closure))


class Sen2ReturnQuery(Query):
    la_code = fields.String(validate=LA_CODE, metadata={"description": "default: your LA"})
    year = fields.Integer(required=True, validate=validate.Range(min=2015, max=2100),
                          metadata={"description": "collection year: the January return "
                                    "of year Y covers calendar year Y-1"})


class Sen2Error(Out):
    reference = fields.String(metadata={"description": "the case's reference"})
    module = fields.String()
    field = fields.String()
    message = fields.String()


class Sen2Report(Out):
    """The SEN2 return of an LA: the XML (personal data: the statutory return), the
    business-rule errors by case reference, its counts and the timeliness figures of the
    same calendar year from the deadlines service."""

    la_code = fields.String()
    year = fields.Integer()
    reference_date = fields.Date()
    period = fields.Dict(keys=fields.String(), values=fields.String())
    xml = fields.String()
    errors = fields.List(fields.Nested(Sen2Error))
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    figures = fields.Nested(Timeliness)
    counts_agree = fields.Boolean(metadata={
        "description": "decisions, plans and plans within 20 weeks equal the figures"})


class DeadLetterSelection(Schema):
    """Which dead letters to replay or purge: these event ids, or (left out) all of them."""

    event_ids = fields.List(fields.UUID(), validate=validate.Length(min=1, max=10_000),
                            metadata={"description": "default: every message of the queue"})


class Sen2Details(rs.Sen2Details):
    """The referrals service's schema, stricter about JSON types: true or false only."""

    request_mediation = StrictBoolean(allow_none=True)
    request_tribunal = StrictBoolean(allow_none=True)
    assessment_mediation = StrictBoolean(allow_none=True)
    assessment_tribunal = StrictBoolean(allow_none=True)
    plan_residential = StrictBoolean(allow_none=True)
    plan_work_based = StrictBoolean(allow_none=True)
