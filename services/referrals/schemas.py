"""Marshmallow schemas of the referrals service's RPC inputs and outputs."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from shared.events import LA_CODE, URN

ROLES = ("school", "la_caseworker", "la_manager", "region_admin", "ops")


class Actor(Schema):
    """Who is asking: taken from the verified token by the gateway."""

    sub = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    la_code = fields.String(load_default=None, allow_none=True)
    school_urn = fields.String(load_default=None, allow_none=True)
    source = fields.String(load_default=None, allow_none=True)


class Child(Schema):
    class Meta:
        unknown = RAISE

    given_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    family_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    date_of_birth = fields.Date(required=True)


class ReferralRequest(Schema):
    """POST /v1/referrals: a request for an EHC needs assessment."""

    class Meta:
        unknown = RAISE

    child = fields.Nested(Child, required=True)
    la_code = fields.String(required=True, validate=LA_CODE)
    school_urn = fields.String(required=True, validate=URN)
    requested_by = fields.String(
        required=True, validate=validate.OneOf(["school", "parent", "young_person"]))
    received_on = fields.Date(required=True)


class Referral(Schema):
    """A case as returned to callers allowed to see it."""

    id = fields.UUID()
    reference = fields.String()
    status = fields.String()
    la_code = fields.String()
    school_urn = fields.String()
    requested_by = fields.String()
    received_on = fields.Date()
    child = fields.Nested(Child)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
