"""Pure deadline engine (minimal first version)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

CASE_EVENT_TYPES: tuple[str, ...] = ("request_received", "decision_to_assess", "final_plan_issued")


@dataclass(frozen=True)
class CaseEvent:
    id: str
    type: str
    on: date
    data: Mapping[str, Any] = field(default_factory=dict)
    received_at: datetime | None = None
    corrects: str | None = None


@dataclass(frozen=True)
class Closure:
    school_urn: str | None
    starts_on: date
    ends_on: date


@dataclass(frozen=True)
class LaSettings:
    next_working_day_receipt: bool = False


@dataclass(frozen=True)
class Milestone:
    milestone: str
    rule: str
    regulation: str
    due_on: date
    adjusted_due_on: date | None
    status: str
    met_on: date | None
    exception_days: int


def compute_milestones(
    events: Iterable[CaseEvent],
    today: date,
    settings: LaSettings = LaSettings(),
    closures: Sequence[Closure] = (),
) -> list[Milestone]:
    evs = sorted({e.id: e for e in events}.values(), key=lambda e: (e.on, e.id))
    out: list[Milestone] = []
    received = next((e.on for e in evs if e.type == "request_received"), None)
    if received is None:
        return out
    for name, rule, reg, weeks, met_type in (
        ("decision_to_assess", "A1", "Reg 5(1)", 6, "decision_to_assess"),
        ("final_plan", "A6", "Reg 13(2)", 20, "final_plan_issued"),
    ):
        due = received + timedelta(weeks=weeks)
        met = next((e.on for e in evs if e.type == met_type), None)
        if met is not None:
            status = "met" if met <= due else "late"
        else:
            status = "breached" if today > due else "pending"
        out.append(Milestone(name, rule, reg, due, None, status, met, 0))
    return sorted(out, key=lambda m: (m.due_on, m.milestone))


def alert_schedule(m: Milestone, settings: LaSettings) -> list[tuple[str, date]]:
    if m.status in ("met", "late", "not_applicable"):
        return []
    return [("due", m.due_on), ("breached", m.due_on + timedelta(days=1))]
