"""Benchmark: rebuild every open plan's deadlines (issue 10), set-wise, on two cores.

Creates a private database, applies the deadlines migrations, loads N synthetic plans
set-wise (generate_series): each case a request, a decision to assess, school advice, a
draft and a final plan (so an annual review is open), with no milestones stored yet, i.e.
the worst case where every row changes. Then:
  baseline  the per-case path (`schedule.recompute`, one transaction per case, one
            process) on SAMPLE further cases;
  run 1     `schedule.recompute_stale` (recompute_many, batches of 500 a transaction) in
            WORKERS processes sharing the flagged cases (SKIP LOCKED), as `ehcp recompute`;
  run 2     the same again with nothing changed: ~0 milestone rows written.

    .venv/bin/python bench/recompute.py [N]      # default 640000; e.g. 20000 for a quick run
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.deadlines import schedule  # noqa: E402
from shared.db import (  # noqa: E402
    SHARED_MIGRATIONS,
    Database,
    ensure_shared_tables,
    make_pool,
    migrate,
)

PG = os.environ.get("BENCH_PG_URL", os.environ.get("TEST_PG_URL",
                                                   "postgresql://postgres@127.0.0.1:5432"))
TODAY = date(2027, 3, 1)
SAMPLE = int(os.environ.get("BENCH_SAMPLE", 2000))
WORKERS = 2
BATCH = 500
GOAL_CASES, GOAL_SECONDS = 640_000, 30 * 60

LOAD_CASES = """
INSERT INTO cases (case_id, reference, la_code, school_urn, first_seen_on, needs_recompute,
                   last_event_id)
SELECT md5(g::text)::uuid, 'BENCH-' || g, (800 + g %% 50)::text, (300000 + g %% 5000)::text,
       %(today)s::date - 400, g > %(sample)s, md5(g::text || 'final_plan_issued')::uuid
FROM generate_series(1, %(n)s::int) g
"""
# A typical plan's history; request dates spread over a year so deadlines differ.
LOAD_EVENTS = """
INSERT INTO case_events (event_id, case_id, type, on_date, data)
SELECT md5(g::text || e.type)::uuid, md5(g::text)::uuid, e.type,
       %(today)s::date - 380 + g %% 200 + e.offset_days, e.data::jsonb
FROM generate_series(1, %(n)s::int) g,
     (VALUES ('request_received', 0, '{}'),
             ('decision_to_assess', 35, '{"outcome": "assess"}'),
             ('advice_requested', 40, '{"adviser": "school", "school_urn": "300001"}'),
             ('draft_plan_issued', 100, '{}'),
             ('final_plan_issued', 130, '{}')) AS e (type, offset_days, data)
"""


def fresh_database(n: int) -> str:
    name = f"bench_recompute_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG}/{name}"
    ensure_shared_tables(url, "deadlines")
    migrate(url, "deadlines", SHARED_MIGRATIONS, prefix="shared/")
    migrate(url, "deadlines", ROOT / "services" / "deadlines" / "migrations")
    with psycopg.connect(url, autocommit=True, options="-c search_path=deadlines") as conn:
        params = {"n": n + SAMPLE, "today": TODAY, "sample": SAMPLE}
        conn.execute(LOAD_CASES, params)
        conn.execute(LOAD_EVENTS, params)
        conn.execute("VACUUM ANALYZE cases")
        conn.execute("VACUUM ANALYZE case_events")
    return url


def drop_database(url: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def worker(url: str) -> dict:
    db = Database(make_pool(url, "deadlines", max_size=1))
    totals: Counter = Counter()
    try:
        schedule.recompute_stale(db, TODAY, BATCH, totals)
    finally:
        db.pool.close()
    return dict(totals)


def run_workers(url: str) -> tuple[float, Counter]:
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        results = pool.map(worker, [url] * WORKERS)
    totals: Counter = Counter()
    for r in results:
        totals.update(r)
    return time.perf_counter() - started, totals


def baseline(url: str) -> float:
    """The per-case path on the SAMPLE cases not flagged: one transaction per case."""
    db = Database(make_pool(url, "deadlines", max_size=1))
    with db.read() as conn:
        cases = conn.execute("SELECT * FROM cases WHERE NOT needs_recompute").fetchall()
    started = time.perf_counter()
    try:
        for case in cases:
            with db.unit_of_work() as uow:
                schedule.recompute(uow, case, TODAY)
    finally:
        db.pool.close()
    elapsed = time.perf_counter() - started
    return len(cases) / elapsed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else GOAL_CASES
    print(f"loading {n:,} plans (+{SAMPLE:,} for the baseline) ...", flush=True)
    t = time.perf_counter()
    url = fresh_database(n)
    print(f"  loaded in {time.perf_counter() - t:.1f} s")
    try:
        base_rate = baseline(url)
        print(f"baseline  per-case recompute, 1 process, 1 transaction/case: "
              f"{base_rate:,.0f} cases/s")
        elapsed, totals = run_workers(url)
        rate = totals["cases"] / elapsed
        print(f"run 1     recompute_many, {WORKERS} workers, {BATCH}/transaction: "
              f"{totals['cases']:,} cases in {elapsed:.1f} s = {rate:,.0f} cases/s, "
              f"{totals['rows_written']:,} milestone rows written")
        db = Database(make_pool(url, "deadlines", max_size=1))
        flagged = schedule.flag_open_cases(db)
        db.pool.close()
        elapsed2, totals2 = run_workers(url)
        print(f"run 2     nothing changed: {flagged:,} open cases flagged, "
              f"{totals2['cases']:,} recomputed in {elapsed2:.1f} s "
              f"({totals2['cases'] / elapsed2:,.0f} cases/s), "
              f"{totals2['rows_written']:,} milestone rows written")
        print(f"ratio     {rate / base_rate:.1f}x the per-case baseline")
        projected = GOAL_CASES / rate
        print(f"goal      {GOAL_CASES:,} plans in under {GOAL_SECONDS // 60} min: "
              f"{projected / 60:.1f} min at this rate -> "
              f"{'met' if projected < GOAL_SECONDS else 'NOT met'}")
    finally:
        drop_database(url)


if __name__ == "__main__":
    main()
