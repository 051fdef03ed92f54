"""The case list at a real LA's size: the first page sorted by next due date with a
due-within-7-days filter, through the gateway (HTTP, token, RPC, SQL, audit, JSON) and as
the bare SQL the referrals service runs for it, in the same run.

Starts the four services on a private vhost and database, loads 250,000 synthetic cases
(25,000 in LA 881, the rest across nine other LAs) with their next key date straight into
the referrals service's tables, then times N requests of each. Run:
    .venv/bin/python bench/case_list.py [N]
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import requests
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.referrals import lifecycle, store  # noqa: E402
from tests.support.api import token  # noqa: E402
from tests.support.infra import fresh_infra  # noqa: E402
from tests.support.processes import System  # noqa: E402

TODAY = date(2026, 11, 16)
LA = "881"
PER_LA = 25_000
OTHER_LAS = [str(882 + n) for n in range(9)]  # 9 x 25,000 more: 250,000 in the region
SCHOOLS_PER_LA = 120


def load(infra) -> None:
    rng = random.Random(8)
    state = store.state_to_json(lifecycle.new_case(TODAY - timedelta(days=30), LA, "881001",
                                                   TODAY))
    with infra.connect("referrals") as conn, conn.cursor().copy(
            "COPY cases (id, reference, la_code, school_urn, status, received_on, "
            "requested_by, child_given_name, child_family_name, child_date_of_birth, "
            "created_by, state, last_step_on, next_due_on, next_milestone, next_status) "
            "FROM STDIN") as copy:
        for la in [LA, *OTHER_LAS]:
            for n in range(PER_LA):
                received = TODAY - timedelta(days=rng.randint(0, 900))
                # next key dates spread from 30 days ago to a year ahead: ~10% within 7 days
                due = TODAY + timedelta(days=rng.randint(-30, 365)) if n % 10 else None
                copy.write_row((
                    uuid.uuid4(), f"{la}-{received.year}-{n:06d}", la,
                    f"{la}{rng.randint(0, SCHOOLS_PER_LA - 1):03d}",
                    rng.choice(lifecycle.OPEN_STATES), received, "school", "Bench",
                    "Synthetic", date(2015, 1, 1), "bench", Jsonb(state), received,
                    due, "decision_to_assess" if due else None, "pending" if due else None))
    with infra.connect("referrals") as conn:
        conn.execute("ANALYZE cases")


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def main(n: int = 200) -> None:
    with fresh_infra() as infra, tempfile.TemporaryDirectory() as logs:
        system = System(infra, Path(logs), extra_env={"NOW": f"{TODAY}T09:00:00"}).start()
        try:
            started = time.perf_counter()
            load(infra)
            print(f"loaded {PER_LA * (1 + len(OTHER_LAS)):,} cases ({PER_LA:,} in LA {LA}) "
                  f"in {time.perf_counter() - started:.0f} s")
            bearer = token("la_caseworker", la_code=LA, sub="bench-caseworker")
            url = f"{system.url}/v1/referrals?due_within=7&sort=next_due&limit=50"
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {bearer}"
            first = session.get(url, timeout=30).json()
            for _ in range(10):  # warm up pools and caches
                session.get(url, timeout=30)
            gateway = []
            for _ in range(n):
                t = time.perf_counter()
                r = session.get(url, timeout=30)
                gateway.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text
            actor = {"sub": "bench", "role": "la_caseworker", "la_code": LA}
            bare = []
            with infra.connect("referrals") as conn:
                for _ in range(10):
                    store.page_cases(conn, actor, {"due_within": 7}, "next_due", None, 50, TODAY)
                for _ in range(n):
                    t = time.perf_counter()
                    rows, count = store.page_cases(conn, actor, {"due_within": 7}, "next_due",
                                                   None, 50, TODAY)
                    bare.append((time.perf_counter() - t) * 1000)
                # the page query and the count as the service sends them, timed by the server
                clauses, args = store._list_where(actor, {"due_within": 7}, TODAY)
                where = " AND ".join(clauses)
                plan = conn.execute(
                    f"EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM cases WHERE {where} "
                    f"ORDER BY {', '.join(store.SORT_KEYS['next_due'])} LIMIT 51",
                    args).fetchall()
                count_plan = conn.execute(
                    f"EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM cases WHERE {where}",
                    args).fetchall()
        finally:
            system.stop()
    print(f"first page: {len(first['items'])} of {first['count']:,} cases due within 7 days "
          f"(count from SQL: {count:,})")
    print(f"gateway  GET /v1/referrals?due_within=7 (n={n}): median "
          f"{statistics.median(gateway):.1f} ms, p95 {p95(gateway):.1f} ms (goal < 100 ms)")
    print(f"bare SQL page + count               (n={n}): median "
          f"{statistics.median(bare):.1f} ms, p95 {p95(bare):.1f} ms")
    print(f"ratio gateway / bare SQL at p95: {p95(gateway) / p95(bare):.1f}x")
    print(f"goal (gateway p95 < 100 ms): {'met' if p95(gateway) < 100 else 'NOT met'}")
    for title, rows in (("page query", plan), ("count", count_plan)):
        print(f"plan of the {title}:")
        for row in rows:
            print("  " + row["QUERY PLAN"])
    if p95(gateway) >= 100:
        sys.exit(1)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
