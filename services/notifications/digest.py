"""Daily digest and calendar feed: both read the service's own copy of the milestones.

The digest runs once per recipient and local day (Europe/London by default): a row in
digest_runs claims the day, in the same transaction as the queued email, so restarts
and two instances never send a second digest; no email when there is nothing to say.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from psycopg.types.json import Jsonb

from services.notifications import calendar_feed, render, routing, store
from services.notifications.config import NotifyConfig
from services.notifications.directory import routing_entry
from services.notifications.inbox import case_link
from services.notifications.metrics import DIGEST_RUNS
from shared.db import Database

log = logging.getLogger(__name__)

DUE_SOON_WORKING_DAYS = 10
FEED_PAST_DAYS = 30  # overdue items stay in the calendar feed this long


@lru_cache(maxsize=32)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def add_working_days(day: date, n: int) -> date:
    while n > 0:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in _bank_holidays(day.year):
            n -= 1
    return day


def local_now(clock: datetime, cfg: NotifyConfig) -> datetime:
    return clock.astimezone(ZoneInfo(cfg.digest_tz))


def scope(recipient: dict) -> tuple[str, str | None]:
    """(la_code, school_urn or None): a school's staff see their school, LA staff the LA."""
    if recipient["kind"] == "school" or (recipient["kind"] == "user" and recipient["school_urn"]):
        return recipient["la_code"], recipient["school_urn"]
    return recipient["la_code"], None


def digest_items(milestones: list[dict], recipient: dict, on: date,
                 public_url: str) -> list[dict]:
    """The alerts a recipient's digest lists: due within 10 working days, overdue, met
    since yesterday; each passed through routing so mutes and audiences apply."""
    until = add_working_days(on, DUE_SOON_WORKING_DAYS)
    entry = routing_entry(recipient)
    items = []
    for m in milestones:
        if m["status"] in ("met", "late"):
            kind = "met" if m["met_on"] and m["met_on"] >= on - timedelta(days=1) else None
        elif m["status"] == "breached" or m["due_on"] < on:
            kind = "breached"
        elif m["due_on"] <= until:
            kind = "due" if m["due_on"] == on else "approaching"
        else:
            kind = None
        if kind is None:
            continue
        alert = {"reference": m["reference"], "case_id": m["case_id"],
                 "milestone": m["milestone"], "kind": kind, "due_on": m["due_on"],
                 "link": case_link(public_url, m["case_id"]), "la_code": m["la_code"],
                 "school_urn": m["school_urn"]}
        if (entry["id"], "digest") in routing.route(alert, [entry]):
            items.append(alert)
    return items


def run_digests(db: Database, cfg: NotifyConfig, clock: datetime, public_url: str) -> int:
    """Queue today's digests that are due and not yet decided; returns how many decided."""
    local = local_now(clock, cfg)
    if local.time() < cfg.digest_at:
        return 0
    on = local.date()
    with db.read() as conn:
        candidates = store.digest_candidates(conn, on)
    decided = 0
    for recipient in candidates:
        with db.unit_of_work() as uow:
            if not store.claim_digest(uow.conn, recipient["id"], on):
                continue  # another instance decided it
            la_code, urn = scope(recipient)
            milestones = store.milestones_in_scope(uow.conn, la_code, urn, on - timedelta(days=1))
            items = digest_items(milestones, recipient, on, public_url)
            rendered = render.digest(items, on)
            if rendered is None:
                outcome = "empty"
            elif not recipient["emails"]:
                outcome = "no_email"
            else:
                store.insert_delivery(uow.conn, {
                    "id": uuid.uuid4(), "recipient_id": recipient["id"], "channel": "email",
                    "case_id": None, "milestone": "digest", "kind": "digest", "due_on": on,
                    "content": Jsonb({"subject": rendered.subject, "text": rendered.text,
                                      "html": rendered.html}),
                    "event_occurred_at": datetime.now(UTC), "source_event_id": None})
                outcome = "queued"
            store.finish_digest(uow.conn, recipient["id"], on, outcome, len(items))
        DIGEST_RUNS.labels(outcome).inc()
        decided += 1
    if decided:
        log.info("digests decided", extra={"count": decided})
    return decided


def feed(conn, recipient: dict, today: date, public_url: str, clock: datetime) -> bytes:
    """The recipient's calendar: open milestones from 30 days ago onwards."""
    la_code, urn = scope(recipient)
    rows = store.milestones_in_scope(conn, la_code, urn, today)
    deadlines = [{"reference": m["reference"], "case_id": m["case_id"],
                  "milestone": m["milestone"], "due_on": m["due_on"],
                  "link": case_link(public_url, m["case_id"])}
                 for m in rows if m["status"] in ("pending", "breached")
                 and m["due_on"] >= today - timedelta(days=FEED_PAST_DAYS)]
    return calendar_feed.build_ics(deadlines, f"EHC deadlines: {recipient['name']}", now=clock)
