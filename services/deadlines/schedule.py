"""Use cases of the deadlines service: take a case event, recompute, announce."""

from __future__ import annotations

import logging
from datetime import date

from services.deadlines import store
from services.deadlines.domain import CaseEvent, compute_milestones
from shared.db import UnitOfWork
from shared.events import new_event

log = logging.getLogger(__name__)


def as_case_event(event: dict) -> CaseEvent:
    """Translate a message into the pure engine's CaseEvent."""
    p = event["payload"]
    if event["type"] == "referral.received":
        return CaseEvent(id=event["id"], type="request_received", on=p["received_on"],
                         received_at=p.get("received_at"))
    return CaseEvent(id=str(p["step_id"]), type=p["step_type"], on=p["on"], data=p["data"],
                     corrects=str(p["corrects"]) if p.get("corrects") else None)


def on_case_event(uow: UnitOfWork, event: dict, today: date) -> None:
    """Record the event in the case's history, recompute every milestone, announce them."""
    p = event["payload"]
    case_id = p["case_id"]
    store.upsert_case(uow, case_id, p["reference"], event["la_code"], p["school_urn"],
                      event["id"])
    store.record_event(uow, case_id, as_case_event(event))
    milestones = compute_milestones(store.case_history(uow, case_id), today)
    store.replace_milestones(uow, case_id, event["la_code"], p["school_urn"], milestones)
    uow.emit(new_event("deadline.scheduled", {
        "case_id": case_id, "reference": p["reference"], "school_urn": p["school_urn"],
        "as_of_event": event["id"],
        "milestones": [{
            "milestone": m.milestone, "rule": m.rule, "regulation": m.regulation,
            "due_on": m.due_on, "adjusted_due_on": m.adjusted_due_on, "status": m.status,
            "met_on": m.met_on} for m in milestones],
    }, la_code=event["la_code"], correlation_id=event["correlation_id"]))
    log.info("deadlines computed", extra={"case_id": case_id, "event_id": event["id"],
                                          "count": len(milestones)})


def deadlines_of_cases(conn, case_ids: list[str]) -> dict[str, list[dict]]:
    by_case: dict[str, list[dict]] = {c: [] for c in case_ids}
    for row in store.milestones_of_cases(conn, case_ids):
        by_case[str(row["case_id"])].append({
            "milestone": row["milestone"], "rule": row["rule"], "regulation": row["regulation"],
            "due_on": row["due_on"].isoformat(),
            "adjusted_due_on": row["adjusted_due_on"].isoformat() if row["adjusted_due_on"]
            else None,
            "status": row["status"],
            "met_on": row["met_on"].isoformat() if row["met_on"] else None,
        })
    return by_case
