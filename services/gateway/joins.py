"""Joining cases (referrals service) with their deadlines (deadlines service) in the
gateway: pure functions over what the two services answered, so they are unit-tested
without either service."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from shared.events import OPEN_MILESTONE_STATUS, effective_due, next_open_milestone

OPEN_STATUSES = OPEN_MILESTONE_STATUS
FAR_FUTURE = "9999-12-31"  # sorts cases with nothing due after every dated one


def is_open(milestone: Mapping) -> bool:
    return milestone.get("status") in OPEN_STATUSES


def next_deadline(milestones: Iterable[Mapping], today: date) -> dict | None:
    """The earliest open milestone of a case, with whether it is overdue."""
    m = next_open_milestone(list(milestones))
    if m is None:
        return None
    due = effective_due(m)
    return {"milestone": m["milestone"], "due_on": due, "status": m["status"],
            "overdue": due < today.isoformat()}


def due_filter(nxt: dict | None, today: date, due_within: int | None,
               overdue: bool | None) -> bool:
    """Whether a case passes the `due_within` / `overdue` filters of the case list."""
    if due_within is not None:
        if nxt is None or nxt["due_on"] > (today + timedelta(days=due_within)).isoformat():
            return False
    if overdue is not None:
        if bool(nxt and nxt["overdue"]) != overdue:
            return False
    return True


def matches_status(milestone: Mapping, statuses: list[str]) -> bool:
    if not statuses:
        return True
    return milestone["status"] in statuses or ("open" in statuses and is_open(milestone))


def chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
