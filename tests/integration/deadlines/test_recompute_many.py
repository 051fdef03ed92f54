"""recompute_many (issue 10) against real PostgreSQL: same milestones as the per-case path,
only changed rows written, no duplicate met alerts; and `ehcp recompute` on a small set."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.deadlines import schedule
from shared.db import Database, make_pool

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("bench_recompute", ROOT / "bench" / "recompute.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

SNAPSHOT = ("SELECT case_id, milestone, rule, due_on, occurrence, regulation, adjusted_due_on, "
            "status, met_on, exception_days, known_since, next_alert_on FROM milestones "
            "ORDER BY 1, 2, 3, 4, 5")


@pytest.fixture()
def plans(monkeypatch):
    monkeypatch.setattr(bench, "SAMPLE", 0)
    url = bench.fresh_database(40)
    db = Database(make_pool(url, "deadlines", max_size=2))
    yield url, db
    db.pool.close()
    bench.drop_database(url)


def _count(db: Database, sql: str) -> int:
    with db.read() as conn:
        return conn.execute(sql).fetchone()["n"]


def test_recompute_many_matches_per_case_and_writes_only_changes(plans):
    _, db = plans
    with db.read() as conn:
        cases = conn.execute("SELECT * FROM cases ORDER BY case_id").fetchall()
    for case in cases:  # the per-case path, one transaction per case
        with db.unit_of_work() as uow:
            schedule.recompute(uow, case, bench.TODAY)
    with db.read() as conn:
        per_case = conn.execute(SNAPSHOT).fetchall()
        met = _count(db, "SELECT count(*) AS n FROM alerts_emitted WHERE kind = 'met'")
        conn.execute("DELETE FROM milestones")
        conn.execute("DELETE FROM alerts_emitted")
    assert per_case and met > 0

    with db.unit_of_work() as uow:
        first = schedule.recompute_many(uow, cases, bench.TODAY)
    with db.read() as conn:
        assert conn.execute(SNAPSHOT).fetchall() == per_case
        xmins = conn.execute("SELECT ctid::text, xmin::text FROM milestones ORDER BY 1").fetchall()
    assert first.rows_written == len(per_case)
    assert _count(db, "SELECT count(*) AS n FROM alerts_emitted WHERE kind = 'met'") == met
    outbox_met = "SELECT count(*) AS n FROM outbox WHERE event_type = 'deadline.met'"
    met_events = _count(db, outbox_met)

    with db.unit_of_work() as uow:  # nothing changed: nothing written, nothing announced
        again = schedule.recompute_many(uow, cases, bench.TODAY)
    assert again.rows_written == 0 and again.cases_changed == 0
    with db.read() as conn:
        assert conn.execute(
            "SELECT ctid::text, xmin::text FROM milestones ORDER BY 1").fetchall() == xmins
    assert _count(db, outbox_met) == met_events
    assert _count(db, "SELECT count(*) AS n FROM alerts_emitted WHERE kind = 'met'") == met


def test_ehcp_recompute_command(plans):
    url, db = plans
    env = {**os.environ, "DATABASE_URL": url, "NOW": f"{bench.TODAY}T09:00:00+00:00"}
    cmd = [sys.executable, "-m", "services.gateway.cli", "recompute", "--batch", "7"]
    # first build: cases flagged by the loader have no milestone yet
    schedule.recompute_stale(db, bench.TODAY)
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "recomputed 40 cases" in out.stdout and " 0 milestone rows written" in out.stdout
    assert _count(db, "SELECT count(*) AS n FROM cases WHERE needs_recompute") == 0
