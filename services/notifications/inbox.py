"""Use cases of the notifications service: turn deadline events into alerts."""

from __future__ import annotations

import logging
import uuid

from services.notifications import render, store
from shared.db import UnitOfWork

log = logging.getLogger(__name__)

# A new case's schedule is summarised by its headline milestone, the 20-week final plan.
HEADLINE = "final_plan"


def recipients_of(event: dict) -> list[str]:
    p = event["payload"]
    return [f"school:{p['school_urn']}", f"la:{event['la_code']}"]


def case_link(public_url: str, case_id) -> str:
    return f"{public_url.rstrip('/')}/cases/{case_id}"


def on_deadline_event(uow: UnitOfWork, event: dict, public_url: str) -> int:
    """Store the in-app alerts an event calls for; returns how many were new."""
    p = event["payload"]
    if event["type"] == "deadline.scheduled":
        headline = [m for m in p["milestones"] if m["milestone"] == HEADLINE]
        if not headline:
            return 0
        kind, milestone, due_on = "scheduled", HEADLINE, headline[0]["due_on"]
    else:
        kind, milestone, due_on = event["type"].split(".", 1)[1], p["milestone"], p["due_on"]
    alert = {"reference": p["reference"], "case_id": p["case_id"], "milestone": milestone,
             "kind": kind, "due_on": due_on, "link": case_link(public_url, p["case_id"])}
    title = render.subject(alert)
    created = 0
    for recipient in recipients_of(event):
        created += store.insert_alert(uow, {
            "id": uuid.uuid4(), "recipient": recipient, "case_id": p["case_id"],
            "reference": p["reference"], "la_code": event["la_code"],
            "school_urn": p["school_urn"], "milestone": milestone, "kind": kind,
            "due_on": due_on, "title": title, "link": alert["link"],
            "source_event_id": event["id"]})
    log.info("alerts stored", extra={"event_id": event["id"], "case_id": p["case_id"],
                                     "count": created})
    return created
