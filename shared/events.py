"""The one event envelope and the catalogue of every event type's payload.

Events carry case references, codes and dates, never a child's name or date of birth:
personal data stays in the referrals service.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, missing, validate

LA_CODE = validate.Regexp(r"^\d{3}$", error="must be a three-digit LA code")
URN = validate.Regexp(r"^\d{6}$", error="must be a six-digit school URN")
MILESTONE_STATUS = ("pending", "met", "late", "breached", "exception", "not_applicable")
ALERT_KINDS = ("approaching", "due", "breached", "met")


# The advisers whose advice an EHC needs assessment seeks (Reg 6(1)): one list for the
# referrals lifecycle, the deadlines rules (advice:<adviser> milestones) and the API.
ADVISERS: tuple[str, ...] = (
    "educational_psychologist",
    "health",
    "social_care",
    "school",
    "early_years",
    "other",
)

# Every step a case may record (the referrals lifecycle's vocabulary, in its display order);
# `case.step_recorded` carries one of them, and the deadlines engine knows each one.
CASE_STEP_TYPES: tuple[str, ...] = (
    "decision_to_assess",
    "advice_requested",
    "advice_received",
    "decision_not_to_issue",
    "draft_plan_issued",
    "draft_response_received",
    "school_consulted",
    "school_response_received",
    "final_plan_issued",
    "review_meeting_held",
    "review_decision",
    "amendments_proposed",
    "amendments_response_received",
    "amended_plan_issued",
    "decision_not_to_amend",
    "phase_transfer",
    "exception_started",
    "exception_ended",
    "withdrawn",
    "transferred_out",
    "transferred_in",
    "reassessment_requested",
    "reassessment_decided",
    "tribunal_order",
    # issue 11: steps the statutory clock needs that were not recordable before
    "review_meeting_scheduled",
    "review_invitations_sent",
    "review_advice_circulated",
    "review_report_sent",
    "move_notified",
    "cease_decision",
    "decision_notice_sent",
    "mediation_contacted",
    "mediation_declined",
    "mediation_requested",
    "mediation_held",
    "mediation_certificate_issued",
    "appeal_lodged",
)


def is_uuid(value: object) -> bool:
    """Whether a value is a UUID (ids from URLs are checked before they reach SQL)."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class InvalidEvent(Exception):
    """A message that can never be processed: dead-letter it with this reason."""


class Envelope(Schema):
    class Meta:
        unknown = RAISE

    id = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    occurred_at = fields.AwareDateTime(required=True)
    la_code = fields.String(required=True, validate=LA_CODE)
    correlation_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    payload = fields.Dict(required=True)


class CaseRef(Schema):
    """What every case event says about the case it belongs to."""

    class Meta:
        unknown = RAISE

    case_id = fields.UUID(required=True)
    reference = fields.String(required=True, validate=validate.Length(min=1, max=40))
    school_urn = fields.String(required=True, validate=URN)


class ReferralReceived(CaseRef):
    received_on = fields.Date(required=True)
    received_at = fields.AwareDateTime(load_default=None, allow_none=True)
    requested_by = fields.String(
        required=True, validate=validate.OneOf(["school", "parent", "young_person"]))


class RecordedStep(Schema):
    """A step of a case's history: case.step_recorded carries one, case.imported a list."""

    class Meta:
        unknown = RAISE

    step_id = fields.UUID(required=True)
    step_type = fields.String(required=True, validate=validate.OneOf(CASE_STEP_TYPES))
    on = fields.Date(required=True)
    data = fields.Dict(load_default=dict)


class CaseStepRecorded(CaseRef, RecordedStep):
    # A step, or "request_received" for a correction of the receipt date.
    step_type = fields.String(
        required=True, validate=validate.OneOf(("request_received", *CASE_STEP_TYPES)))
    corrects = fields.UUID(load_default=None, allow_none=True)


class CaseImported(ReferralReceived):
    """A case brought in from an LA's previous system (`ehcp import`): its request and the
    steps recorded there, in order, in one message. It tells the deadlines service what a
    referral.received and one case.step_recorded per step would (the same ids), at the cost
    of one outbox row, publish, delivery and validation instead of one per step. The
    case's `school_urn` is its school after the last step."""

    steps = fields.List(fields.Nested(RecordedStep), required=True)


class MilestoneDue(Schema):
    class Meta:
        unknown = RAISE

    milestone = fields.String(required=True)
    rule = fields.String(required=True)
    regulation = fields.String(required=True)
    due_on = fields.Date(required=True)
    adjusted_due_on = fields.Date(load_default=None, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(MILESTONE_STATUS))
    met_on = fields.Date(load_default=None, allow_none=True)
    # Optional, so that events written before they were added still load: the days an
    # exception added, and whether the milestone lapses (not_applicable) rather than being
    # breached when its date passes unmet. With them a copy of the schedule shows what the
    # deadlines service would on any later day (status_on).
    exception_days = fields.Integer(load_default=0)
    lapses = fields.Boolean(load_default=False)


def effective_due(milestone: Mapping[str, Any]) -> Any:
    """The date that counts for a milestone: the adjusted target when an exception applies."""
    return milestone.get("adjusted_due_on") or milestone["due_on"]


OPEN_MILESTONE_STATUS = ("pending", "breached", "exception")  # not met, not void


