"""Benchmark: the alert sweep's due-query-and-claim with 10,000 and 1,000,000 open cases.

Creates a private database, applies the deadlines migrations, bulk-loads synthetic cases
with generate_series (two milestones each: one met, one open with its next alert in the
future), plus the same 500 milestones due today in both runs, and times
`store.claim_due` (SELECT ... ORDER BY next_alert_on LIMIT 500 FOR UPDATE SKIP LOCKED),
rolled back after each run. The cost should follow what is due, not what is stored.

    .venv/bin/python bench/sweep.py        # BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.deadlines import store  # noqa: E402
from shared.db import ensure_shared_tables, migrate  # noqa: E402

PG = os.environ.get("BENCH_PG_URL", os.environ.get("TEST_PG_URL",
                                                   "postgresql://postgres@127.0.0.1:5432"))
TODAY = date(2027, 3, 1)
DUE = 500  # milestones with an alert due today, the same in both runs
BATCH = 500  # the service's sweep batch
RUNS = 25

LOAD_CASES = """
INSERT INTO cases (case_id, reference, la_code, school_urn, first_seen_on)
SELECT md5(g::text)::uuid, 'BENCH-' || g, (800 + g %% 50)::text, (300000 + g %% 5000)::text,
       %(today)s::date - 30
FROM generate_series(%(lo)s::int, %(hi)s::int) g
"""
# Per case: the decision (met, no alert left) and the final plan (open). Its next alert is
# in the future, except for the first DUE cases, whose alert is due today.
LOAD_MILESTONES = """
INSERT INTO milestones (case_id, milestone, rule, regulation, due_on, status, met_on, la_code,
                        school_urn, known_since, next_alert_on)
SELECT md5(g::text)::uuid, m.milestone, m.rule, m.regulation,
       CASE WHEN m.rule = 'A1' THEN %(today)s::date - 10 ELSE %(today)s::date + 20 + g %% 120 END,
       CASE WHEN m.rule = 'A1' THEN 'met' ELSE 'pending' END,
       CASE WHEN m.rule = 'A1' THEN %(today)s::date - 12 END,
       (800 + g %% 50)::text, (300000 + g %% 5000)::text, %(today)s::date - 30,
       CASE WHEN m.rule = 'A1' THEN NULL
            WHEN g <= %(due)s::int THEN %(today)s::date - g %% 3
            ELSE %(today)s::date + 6 + g %% 120 END
FROM generate_series(%(lo)s::int, %(hi)s::int) g,
     (VALUES ('decision_to_assess', 'A1', 'Reg 5(1)'),
             ('final_plan', 'A6', 'Reg 13(2)')) AS m (milestone, rule, regulation)
"""


def load(url: str, lo: int, hi: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True, options="-c search_path=deadlines") as conn:
        params = {"lo": lo, "hi": hi, "today": TODAY, "due": DUE}
        conn.execute(LOAD_CASES, params)
        conn.execute(LOAD_MILESTONES, params)
        conn.execute("VACUUM ANALYZE cases")
        conn.execute("VACUUM ANALYZE milestones")
    return time.perf_counter() - started


def time_claim(url: str) -> tuple[float, float, int, str]:
    """Median and p90 seconds of the claim over RUNS runs (after 3 warm-ups); rows claimed."""
    samples, claimed = [], 0
    with psycopg.connect(url, options="-c search_path=deadlines", row_factory=dict_row) as conn:
        plan = "\n".join(r["QUERY PLAN"] for r in conn.execute(
            "EXPLAIN " + store.CLAIM_DUE, {"today": TODAY, "batch": BATCH}).fetchall())
        conn.rollback()
        for i in range(RUNS + 3):
            started = time.perf_counter()
            with conn.transaction(force_rollback=True):
                rows = store.claim_due(conn, TODAY, BATCH)
            if i >= 3:
                samples.append(time.perf_counter() - started)
            claimed = len(rows)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1], claimed, plan


def main() -> int:
    name = f"ehcp_bench_{uuid.uuid4().hex[:8]}"
    url = f"{PG}/{name}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        ensure_shared_tables(url, "deadlines")
        migrate(url, "deadlines", ROOT / "services" / "deadlines" / "migrations")
        results = {}
        stored = 0
        for size in (10_000, 1_000_000):
            seconds = load(url, stored + 1, size)
            stored = size
            median, p90, claimed, plan = time_claim(url)
            results[size] = median
            print(f"{size:>9,} open cases: loaded in {seconds:5.1f} s; claim of {claimed} due "
                  f"milestones: median {median * 1000:.2f} ms, p90 {p90 * 1000:.2f} ms")
            assert claimed == DUE, claimed
            assert "milestones_next_alert" in plan, plan
        ratio = results[1_000_000] / results[10_000]
        print(f"ratio 1,000,000 / 10,000 = {ratio:.2f} (goal <= 1.5)")
        print("plan:\n" + plan)
        return 0 if ratio <= 1.5 else 1
    finally:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
