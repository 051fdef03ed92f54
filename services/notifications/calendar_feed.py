"""RFC 5545 calendar feed of a recipient's upcoming deadlines (all-day events).

Each event carries the case reference, the milestone label, the due date and the link:
no personal data (fields are read through render.alert_fields, a whitelist).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Calendar, Event

from services.notifications.render import alert_fields

PRODID = "-//EHCP Tracker//Deadlines feed//EN"
UID_DOMAIN = "ehcp-tracker"
# Fixed namespace so a UID depends only on case and milestone: a moved due date updates
# the event in Outlook or Google Calendar instead of adding a duplicate.
_UID_NAMESPACE = uuid.UUID("5b0f3c1e-6a57-4d4b-9b1a-2f7f0e8c4d21")


def event_uid(case_id: str, milestone: str) -> str:
    return f"{uuid.uuid5(_UID_NAMESPACE, f'{uuid.UUID(str(case_id))}/{milestone}')}@{UID_DOMAIN}"


def new_feed_secret() -> str:
    """Unguessable per-user token for ``/v1/calendar/{secret}.ics`` (revocable by replacing)."""
    return secrets.token_urlsafe(32)


def build_ics(deadlines: Iterable[Mapping[str, Any]], calendar_name: str, *,
              now: datetime | None = None) -> bytes:
    """The feed as bytes. Each deadline needs reference, case_id, milestone, due_on, link."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", calendar_name)  # RFC 7986
    cal.add("x-wr-calname", calendar_name)  # what Outlook and Google read
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")

    events: dict[str, Event] = {}
    for deadline in deadlines:
        f = alert_fields(deadline, require_kind=False)
        uid = event_uid(f.case_id, f.milestone)
        event = Event()
        event.add("uid", uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", f.due_on)  # a date value makes an all-day event
        event.add("dtend", f.due_on + timedelta(days=1))  # DTEND is exclusive
        event.add("summary", f"{f.reference}: {f.label}")
        event.add("description", f"EHC deadline for case {f.reference}: {f.label}.\n"
                                 f"Open the case: {f.link}")
        event.add("url", f.link)
        event.add("transp", "TRANSPARENT")  # a deadline does not block the diary
        events[uid] = event  # one event per UID even if the input repeats a milestone
    for uid in sorted(events, key=lambda u: (events[u].decoded("dtstart"), u)):
        cal.add_component(events[uid])
    return cal.to_ical()