def status_on(milestone: Mapping[str, Any], today: date) -> str:
    """A scheduled milestone's status as of `today` (its `status` is the one computed on the
    day of its recompute; an open milestone is breached, or lapses, as days pass without
    any event). The deadlines service's SQL form is services/deadlines/store.py's
    EFFECTIVE_STATUS; tests/integration/deadlines/test_status_on.py holds the two equal.
    Dates may be `date`s or ISO 8601 text (a stored copy)."""
    status = milestone["status"]
    if milestone.get("met_on"):
        return status
    target = effective_due(milestone)
    passed = (target if isinstance(target, date) else date.fromisoformat(target)) < today
    if milestone.get("lapses"):
        return "not_applicable" if status in ("pending", "exception") and passed else status
    if status in OPEN_MILESTONE_STATUS:
        if passed:
            return "breached"
        return "exception" if milestone.get("adjusted_due_on") else "pending"
    return status


def next_open_milestone(milestones: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """A case's next key date: its earliest open milestone by effective date (the gateway's
    API and the referrals service's case list both read it this way)."""
    open_ones = [m for m in milestones if m.get("status") in OPEN_MILESTONE_STATUS]
    if not open_ones:
        return None
    return min(open_ones, key=lambda m: (str(effective_due(m)), m["milestone"]))


# Assigning a case to a caseworker is recorded as a step of the case (history, audit) but
# has no statutory meaning: it is not a lifecycle step and travels in no event.
ASSIGNMENT_STEP = "caseworker_assigned"


class DeadlineScheduled(CaseRef):
    milestones = fields.List(fields.Nested(MilestoneDue), required=True)
    as_of_event = fields.UUID(required=True)
    # Earlier events of the case handled in the same batch, which this schedule takes into
    # account too: one announcement per case and batch, not one per event (an imported
    # case's request and steps arrive together).
    covers = fields.List(fields.UUID(), load_default=list)


class DeadlineAlert(CaseRef):
    kind = fields.String(required=True, validate=validate.OneOf(ALERT_KINDS))
    milestone = fields.String(required=True)
    rule = fields.String(required=True)
    regulation = fields.String(required=True)
    due_on = fields.Date(required=True)
    adjusted_due_on = fields.Date(load_default=None, allow_none=True)


CATALOGUE: dict[tuple[str, int], type[Schema]] = {
    ("referral.received", 1): ReferralReceived,
    ("case.step_recorded", 1): CaseStepRecorded,
    ("case.imported", 1): CaseImported,
    ("deadline.scheduled", 1): DeadlineScheduled,
    ("deadline.approaching", 1): DeadlineAlert,
    ("deadline.due", 1): DeadlineAlert,
    ("deadline.breached", 1): DeadlineAlert,
    ("deadline.met", 1): DeadlineAlert,
}
EVENT_TYPES = sorted({t for t, _ in CATALOGUE})


_ENVELOPE = Envelope()


@functools.cache
def _schema(type: str, version: int) -> Schema:
    """One schema instance per event type, reused: building one (its fields deep-copied)
    cost as much as a small payload's validation, on every event sent and received."""
    return CATALOGUE[(type, version)]()


@functools.cache
def _load_defaults(type: str, version: int) -> tuple[tuple[str, Any], ...]:
    """The payload fields a consumer's load fills in when absent, with their defaults."""
    return tuple((name, f.load_default) for name, f in _schema(type, version).fields.items()
                 if f.load_default is not missing)


def json_value(value: Any) -> Any:
    """A value as JSON carries it: dates and datetimes in ISO 8601, UUIDs and other objects
    as their text; JSON's own types (None included) as they are."""
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return value.isoformat() if isinstance(value, date | time) else str(value)


def json_values(mapping: Mapping[str, Any]) -> dict:
    """A flat mapping (a row, an alert) with each value as JSON carries it (json_value)."""
    return {k: json_value(v) for k, v in mapping.items()}


def new_event(
    type: str, payload: Mapping[str, Any], la_code: str, correlation_id: str | None = None,
    version: int = 1, occurred_at: datetime | None = None,
) -> dict:
    """Build an envelope (JSON-ready) after checking its payload against the catalogue."""
    schema = _schema(type, version)
    # Through JSON first, so Python values and already-serialised ones validate alike; the
    # JSON form is the body (dates and datetimes in ISO 8601, as a dump would write them:
    # dumping again was a fifth of new_event's cost), absent fields with a
    # default written out as a consumer would load them.
    body = json.loads(json.dumps(payload, default=json_value))
    schema.load(body)  # raises ValidationError naming the field
    for name, default in _load_defaults(type, version):
        if name not in body:
            body[name] = default() if callable(default) else default
    event_id = str(uuid.uuid4())
    return {
        "id": event_id,
        "type": type,
        "version": version,
        "occurred_at": (occurred_at or datetime.now(UTC)).isoformat(),
        "la_code": la_code,
        "correlation_id": correlation_id or event_id,
        "payload": body,
    }


def parse_event(body: Any) -> dict:
    """Validate an incoming message. Returns the envelope with its payload loaded
    (UUIDs, dates as Python objects); raises InvalidEvent naming what is wrong."""
    if not isinstance(body, Mapping):
        raise InvalidEvent(f"body must be a JSON object, got {type(body).__name__}")
    try:
        envelope = _ENVELOPE.load(body)
    except ValidationError as exc:
        raise InvalidEvent(f"envelope: {exc.messages}") from None
    key = (envelope["type"], envelope["version"])
    if key not in CATALOGUE:
        raise InvalidEvent(f"unknown event type {key[0]!r} version {key[1]}")
    try:
        envelope["payload"] = _schema(*key).load(envelope["payload"])
    except ValidationError as exc:
        raise InvalidEvent(f"payload: {exc.messages}") from None
    envelope["id"] = str(envelope["id"])
    return envelope
