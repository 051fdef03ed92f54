"""Use cases of the notifications service: turn deadline events into alerts and deliveries.

Everything an event causes (the milestone copy, in-app alerts, queued email and webhook
deliveries) is written in the consumer's unit of work, with the inbox mark: either all of
it happens once, or none of it does and the redelivery does it.
"""

from __future__ import annotations

import logging

from services.notifications import directory, render, routing, store
from services.notifications.metrics import DELIVERIES_QUEUED
from shared.db import UnitOfWork
from shared.events import effective_due, json_values

log = logging.getLogger(__name__)

# A new case's schedule is summarised by its headline milestone, the 20-week final plan.
HEADLINE = "final_plan"


def default_inboxes(event: dict) -> list[dict]:
    """Organisation inboxes every alert can reach, directory entry or not: the school's
    ('school:<urn>') and the LA's ('la:<code>'), read by their staff's tokens."""
    p = event["payload"]
    return [{"id": f"school:{p['school_urn']}", "kind": "school",
             "school_urn": p["school_urn"], "channels": []},
            {"id": f"la:{event['la_code']}", "kind": "la_team", "la_code": event["la_code"],
             "channels": []}]



def case_link(public_url: str, case_id) -> str:
    return f"{public_url.rstrip('/')}/cases/{case_id}"



def replace_schedules(uow: UnitOfWork, events: list[dict]) -> None:
    """The milestone copies after a run of deadline.scheduled (each case's whole schedule
    replaced by its newest in the run), set-wise."""
    newest: dict[str, dict] = {}
    for event in events:
        cid = str(event["payload"]["case_id"])
        if cid not in newest or newest[cid]["occurred_at"] <= event["occurred_at"]:
            newest[cid] = event
    schedules = []
    for event in newest.values():
        p = event["payload"]
        case = {"case_id": p["case_id"], "reference": p["reference"],
                "la_code": event["la_code"], "school_urn": p["school_urn"]}
        schedules.append((case, [{"milestone": m["milestone"], "due_on": effective_due(m),
                                  "status": m["status"], "met_on": m.get("met_on")}
                                 for m in p["milestones"]], event["occurred_at"]))
    store.replace_schedules(uow.conn, schedules)


def alert_of(event: dict, public_url: str) -> dict | None:
    p = event["payload"]
    if event["type"] == "deadline.scheduled":
        headline = [m for m in p["milestones"] if m["milestone"] == HEADLINE]
        if not headline:
            return None
        kind, milestone, due_on = "scheduled", HEADLINE, effective_due(headline[0])
    else:
        kind, milestone, due_on = event["type"].split(".", 1)[1], p["milestone"], effective_due(p)
    return {"reference": p["reference"], "case_id": p["case_id"], "milestone": milestone,
            "kind": kind, "due_on": due_on, "link": case_link(public_url, p["case_id"]),
            "la_code": event["la_code"], "school_urn": p["school_urn"]}


def on_deadline_events(uow: UnitOfWork, events: list[dict], public_url: str) -> int:
    """A batch of deadline events, set-wise: the milestone copy (alerts in one statement
    per run between schedules), the in-app alerts of the whole batch in one insert, the
    directory read once, and the email/webhook deliveries in one insert. The unique keys
    are the tables' (recipient, case, milestone, kind, due; and per channel), so a
    redelivery adds nothing. Returns how many in-app
    alerts were new. Sending is left to the delivery workers (service.py timers)."""
    _update_copies(uow, events)
    alerts = [(e, a) for e in events if (a := alert_of(e, public_url)) is not None]
    rows = []
    for event, alert in alerts:
        p, title = event["payload"], render.subject(alert)
        rows.extend({
            "recipient": recipient, "case_id": p["case_id"],
            "reference": p["reference"], "la_code": event["la_code"],
            "school_urn": p["school_urn"], "milestone": alert["milestone"],
            "kind": alert["kind"], "due_on": alert["due_on"], "title": title,
            "link": alert["link"], "source_event_id": event["id"]}
            for recipient, _ in routing.route(alert, default_inboxes(event)))
    created = store.insert_alerts(uow, rows)
    queued = _queue_deliveries_of_batch(uow, alerts)
    for event, _ in alerts:
        log.info("alerts stored", extra={"event_id": event["id"],
                                         "case_id": event["payload"]["case_id"]})
    log.info("alert batch stored", extra={"count": created + queued})
    return created


def _copy_of_alert(event: dict) -> tuple:
    p = event["payload"]
    case = {"case_id": p["case_id"], "reference": p["reference"], "la_code": event["la_code"],
            "school_urn": p["school_urn"]}
    kind = event["type"].split(".", 1)[1]
    met_on = event["occurred_at"].date() if kind == "met" else None
    return (case, p["milestone"], effective_due(p), {"breached": "breached", "met": "met"}
            .get(kind), met_on, event["occurred_at"])


def _update_copies(uow: UnitOfWork, events: list[dict]) -> None:
    """The milestone copy, in event order: the schedules between two alerts together, the
    alerts between two schedules together, in rounds so each statement touches a
    milestone once."""
    run: list[dict] = []
    schedules: list[dict] = []

    def flush() -> None:
        rounds: list[dict] = []  # round k holds the k-th alert of each milestone
        for event in run:
            key = (str(event["payload"]["case_id"]), event["payload"]["milestone"])
            for r in rounds:
                if key not in r:
                    r[key] = event
                    break
            else:
                rounds.append({key: event})
        for r in rounds:
            store.apply_alerts(uow.conn, [_copy_of_alert(e) for e in r.values()])
        run.clear()

    def flush_schedules() -> None:
        replace_schedules(uow, schedules)
        schedules.clear()

    for event in events:
        if event["type"] == "deadline.scheduled":
            flush()
            schedules.append(event)
        else:
            flush_schedules()
            run.append(event)
    flush()
    flush_schedules()


def _queue_deliveries_of_batch(uow: UnitOfWork, alerts: list[tuple[dict, dict]]) -> int:
    if not alerts:
        return 0
    directory_rows = store.recipients_for_alerts(
        uow.conn, [e["la_code"] for e, _ in alerts],
        [e["payload"]["school_urn"] for e, _ in alerts])
    entries = [(r, directory.routing_entry(r)) for r in directory_rows]
    rows = []
    for event, alert in alerts:
        urn = event["payload"]["school_urn"]
        mine = [entry for r, entry in entries  # an alert reaches its LA's and its school's
                if r["la_code"] == event["la_code"] or r["school_urn"] == urn]
        # A delivery stores the alert itself; the sender renders it (delivery.content_for:
        # the same bytes at every retry), off the inbox's path.
        rows.extend({
            "recipient_id": recipient_id, "channel": channel,
            "case_id": alert["case_id"], "milestone": alert["milestone"], "kind": alert["kind"],
            "due_on": alert["due_on"], "content": {"alert": json_values(alert)},
            "event_occurred_at": event["occurred_at"], "source_event_id": event["id"]}
            for recipient_id, channel in routing.route(alert, mine)
            if channel in ("email", "webhook"))
    channels = store.insert_deliveries(uow.conn, rows)
    for channel in channels:
        DELIVERIES_QUEUED.labels(channel).inc()  # counted before commit: near enough
    return len(channels)
