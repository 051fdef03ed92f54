"""Use cases of the referrals service: each one unit of work (state + audit + events)."""

from __future__ import annotations

import logging
import uuid
from datetime import date

from marshmallow import ValidationError

from services.referrals import lifecycle, store
from services.referrals.schemas import Actor, Referral, ReferralRequest
from shared.db import Database
from shared.events import new_event
from shared.problems import Problem, not_found, validation_problem

log = logging.getLogger(__name__)


def load_actor(raw: dict) -> dict:
    try:
        return Actor().load(raw)
    except ValidationError as exc:
        raise Problem(401, "Unauthenticated", "Unknown caller.", []) from exc


def may_submit(actor: dict, request: dict) -> bool:
    if actor["role"] == "school":
        return actor.get("school_urn") == request["school_urn"]
    if actor["role"] in ("la_caseworker", "la_manager"):
        return actor.get("la_code") == request["la_code"]
    return False


def submit_request(db: Database, raw_actor: dict, body: object, idempotency_key: str | None,
                   today: date) -> dict:
    """Record a request for an EHC needs assessment and announce it (referral.received)."""
    actor = load_actor(raw_actor)
    try:
        request = ReferralRequest().load(body if isinstance(body, dict) else {})
    except ValidationError as exc:
        raise validation_problem(exc.messages) from None
    try:
        state = lifecycle.new_case(request["received_on"], request["la_code"],
                                   request["school_urn"], today)
    except lifecycle.InvalidStep as exc:
        raise Problem(422, "Validation failed", str(exc.message),
                      [{"field": exc.field, "message": exc.message}]) from None
    if request["child"]["date_of_birth"] > today:
        raise Problem(422, "Validation failed", "date_of_birth cannot be in the future",
                      [{"field": "child.date_of_birth", "message": "cannot be in the future"}])
    if not may_submit(actor, request):
        raise Problem(403, "Forbidden",
                      "You may submit requests only for your own school or LA.")
    with db.unit_of_work() as uow:
        if idempotency_key:
            existing = store.find_by_idempotency_key(uow, f"{actor['sub']}:{idempotency_key}")
            if existing:
                return Referral().dump(store.as_referral(existing))
        case_id = uuid.uuid4()
        number = store.next_reference_number(uow, request["la_code"],
                                             request["received_on"].year)
        reference = lifecycle.case_reference(request["la_code"], request["received_on"].year,
                                             number)
        row = store.insert_case(
            uow, case_id=case_id, reference=reference, status=state.status, request=request,
            created_by=actor["sub"],
            idempotency_key=f"{actor['sub']}:{idempotency_key}" if idempotency_key else None)
        store.audit(uow, actor, "create", case_id, {"reference": reference})
        uow.emit(new_event("referral.received", {
            "case_id": case_id, "reference": reference, "school_urn": request["school_urn"],
            "received_on": request["received_on"], "requested_by": request["requested_by"],
        }, la_code=request["la_code"]))
    log.info("request received", extra={"case_id": case_id, "reference": reference,
                                        "la_code": request["la_code"]})
    return Referral().dump(store.as_referral(row))


def get_referral(db: Database, raw_actor: dict, case_id: str) -> dict:
    actor = load_actor(raw_actor)
    if not store.is_valid_uuid(case_id):
        raise not_found()
    with db.unit_of_work() as uow:
        row = store.get_case(uow, actor, case_id)
        if row is None:
            raise not_found()
        store.audit(uow, actor, "read", row["id"])
    return Referral().dump(store.as_referral(row))
