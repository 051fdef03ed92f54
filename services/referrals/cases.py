"""Use cases of the referrals service: each one unit of work (state + audit + events).

Tenancy is enforced here again, whatever the gateway checked: every query goes through
`store.visibility`, and a case the caller may not see is "not found" (never "forbidden"),
so its existence is not disclosed."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import date, datetime, timedelta

from marshmallow import ValidationError
from psycopg.types.json import Jsonb

from services.referrals import importing, lifecycle, sen2, store
from services.referrals.schemas import (
    MAX_PAGE,
    Actor,
    AuditEntry,
    ListFilters,
    ReceiptCorrection,
    Referral,
    ReferralRequest,
    Sen2Details,
    Step,
    StepCorrection,
    StepRequest,
)
from shared.db import Database, UnitOfWork
from shared.events import (
    ASSIGNMENT_STEP,
    effective_due,
    is_uuid,
    json_value,
    new_event,
    next_open_milestone,
    status_on,
)
from shared.problems import Problem, not_found, validation_problem

log = logging.getLogger(__name__)

# Step fields that may travel in events: codes and dates only. A note is free text that
# may name a child, so it stays in this service.
EVENT_DATA_KEYS = ("outcome", "adviser", "school_urn", "transfer_year", "to_phase", "limb",
                   "exception_id", "la_code", "order", "unopposed", "transfer_on",
                   "year_group", "meeting_on", "moved_on")
LA_ROLES = ("la_caseworker", "la_manager")
# Schemas built once: building one deep-copies its fields, which cost as much as the
# validation itself (or a case read's SQL). None keeps state between calls.
ACTOR = Actor()
REQUEST = ReferralRequest()
REFERRALS = Referral(many=True)


def load_actor(raw: dict) -> dict:
    try:
        return ACTOR.load(raw)
    except ValidationError as exc:
        raise Problem(401, "Unauthenticated", "Unknown caller.", []) from exc


def may_submit(actor: dict, request: dict) -> bool:
    if actor["role"] == "school":
        return actor.get("school_urn") == request["school_urn"]
    if actor["role"] in LA_ROLES:
        return actor.get("la_code") == request["la_code"]
    return False


def may_record(actor: dict, step_type: str, data: dict) -> bool:
    """LA staff record every step of their LA's cases; a school only its own advice and
    its own reply to a consultation."""
    if actor["role"] in LA_ROLES:
        return True
    if actor["role"] == "school":
        if step_type == "advice_received":
            return data.get("adviser") == "school"
        if step_type == "school_response_received":
            return data.get("school_urn") == actor.get("school_urn")
    return False


def invalid(exc: lifecycle.InvalidStep) -> Problem:
    return Problem(422, "Validation failed", f"{exc.field}: {exc.message}",
                   [{"field": exc.field, "message": exc.message}])


def not_allowed(exc: lifecycle.StepNotAllowed) -> Problem:
    return Problem(409, "Step not allowed", str(exc), extra={
        "current_state": exc.current_state, "step": exc.step_type,
        "allowed_steps": exc.allowed})


def detail(row: dict) -> dict:
    """The case as its readers see it, with the steps allowed now."""
    return details([row])[0]


def details(rows: list[dict]) -> list[dict]:
    """Many cases at once: one schema for the lot (building one per case costs more than
    the page's SQL), built once for all."""
    out = []
    for row in rows:
        state = store.state_from_json(row["state"])  # parsed once for both
        referral = store.as_referral(row, state)
        referral["allowed_steps"] = lifecycle.allowed_steps(state)
        out.append(referral)
    return REFERRALS.dump(out)


def _visible(uow: UnitOfWork, actor: dict, case_id: str, for_update: bool = False) -> dict:
    row = store.get_case(uow, actor, case_id, for_update) if is_uuid(case_id) \
        else None
    if row is None:
        raise not_found()
    return row


# --- requests -----------------------------------------------------------------------------


def submit_request(db: Database, raw_actor: dict, body: object, idempotency_key: str | None,
                   today: date, now: datetime | None = None) -> dict:
    """Record a request for an EHC needs assessment and announce it (referral.received).

    A request dated today is received now, through this system: its time travels with the
    event, so an LA that counts requests after 17:00 from the next working day gets that
    (a back-dated import has no time of day and counts from its date)."""
    actor = load_actor(raw_actor)
    try:
        request = REQUEST.load(body if isinstance(body, dict) else {})
    except ValidationError as exc:
        raise validation_problem(exc.messages) from None
    try:
        state = lifecycle.new_case(request["received_on"], request["la_code"],
                                   request["school_urn"], today)
    except lifecycle.InvalidStep as exc:
        raise invalid(exc) from None
    if request["child"]["date_of_birth"] > today:
        raise Problem(422, "Validation failed", "date_of_birth cannot be in the future",
                      [{"field": "child.date_of_birth", "message": "cannot be in the future"}])
    if not may_submit(actor, request):
        raise Problem(403, "Forbidden",
                      "You may submit requests only for your own school or LA.")
    key = f"{actor['sub']}:{idempotency_key}" if idempotency_key else None
    with db.unit_of_work() as uow:
        if key:
            store.lock_idempotency_key(uow, key)  # a parallel retry waits, then finds ours
            existing = store.find_by_idempotency_key(uow, key)
            if existing:
                same_request(existing, fingerprint(request))
                return detail(existing)
        case_id = uuid.uuid4()
        number = store.next_reference_number(uow, request["la_code"],
                                             request["received_on"].year)
        reference = lifecycle.case_reference(request["la_code"], request["received_on"].year,
                                             number)
        event = new_event("referral.received", {
            "case_id": case_id, "reference": reference, "school_urn": request["school_urn"],
            "received_on": request["received_on"], "requested_by": request["requested_by"],
            "received_at": now if now and request["received_on"] == today else None,
        }, la_code=request["la_code"])
        row = store.insert_case(
            uow, case_id=case_id, reference=reference, state=state, request=request,
            created_by=actor["sub"], idempotency_key=key, event_id=event["id"])
        if key:
            store.set_idempotency_fingerprint(uow, "cases", case_id, fingerprint(request))
        store.audit(uow, actor, "create", case_id, {"reference": reference},
                    request["la_code"])
        uow.emit(event)
    log.info("request received", extra={"case_id": case_id, "reference": reference,
                                        "la_code": request["la_code"]})
    return detail(row)


def fingerprint(validated: dict) -> str:
    """What an Idempotency-Key's request said: sha256 of its validated body, canonical."""
    text = json.dumps(validated, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def same_request(existing: dict, print_: str) -> None:
    """A key reused with a different body is a client bug: 422, never the first answer."""
    if existing.get("idempotency_fingerprint") not in (None, print_):
        raise Problem(422, "Validation failed",
                      "Idempotency-Key: already used for a different request",
                      [{"field": "Idempotency-Key",
                        "message": "already used with a different body; use a new key"}])


def get_referral(db: Database, raw_actor: dict, case_id: str) -> dict:
    actor = load_actor(raw_actor)
    if not is_uuid(case_id):
        raise not_found()
    with db.statement() as conn:  # one statement: the row and its audit (store.read_case)
        row = store.read_case(conn, actor, case_id, "read")
    if row is None:
        raise not_found()
    return detail(row)


def get_referral_deadlines(db: Database, raw_actor: dict, case_id: str, today: date) -> dict:
    """The case's deadlines as of `today`, from its copy of the schedule, read and audited
    with the case row in one statement. `deadlines` is None while the case has no copy (no
    deadline.scheduled applied yet): the caller then asks the deadlines service."""
    actor = load_actor(raw_actor)
    if not is_uuid(case_id):
        raise not_found()
    with db.statement() as conn:
        row = store.read_case(conn, actor, case_id, "read", with_schedule=True)
    if row is None:
        raise not_found()
    schedule = row["schedule"]
    return {"case_id": str(row["id"]), "reference": row["reference"],
            "deadlines_up_to_date": not row["deadlines_pending"],
            "deadlines": None if schedule is None else deadlines_on(schedule, today)}


def deadlines_on(schedule: list[dict], today: date) -> list[dict]:
    """A copied schedule as the deadlines service shows it (schedule.deadline_json): in
    date order, each milestone's status as of `today`."""
    return [{"milestone": m["milestone"], "rule": m["rule"], "regulation": m["regulation"],
             "due_on": m["due_on"], "adjusted_due_on": m.get("adjusted_due_on"),
             "status": status_on(m, today), "met_on": m.get("met_on"),
             "exception_days": m.get("exception_days", 0)}
            for m in sorted(schedule, key=lambda m: (m["due_on"], m["milestone"]))]


# --- steps --------------------------------------------------------------------------------


def record_step(db: Database, raw_actor: dict, case_id: str, body: object,
                idempotency_key: str | None, today: date) -> dict:
    """Apply one step to a case: 409 if the state does not allow it, 422 if a field is
    wrong; either way nothing changes. On success the state, the step, the audit row and
    the case.step_recorded event commit together."""
    actor = load_actor(raw_actor)
    if not is_uuid(case_id):
        raise not_found()
    try:
        data = StepRequest().load(body if isinstance(body, dict) else {})
    except ValidationError as exc:
        raise validation_problem(exc.messages) from None
    step_type, on = data.pop("type"), data.pop("on")
    body_data = dict(data)  # as sent (the lifecycle adds derived keys to `data`)
    key = f"{actor['sub']}:{case_id}:{idempotency_key}" if idempotency_key else None
    with db.unit_of_work() as uow:
        row = _visible(uow, actor, case_id, for_update=True)  # one step at a time per case
        if key:
            existing = store.find_step_by_idempotency_key(uow, key)
            if existing:
                same_request(existing, fingerprint({"type": step_type, "on": on,
                                                    **body_data}))
                return _step_answer(row, existing)
        if not may_record(actor, step_type, data):
            raise Problem(403, "Forbidden", "Your role may not record this step.")
        state = store.state_from_json(row["state"])
        try:
            new = lifecycle.apply_step(state, step_type, on, data, today)
            if step_type == "exception_ended":  # the one it closed, named in the event
                data["exception_id"] = lifecycle.ended_exception_id(state, data)
        except lifecycle.StepNotAllowed as exc:
            raise not_allowed(exc) from None
        except lifecycle.InvalidStep as exc:
            raise invalid(exc) from None
        if step_type == "exception_started":
            data["exception_id"] = new.last_exception_id  # what exception_ended names
        step_id = uuid.uuid4()
        event = new_event("case.step_recorded", {
            "case_id": row["id"], "reference": row["reference"], "school_urn": new.school_urn,
            "step_id": step_id, "step_type": step_type, "on": on,
            "data": {k: data[k] for k in EVENT_DATA_KEYS if k in data},
        }, la_code=row["la_code"])
        updated = store.update_case_state(uow, row["id"], new, event["id"])
        step = store.insert_step(uow, step_id=step_id, case_id=row["id"], step_type=step_type,
                                 on=on, data=data, actor=actor, status_after=new.status,
                                 event_id=event["id"], idempotency_key=key)
        if key:
            store.set_idempotency_fingerprint(
                uow, "case_steps", step_id,
                fingerprint({"type": step_type, "on": on, **body_data}))
        store.audit(uow, actor, "step", row["id"],
                    {"type": step_type, "on": on.isoformat(), "seq": step["seq"]},
                    row["la_code"])
        uow.emit(event)
    log.info("step recorded", extra={"case_id": row["id"], "reference": row["reference"],
                                     "event_type": step_type, "status": new.status})
    return _step_answer(updated, step)


def _load_correction(actor: dict, schema, body: object) -> dict:
    if actor["role"] not in LA_ROLES:
        raise Problem(403, "Forbidden", "Only the LA corrects a recorded date.")
    try:
        return schema().load(body if isinstance(body, dict) else {})
    except ValidationError as exc:
        raise validation_problem(exc.messages) from None


def _replay(row: dict, steps: list[dict], today: date, received_on: date,
            moved: dict[str, date], field: str) -> tuple[lifecycle.CaseState, dict[str, str]]:
    """The case rebuilt through the lifecycle with some dates moved: the state, and each
    step's status after it. A date that no longer fits is a 422 naming `field`."""
    try:
        # The case's school now is right to start from: only a plan step changes it, and
        # the replay sets it again at that step.
        state = lifecycle.new_case(received_on, row["la_code"], row["school_urn"], today)
    except lifecycle.InvalidStep as exc:
        raise invalid(exc) from None
    after = {}
    for s in steps:
        if s["type"] == ASSIGNMENT_STEP:  # not a lifecycle step
            after[str(s["id"])] = s["status_after"]
            continue
        try:
            state = lifecycle.apply_step(state, s["type"], moved.get(str(s["id"]), s["on_date"]),
                                         s["data"], today)
        except (lifecycle.InvalidStep, lifecycle.StepNotAllowed) as exc:
            message = getattr(exc, "message", str(exc))
            raise Problem(422, "Validation failed", f"step {s['seq']} ({s['type']}): "
                          f"{message}", [{"field": field, "message": message}]) from None
        after[str(s["id"])] = state.status
    return state, after


def _announce_correction(row: dict, state: lifecycle.CaseState, correction_id: uuid.UUID,
                         step_type: str, on: date, data: dict, corrects: str) -> dict:
    """A correction travels as a case.step_recorded that `corrects` the version before it:
    the deadlines service recomputes as if the right date had come first."""
    return new_event("case.step_recorded", {
        "case_id": row["id"], "reference": row["reference"], "school_urn": state.school_urn,
        "step_id": correction_id, "step_type": step_type, "on": on,
        "data": {k: data[k] for k in EVENT_DATA_KEYS if k in data}, "corrects": corrects,
    }, la_code=row["la_code"])


def correct_step(db: Database, raw_actor: dict, case_id: str, step_id: str, body: object,
                 today: date) -> dict:
    """Correct the date of a recorded step. The case's history is replayed with the new
    date through the lifecycle, so a correction that would put steps out of order (or in
    the future) is refused with 422 and changes nothing."""
    actor = load_actor(raw_actor)
    with db.unit_of_work() as uow:
        row = _visible(uow, actor, case_id, for_update=True)
        fix = _load_correction(actor, StepCorrection, body)
        steps = store.steps_of_case(uow, row["id"])
        target = next((s for s in steps if str(s["id"]) == str(step_id)), None)
        if target is None:
            raise not_found("step")
        if target["type"] == ASSIGNMENT_STEP:
            raise Problem(422, "Validation failed", "an assignment has no date to correct",
                          [{"field": "on", "message": "an assignment has no date to correct"}])
        state, after = _replay(row, steps, today, row["received_on"],
                               {str(target["id"]): fix["on"]}, field="on")
        correction_id = uuid.uuid4()
        event = _announce_correction(row, state, correction_id, target["type"], fix["on"],
                                     target["data"], store.latest_version(uow, target["id"]))
        step = store.correct_step_date(
            uow, correction_id=correction_id, step=target, on=fix["on"],
            corrects=event["payload"]["corrects"], note=fix["note"], actor=actor,
            status_after=after[str(target["id"])])
        updated = store.update_case_state(uow, row["id"], state, event["id"])
        store.audit(uow, actor, "correct_step", row["id"],
                    {"seq": target["seq"], "type": target["type"],
                     "from": target["on_date"].isoformat(), "to": fix["on"].isoformat()},
                    row["la_code"])
        uow.emit(event)
    log.info("step corrected", extra={"case_id": row["id"], "reference": row["reference"],
                                      "event_type": target["type"]})
    return _step_answer(updated, step)


def correct_receipt(db: Database, raw_actor: dict, case_id: str, body: object,
                    today: date) -> dict:
    """Correct the date the request was received (it starts the 6- and 20-week clocks).
    Replayed like a step's correction: every step must still fall on or after it."""
    actor = load_actor(raw_actor)
    with db.unit_of_work() as uow:
        row = _visible(uow, actor, case_id, for_update=True)
        fix = _load_correction(actor, ReceiptCorrection, body)
        steps = store.steps_of_case(uow, row["id"])
        state, _ = _replay(row, steps, today, fix["received_on"], {}, field="received_on")
        correction_id = uuid.uuid4()
        event = _announce_correction(row, state, correction_id, "request_received",
                                     fix["received_on"], {},
                                     store.latest_receipt_version(uow, row))
        store.record_correction(uow, correction_id=correction_id, case_id=row["id"],
                                step_id=None, previous_on=row["received_on"],
                                on=fix["received_on"], corrects=event["payload"]["corrects"],
                                note=fix["note"], actor=actor)
        store.correct_receipt_date(uow, row["id"], fix["received_on"])
        updated = store.update_case_state(uow, row["id"], state, event["id"])
        store.audit(uow, actor, "correct_receipt", row["id"],
                    {"from": row["received_on"].isoformat(),
                     "to": fix["received_on"].isoformat()}, row["la_code"])
        uow.emit(event)
    log.info("receipt corrected", extra={"case_id": row["id"], "reference": row["reference"]})
    return detail(updated)


def _step_answer(case_row: dict, step_row: dict) -> dict:
    referral = detail(case_row)
    return {"step": _step(step_row), "referral": referral, "status": referral["status"],
            "allowed_steps": referral["allowed_steps"]}


def _step(row: dict) -> dict:
    return Step().dump({**row, "on": row["on_date"]})


def history(db: Database, raw_actor: dict, case_id: str) -> dict:
    """The case's steps in the order recorded, the request's receipt first."""
    actor = load_actor(raw_actor)
    with db.unit_of_work() as uow:
        row = _visible(uow, actor, case_id)
        steps = store.steps_of_case(uow, row["id"])
        store.audit(uow, actor, "read_history", row["id"], la_code=row["la_code"])
    received = {"id": None, "seq": 0, "type": "request_received",
                "on": row["received_on"].isoformat(),
                "data": {"requested_by": row["requested_by"]},
                "status_after": lifecycle.REQUEST_RECEIVED, "recorded_by": row["created_by"],
                "recorded_role": None, "recorded_at": row["created_at"].isoformat()}
    return {"case_id": str(row["id"]), "reference": row["reference"],
            "steps": [received, *(_step(s) for s in steps)]}


# --- lists --------------------------------------------------------------------------------


def case_index(db: Database, raw_actor: dict, raw_filters: dict) -> list[dict]:
    """Ids, codes, states and receipt dates of every visible case matching the filters: no
    personal data, so not audited; what the gateway then shows is (get_referrals)."""
    actor = load_actor(raw_actor)
    try:
        filters = ListFilters().load(raw_filters or {})
    except ValidationError as exc:
        raise validation_problem(exc.messages) from None
    with db.read() as conn:
        rows = store.index(conn, actor, filters)
    return [{"id": str(r["id"]), "reference": r["reference"], "status": r["status"],
             "la_code": r["la_code"], "school_urn": r["school_urn"],
             "received_on": r["received_on"].isoformat()} for r in rows]


def list_cases(db: Database, raw_actor: dict, raw_filters: dict, sort: str,
               after: list | None, limit: int, today: date) -> dict:
    """One page of the visible cases matching the filters, sorted and paged in SQL from the
    case list's read model (next key date per case). Each case shown is audited."""
    actor = load_actor(raw_actor)
    try:
        filters = ListFilters().load(raw_filters or {})
    except ValidationError as exc:
        raise validation_problem(exc.messages) from None
    if sort not in store.SORT_KEYS:
        raise validation_problem({"sort": [f"must be one of {', '.join(store.SORT_KEYS)}"]})
    limit = max(1, min(int(limit), MAX_PAGE))
    if after is not None and not store.valid_key(after, sort):
        raise Problem(422, "Validation failed", "cursor: not a cursor this API gave out",
                      [{"field": "cursor", "message": "not a cursor this API gave out"}])
    with db.unit_of_work() as uow:
        rows, count = store.page_cases(uow, actor, filters, sort, after, limit, today)
        shown = rows[:limit]
        store.audit_many(uow, actor, "list", shown)
    items = details(shown)
    for item, row in zip(items, shown, strict=True):
        item["next_deadline"] = next_deadline(row, today)
    return {"items": items, "count": count,
            "next_key": store.sort_key(shown[-1], sort) if len(rows) > limit else None}


def next_deadline(row: dict, today: date) -> dict | None:
    """The case's next key date, from the read model."""
    if row.get("next_due_on") is None:
        return None
    overdue = row["next_due_on"] < today
    # its status as of today, as the deadlines service states it (EFFECTIVE_STATUS there):
    # an open milestone past its date is breached whether or not the sweep has run yet
    status = "breached" if overdue else (
        "exception" if row["next_status"] == "exception" else "pending")
    return {"milestone": row["next_milestone"], "due_on": row["next_due_on"].isoformat(),
            "status": status, "overdue": overdue}


def caseload(db: Database, raw_actor: dict, today: date) -> list[dict]:
    """Open and overdue cases per caseworker of the actor's LA (LA staff only)."""
    actor = load_actor(raw_actor)
    if actor["role"] not in LA_ROLES:
        raise Problem(403, "Forbidden", "Only LA staff see their LA's caseload.")
    with db.read() as conn:
        return store.caseload(conn, actor["la_code"], today)


def assign_case(db: Database, raw_actor: dict, case_id: str, caseworker: str | None,
                today: date) -> dict:
    """Assign the case to a caseworker of its LA (None: unassign). The gateway checked the
    caseworker in the region's directory; here it becomes a step of the case and is audited.
    Not a lifecycle step: no state changes and no event travels."""
    actor = load_actor(raw_actor)
    with db.unit_of_work() as uow:
        row = _visible(uow, actor, case_id, for_update=True)  # others' cases: 404
        if actor["role"] not in LA_ROLES:
            raise Problem(403, "Forbidden", "Only LA staff assign cases.")
        if row["assigned_to"] == caseworker:
            return detail(row)
        updated = store.assign(uow, row["id"], caseworker)
        store.insert_step(uow, step_id=uuid.uuid4(), case_id=row["id"], step_type=ASSIGNMENT_STEP,
                          on=today, data={"caseworker": caseworker,
                                                 "previous": row["assigned_to"]},
                          actor=actor, status_after=row["status"], event_id=None,
                          idempotency_key=None)
        store.audit(uow, actor, "assign", row["id"],
                    {"from": row["assigned_to"], "to": caseworker}, row["la_code"])
    log.info("case assigned", extra={"case_id": row["id"], "reference": row["reference"]})
    return detail(updated)


def get_referrals(db: Database, raw_actor: dict, case_ids: list[str],
                  action: str = "list") -> list[dict]:
    """The visible cases among `case_ids`, in that order; each one shown is audited."""
    actor = load_actor(raw_actor)
    ids = [c for c in dict.fromkeys(case_ids or []) if is_uuid(c)][:MAX_PAGE]
    if not ids:
        return []
    with db.unit_of_work() as uow:
        rows = {str(r["id"]): r for r in store.get_cases(uow, actor, ids)}
        shown = [rows[c] for c in ids if c in rows]
        store.audit_many(uow, actor, action, shown)
    return details(shown)


# --- managers -----------------------------------------------------------------------------


def audit_trail(db: Database, raw_actor: dict, case_id: str, limit: int = 100,
                before: int | None = None) -> dict:
    """Who read or changed the case, newest first. LA managers only; listing it is
    itself audited."""
    actor = load_actor(raw_actor)
    limit = max(1, min(int(limit), MAX_PAGE))
    with db.unit_of_work() as uow:
        row = _visible(uow, actor, case_id)
        if actor["role"] != "la_manager":
            raise Problem(403, "Forbidden", "Only LA managers may read the audit trail.")
        store.audit(uow, actor, "read_audit", row["id"], la_code=row["la_code"])
        entries = store.audit_trail(uow, row["id"], limit, before)
    items = AuditEntry(many=True).dump(entries)
    return {"case_id": str(row["id"]), "reference": row["reference"], "entries": items,
            "next_before": items[-1]["id"] if len(items) == limit else None}


# --- events from the deadlines service ----------------------------------------------------


def on_deadlines_scheduled(uow: UnitOfWork, events: list[dict]) -> None:
    """The deadlines service took each event's `as_of_event` (and the events it `covers`)
    into account for its case: a batch of deadline.scheduled in three statements."""
    rows = []
    for event in events:
        p = event["payload"]
        nxt = next_open_milestone(p["milestones"])
        schedule = json.dumps(p["milestones"], default=json_value)
        for event_id in (*p["covers"], p["as_of_event"]):  # each leaves the pending list
            rows.append((str(p["case_id"]), str(event_id),
                         effective_due(nxt) if nxt else None, nxt and nxt["milestone"],
                         nxt and nxt["status"], event["occurred_at"], schedule))
    store.apply_deadlines_scheduled(uow, rows)


# --- SEN2 ---------------------------------------------------------------------------------


def record_sen2(db: Database, raw_actor: dict, case_id: str, body: object) -> dict:
    """Replace the SEN2 details of a case (its LA's staff). Audited with the names of the
    fields set, never their values."""
    actor = load_actor(raw_actor)
    try:
        data = Sen2Details().load(body if isinstance(body, dict) else {})
    except ValidationError as exc:
        raise validation_problem(exc.messages) from None
    with db.unit_of_work() as uow:
        row = _visible(uow, actor, case_id, for_update=True)
        if actor["role"] not in LA_ROLES:
            raise Problem(403, "Forbidden", "Only the LA's staff record SEN2 details.")
        store.upsert_sen2(uow, row["id"], data, actor["sub"])
        store.audit(uow, actor, "record_sen2", row["id"],
                    {"fields": sorted(k for k, v in data.items() if v is not None)},
                    la_code=row["la_code"])
    return {"case_id": str(row["id"]), "reference": row["reference"],
            "sen2": Sen2Details().dump(data)}


def sen2_return(db: Database, raw_actor: dict, la_code: str, year: int,
                now: datetime) -> dict:
    """The LA's SEN2 return for collection `year`: the XML, the business-rule errors (each
    naming a case reference) and the return's counts. LA managers of that LA only; every
    case in it is audited. The XML holds personal data: never log it."""
    actor = load_actor(raw_actor)
    if actor["role"] != "la_manager" or actor.get("la_code") != la_code:
        raise Problem(403, "Forbidden", "Only the LA's managers produce its SEN2 return.")
    period = (date(year - 1, 1, 1), date(year, 1, 1))
    ref_date = sen2.reference_date(year)
    with db.unit_of_work() as uow:
        rows = store.sen2_cases(uow, actor, la_code)
        steps = store.steps_of_cases(uow, [r["id"] for r in rows])
        chosen = [r for r in rows if sen2.in_return(r, steps.get(r["id"], []), period,
                                                     ref_date)]
        people = [sen2.build_person(r, steps.get(r["id"], []), r["sen2"], period, ref_date)
                  for r in chosen]
        store.audit_many(uow, actor, "sen2_export", chosen)
    xml = sen2.to_xml(la_code, year, people, now)
    return {"la_code": la_code, "year": year, "reference_date": ref_date.isoformat(),
            "period": {"from": period[0].isoformat(), "to": (period[1] - timedelta(days=1))
                       .isoformat()},
            "xml": xml.decode("utf-8"), "errors": [e for p in people for e in p.errors],
            "counts": sen2.counts(people)}


# --- import of an LA's caseload (ehcp import) ---------------------------------------------


class ImportRefused(Exception):
    """The file has line errors: nothing was written. `errors` names every one."""

    def __init__(self, errors: list[importing.LineError]):
        super().__init__(f"{len(errors)} line errors")
        self.errors = errors


def import_caseload(db: Database, raw_actor: dict, la_code: str,
                    caseload: importing.Caseload) -> dict:
    """Write a checked caseload (importing.check_caseload) in one transaction, set-wise:
    cases, steps and audit rows by COPY, with one case.imported per case through the
    outbox (its request and steps, with the ids the API's referral.received and
    case.step_recorded would have had), so the deadlines service computes them as for cases
    recorded one by one. A case_ref the LA already has is a line error (a re-import never
    duplicates); with any line error nothing is written and ImportRefused lists them all."""
    actor = load_actor(raw_actor)
    if actor["role"] not in LA_ROLES or actor.get("la_code") != la_code:
        raise Problem(403, "Forbidden", "Only the LA's own staff import its caseload.")
    errors = list(caseload.errors)
    with db.unit_of_work() as uow:
        existing = store.existing_case_refs(uow, la_code, [c.case_ref for c in caseload.cases])
        errors += [importing.LineError(c.line, "case_ref", f"already imported as "
                                       f"{existing[c.case_ref]}")
                   for c in caseload.cases if c.case_ref in existing]
        if errors:
            raise ImportRefused(sorted(errors, key=lambda e: e.line))
        # References in order of receipt within each year, from the LA's own sequences.
        ordered = sorted(caseload.cases, key=lambda c: (c.request["received_on"], c.line))
        by_year: dict[int, list[importing.ImportedCase]] = {}
        for case in ordered:
            by_year.setdefault(case.request["received_on"].year, []).append(case)
        references: dict[str, str] = {}
        for year, cases_of_year in by_year.items():
            numbers = store.reference_numbers(uow, la_code, year, len(cases_of_year))
            for case, number in zip(cases_of_year, numbers, strict=True):
                references[case.case_ref] = lifecycle.case_reference(la_code, year, number)
        case_rows, step_rows, audit_rows, events = [], [], [], []
        source = actor.get("source")
        for case in ordered:
            case_id, reference = uuid.uuid4(), references[case.case_ref]
            request = case.request
            steps = [(uuid.uuid4(), step) for step in case.steps]
            imported = new_event("case.imported", {
                "case_id": case_id, "reference": reference, "school_urn": case.state.school_urn,
                "received_on": request["received_on"], "requested_by": request["requested_by"],
                "received_at": None,
                "steps": [{"step_id": step_id, "step_type": step.type, "on": step.on,
                           "data": {k: step.data[k] for k in EVENT_DATA_KEYS if k in step.data}}
                          for step_id, step in steps],
            }, la_code=la_code)
            events.append(imported)
            audit_rows.append((case_id, actor["sub"], actor["role"], "create", Jsonb(
                {"reference": reference, "imported": True}), source, la_code))
            for seq, (step_id, step) in enumerate(steps, start=1):
                step_rows.append((step_id, case_id, seq, step.type, step.on,
                                  Jsonb(step.data), actor["sub"], actor["role"],
                                  step.status_after, imported["id"]))
                audit_rows.append((case_id, actor["sub"], actor["role"], "step", Jsonb(
                    {"type": step.type, "on": step.on.isoformat(), "seq": seq}), source,
                    la_code))
            case_rows.append(store.case_row(
                case_id=case_id, reference=reference, la_code=la_code, request=request,
                state=case.state, created_by=actor["sub"], event_id=imported["id"],
                la_case_ref=case.case_ref))
        store.copy_rows(uow, "cases", store.IMPORTED_CASE_COLUMNS, case_rows)
        store.copy_rows(uow, "case_steps", store.IMPORTED_STEP_COLUMNS, step_rows)
        store.copy_rows(uow, "audit_log", store.AUDIT_COLUMNS, audit_rows)
        uow.emit_many(events)
    store.analyze_imported(db)
    log.info("caseload imported", extra={"la_code": la_code, "cases": len(case_rows),
                                         "steps": len(step_rows)})
    return {"cases": len(case_rows), "steps": len(step_rows), "events": len(events),
            "references": references}
