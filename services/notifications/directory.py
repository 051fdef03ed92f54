"""The recipient directory's rules (pure): what a recipient entry may hold, and who may
manage it. Entries describe organisations and teams (a school, an LA's SEND team or
managers, a member of staff): never a child."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from services.notifications.render import KINDS
from services.notifications.routing import CHANNELS
from shared.events import LA_CODE, URN
from shared.problems import Problem, validation_problem

RECIPIENT_KINDS = ("school", "la_team", "la_manager", "user")
MANAGERS = ("region_admin", "la_manager")


class RecipientBody(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(RECIPIENT_KINDS))
    la_code = fields.String(required=True, validate=LA_CODE)
    school_urn = fields.String(load_default=None, allow_none=True, validate=URN)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    emails = fields.List(fields.Email(), load_default=list, validate=validate.Length(max=20))
    webhook_url = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"},
                             require_tld=False)
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)),
                           load_default=lambda: ["inbox"])
    muted_kinds = fields.List(fields.String(validate=validate.OneOf(KINDS)), load_default=list)

    @validates_schema
    def consistent(self, data: dict, partial: bool = False, **_: Any) -> None:
        if partial:
            return  # PATCH: checked on the merged entry
        check_consistency(data)


def check_consistency(data: Mapping[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    channels = set(data.get("channels") or ())
    if data.get("kind") == "school" and not data.get("school_urn"):
        errors["school_urn"] = ["a school needs its URN"]
    if channels & {"email", "digest"} and not data.get("emails"):
        errors["emails"] = ["email and digest channels need at least one address"]
    if "webhook" in channels and not data.get("webhook_url"):
        errors["webhook_url"] = ["the webhook channel needs a URL"]
    if errors:
        raise ValidationError(errors)


def load_body(body: Any, partial: bool = False) -> dict:
    if not isinstance(body, Mapping):
        raise Problem(422, "Validation failed", "Send a JSON object.")
    try:
        data = RecipientBody().load(body, partial=partial)
    except ValidationError as exc:
        raise validation_problem(exc.messages) from None
    for key in ("emails", "channels", "muted_kinds"):
        if key in data:
            data[key] = sorted(set(data[key]), key=lambda v: (v.lower(), v))
    return data


def check_merged(data: Mapping[str, Any]) -> None:
    try:
        check_consistency(data)
    except ValidationError as exc:
        raise validation_problem(exc.messages) from None


def require_manager(actor: Mapping[str, Any]) -> None:
    """region_admin manages every LA's directory, an LA manager only their own LA's."""
    if actor.get("role") not in MANAGERS:
        raise Problem(403, "Forbidden", "Only LA managers and region admins manage recipients.")


def may_manage(actor: Mapping[str, Any], la_code: str) -> bool:
    if actor.get("role") == "region_admin":
        return True
    return actor.get("role") == "la_manager" and actor.get("la_code") == la_code


def scope_la(actor: Mapping[str, Any]) -> str | None:
    """The LA an actor's listing is limited to (None: every LA)."""
    return None if actor.get("role") == "region_admin" else actor.get("la_code")


def secret_hash(secret: str) -> str:
    # The feed secret is a credential: store only its hash, like a password reset token.
    return hashlib.sha256(secret.encode()).hexdigest()


def as_json(row: Mapping[str, Any]) -> dict:
    """A recipient for the API: secrets are never echoed, only whether they exist."""
    return {
        "id": str(row["id"]), "kind": row["kind"], "la_code": row["la_code"],
        "school_urn": row["school_urn"], "name": row["name"], "emails": list(row["emails"]),
        "webhook_url": row["webhook_url"], "has_webhook_secret": bool(row["webhook_secret"]),
        "channels": list(row["channels"]), "muted_kinds": list(row["muted_kinds"]),
        "has_calendar_feed": bool(row["calendar_secret_hash"]),
        "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat(),
    }


def routing_entry(row: Mapping[str, Any]) -> dict:
    """What routing.route reads from a directory row."""
    return {"id": str(row["id"]), "kind": row["kind"], "la_code": row["la_code"],
            "school_urn": row["school_urn"], "channels": list(row["channels"]),
            "muted_kinds": list(row["muted_kinds"])}
