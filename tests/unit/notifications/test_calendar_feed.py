import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from icalendar import Calendar

from services.notifications.calendar_feed import build_ics, event_uid, new_feed_secret

CASE_A = "3f2b8c1e-5d7a-4c11-9e0f-000000000042"
CASE_B = "7d1e2c3b-0a4f-4b5c-8d6e-000000000007"
NOW = datetime(2026, 5, 19, 6, 0, tzinfo=UTC)


def deadline(case_id: str, milestone: str, due_on: date, ref: str) -> dict[str, Any]:
    return {"reference": ref, "case_id": case_id, "milestone": milestone, "due_on": due_on,
            "link": f"https://gateway.example/cases/{case_id}"}


DEADLINES = [
    deadline(CASE_A, "final_plan", date(2026, 5, 25), "881-2026-00042"),
    deadline(CASE_B, "decision_to_assess", date(2026, 5, 20), "881-2026-00007"),
    deadline(CASE_A, "advice:health", date(2026, 4, 1), "881-2026-00042"),
]


def parse(ics: bytes) -> Calendar:
    return Calendar.from_ical(ics)


def test_round_trip_all_day_events() -> None:
    cal = parse(build_ics(DEADLINES, "Synthetic Primary School", now=NOW))
    assert str(cal["x-wr-calname"]) == "Synthetic Primary School"
    assert str(cal["version"]) == "2.0" and "prodid" in cal
    events = cal.walk("VEVENT")
    assert len(events) == 3
    # Sorted by date so a diff of two feeds is readable.
    starts = [e.decoded("dtstart") for e in events]
    assert starts == [date(2026, 4, 1), date(2026, 5, 20), date(2026, 5, 25)]
    final = events[2]
    # A date (not a datetime) is what makes an all-day event; DTEND is the next day.
    assert type(final.decoded("dtstart")) is date
    assert final.decoded("dtend") == date(2026, 5, 26)
    assert str(final["summary"]) == "881-2026-00042: Final EHC plan (20 weeks)"
    assert f"https://gateway.example/cases/{CASE_A}" in str(final["description"])
    assert str(final["url"]) == f"https://gateway.example/cases/{CASE_A}"
    assert final.decoded("dtstamp") == NOW
    assert str(final["transp"]) == "TRANSPARENT"
    assert str(events[0]["summary"]) == "881-2026-00042: Advice from health (6 weeks)"


def test_uid_is_stable_per_case_and_milestone() -> None:
    first = parse(build_ics(DEADLINES[:1], "S", now=NOW)).walk("VEVENT")[0]
    moved = dict(DEADLINES[0], due_on=date(2026, 6, 8))  # e.g. an adjusted target
    later = parse(build_ics([moved], "S", now=NOW + timedelta(days=1))).walk("VEVENT")[0]
    # Same UID, new date: the calendar client updates the event instead of duplicating it.
    assert str(first["uid"]) == str(later["uid"]) == event_uid(CASE_A, "final_plan")
    assert later.decoded("dtstart") == date(2026, 6, 8)
    uids = {event_uid(c, m) for c in (CASE_A, CASE_B) for m in ("final_plan", "advice:health")}
    assert len(uids) == 4
    assert event_uid(CASE_A.upper(), "final_plan") == event_uid(CASE_A, "final_plan")


def test_repeated_milestone_gives_one_event() -> None:
    cal = parse(build_ics([DEADLINES[0], DEADLINES[0]], "S", now=NOW))
    assert len(cal.walk("VEVENT")) == 1


def test_empty_feed_is_still_a_valid_calendar() -> None:
    cal = parse(build_ics([], "Nothing due", now=NOW))
    assert cal.walk("VEVENT") == []
    assert str(cal["x-wr-calname"]) == "Nothing due"


def test_output_is_deterministic_for_a_fixed_clock() -> None:
    assert build_ics(DEADLINES, "S", now=NOW) == build_ics(list(reversed(DEADLINES)), "S",
                                                          now=NOW)


def test_feed_secret_is_urlsafe_and_unguessable() -> None:
    secrets = {new_feed_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43,}", s) for s in secrets)
