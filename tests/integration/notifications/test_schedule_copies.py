"""The notifications service's copy of each case's milestones, replaced set-wise from a run
of deadline.scheduled (store.replace_schedules): per case the newest schedule wins, an
older one changes nothing, milestones dropped from a schedule leave the copy."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

import services.notifications
from services.notifications import inbox, store
from shared.db import migrate

pytestmark = pytest.mark.integration

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
MIGRATIONS = Path(services.notifications.__file__).parent / "migrations"


@pytest.fixture
def db(infra):
    schema = f"copies_{uuid.uuid4().hex[:8]}"
    migrate(infra.database_url, schema, MIGRATIONS)
    with infra.connect(schema) as conn:
        yield conn
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def case() -> dict:
    return {"case_id": str(uuid.uuid4()), "reference": "EHC-881-2026-00001", "la_code": "881",
            "school_urn": "881001"}


def ms(*names_and_days: tuple[str, int], status: str = "pending") -> list[dict]:
    return [{"milestone": n, "due_on": date(2026, 6, 1) + timedelta(days=d), "status": status,
             "met_on": None} for n, d in names_and_days]


def copy_of(db, c: dict) -> dict[str, tuple]:
    return {r["milestone"]: (r["due_on"], r["status"], r["as_of"]) for r in db.execute(
        "SELECT * FROM milestones WHERE case_id = %s", (c["case_id"],))}


def test_newest_schedule_per_case_wins_and_dropped_milestones_leave(db):
    a, b = case(), case()
    assert store.replace_schedules(db, [(a, ms(("x", 0), ("y", 5)), T0),
                                        (b, ms(("x", 1)), T0)]) == 2
    assert copy_of(db, a) == {"x": (date(2026, 6, 1), "pending", T0),
                              "y": (date(2026, 6, 6), "pending", T0)}
    later = T0 + timedelta(hours=1)
    # a: x dropped, y moved, z new; b: left alone (not in this run)
    assert store.replace_schedules(db, [(a, ms(("y", 9), ("z", 2)), later)]) == 1
    assert copy_of(db, a) == {"y": (date(2026, 6, 10), "pending", later),
                              "z": (date(2026, 6, 3), "pending", later)}
    assert set(copy_of(db, b)) == {"x"}
    # an older schedule arriving late changes nothing
    assert store.replace_schedules(db, [(a, ms(("old", 0)), T0)]) == 0
    assert set(copy_of(db, a)) == {"y", "z"}
    # a newer empty schedule empties the copy; a repeated name keeps its last occurrence
    assert store.replace_schedules(db, [(a, [], later + timedelta(hours=1)),
                                        (b, ms(("x", 3), ("x", 4)), later)]) == 2
    assert copy_of(db, a) == {}
    assert copy_of(db, b) == {"x": (date(2026, 6, 5), "pending", later)}


class Uow:
    def __init__(self, conn):
        self.conn = conn


def scheduled(c: dict, at: datetime, milestones: list[dict]) -> dict:
    return {"type": "deadline.scheduled", "occurred_at": at, "la_code": c["la_code"],
            "payload": {"case_id": c["case_id"], "reference": c["reference"],
                        "school_urn": c["school_urn"], "milestones": milestones}}


def test_a_run_of_events_applies_each_cases_newest(db):
    a = case()
    events = [scheduled(a, T0 + timedelta(minutes=2), ms(("new", 0))),
              scheduled(a, T0, ms(("older", 0))),  # out of order within the run
              scheduled(a, T0 + timedelta(minutes=1), ms(("middle", 0)))]
    inbox.replace_schedules(Uow(db), events)
    assert set(copy_of(db, a)) == {"new"}
