"""Runs the hand-computed golden table (golden_cases.yaml) through the engine."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.deadlines.domain import (
    CaseEvent,
    Closure,
    LaSettings,
    Milestone,
    alert_schedule,
    compute_milestones,
)
from services.deadlines.rules import RULES_BY_ID

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).with_name("golden_cases.yaml")).read_text(encoding="utf-8")
)


def _date(v: Any) -> date | None:
    if v is None or isinstance(v, date):
        return v
    return date.fromisoformat(str(v))


def _event(d: dict[str, Any]) -> CaseEvent:
    on = d["on"] if "on" in d else d[True]  # YAML 1.1 reads the bare key `on` as True
    received_at = d.get("received_at")
    raw = d.get("data") or {}
    data = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in raw.items()}
    return CaseEvent(
        id=str(d["id"]),
        type=d["type"],
        on=_date(on),
        data=data,
        received_at=datetime.fromisoformat(received_at) if received_at else None,
        corrects=d.get("corrects"),
    )


def _run(case: dict[str, Any]) -> tuple[list[Milestone], LaSettings]:
    settings = LaSettings(**(case.get("settings") or {}))
    closures = [
        Closure(
            school_urn=None if c["school_urn"] is None else str(c["school_urn"]),
            starts_on=_date(c["starts_on"]),
            ends_on=_date(c["ends_on"]),
        )
        for c in case.get("closures") or []
    ]
    events = [_event(e) for e in case["events"]]
    return compute_milestones(events, _date(case["today"]), settings, closures), settings


def test_table_is_large_and_well_formed() -> None:
    assert len(CASES) >= 45
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))
    for c in CASES:
        assert c.get("why"), c["name"]
        assert c["rule"] in RULES_BY_ID or c["rule"] == "C", c["name"]
        assert c["expect"], c["name"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden(case: dict[str, Any]) -> None:
    got, settings = _run(case)
    for exp in case["expect"]:
        matches = [
            m
            for m in got
            if m.milestone == exp["milestone"]
            and m.rule == exp["rule"]
            and m.due_on == _date(exp["due_on"])
        ]
        assert len(matches) == 1, f"{exp} not found exactly once in {got}"
        m = matches[0]
        assert m.status == exp["status"], (exp, m)
        assert m.met_on == _date(exp.get("met_on")), (exp, m)
        assert m.adjusted_due_on == _date(exp.get("adjusted_due_on")), (exp, m)
        assert m.exception_days == exp.get("exception_days", 0), (exp, m)
        assert m.regulation == RULES_BY_ID[m.rule].regulation
    for name in case.get("absent", []):
        assert all(m.milestone != name for m in got), name
    if "count" in case:
        assert len(got) == case["count"], got
    for a in case.get("alerts", []):
        (m,) = [m for m in got if m.milestone == a["milestone"]]
        expected = [(k, _date(d)) for k, d in a["schedule"]]
        assert alert_schedule(m, settings) == expected
    keys = [(m.due_on, m.milestone) for m in got]
    assert keys == sorted(keys)


def test_every_recordable_step_is_known_to_the_engine() -> None:
    """A step type the engine does not know is dropped from the replay: every step of the
    event contract must be in the engine's vocabulary (it may still have no effect)."""
    from services.deadlines.domain import CASE_EVENT_TYPES
    from shared.events import CASE_STEP_TYPES

    assert set(CASE_STEP_TYPES) <= set(CASE_EVENT_TYPES)
