"""Benchmark: `ehcp schools import` of a national-size GIAS extract, against upserting the
same schools one statement per row.

Writes a synthetic extract in the GIAS layout (tests/support/gias.py: the real headers,
cp1252) of N establishments (default 52,000, about the size of the national file with its
closed schools; 150 LAs, one in five closed), creates a private database, runs the real
command (`python -m services.gateway.cli schools import`), runs it again (every row
unchanged), then times a row-by-row `INSERT .. ON CONFLICT` of the same rows as baseline.

    .venv/bin/python bench/gias_import.py [N]   # BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.gateway import gias  # noqa: E402
from tests.support.gias import establishment, write_extract  # noqa: E402

PG = os.environ.get("BENCH_PG_URL", os.environ.get("TEST_PG_URL",
                                                   "postgresql://postgres@127.0.0.1:5432"))
NAMES = ["St Mary\u2019s C of E Primary", "\u00c9cole Fran\u00e7aise", "Oakfield Academy",
         "Riverside Special School", "Hilltop Secondary"]


def extract(path: Path, n: int) -> Path:
    rows = []
    for i in range(n):
        closed = i % 5 == 0
        rows.append(establishment(
            str(100000 + i), f"{NAMES[i % len(NAMES)]} {i}", str(800 + i % 150),
            f"LA {800 + i % 150}", status="2" if closed else "1",
            phase=("2", "4", "0", "7")[i % 4], closed="31-08-2020" if closed else ""))
    return write_extract(path, rows)


def run_import(env: dict, path: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "services.gateway.cli", "schools", "import",
                           str(path)], env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout.strip()


def row_by_row(url: str, path: Path) -> float:
    with psycopg.connect(url, options="-c search_path=gateway") as conn, \
            open(path, "rb") as raw:
        schools = list(gias.read_extract(gias.open_text(raw), gias.Skipped()))
        started = time.perf_counter()
        for s in schools:  # one statement and one commit per school
            conn.execute(
                "INSERT INTO schools (urn, name, la_code, phase, status, opened_on, "
                "closed_on, source) VALUES (%s, %s, %s, %s, %s, %s, %s, 'gias') "
                "ON CONFLICT (urn) DO UPDATE SET name = EXCLUDED.name, "
                "status = EXCLUDED.status, updated_at = now()",
                (s.urn, s.name, s.la_code, s.phase, s.status, s.opened_on, s.closed_on))
            conn.commit()
        return time.perf_counter() - started


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 52_000
    name = f"ehcp_bench_gias_{uuid.uuid4().hex[:8]}"
    url = f"{PG}/{name}"
    env = {**os.environ, "DATABASE_URL": url}
    with tempfile.TemporaryDirectory() as tmp:
        path = extract(Path(tmp) / "edubasealldata20270104.csv", n)
        size = path.stat().st_size
        try:
            subprocess.run([sys.executable, "-m", "services.gateway.cli", "migrate"], env=env,
                           check=True, capture_output=True)
            first, summary = run_import(env, path)
            again, summary_again = run_import(env, path)
            baseline = row_by_row(url, path)
        finally:
            with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"extract: {n:,} establishments, {size / 1e6:.1f} MB")
    print(f"ehcp schools import, empty register: {first:.1f} s ({n / first:,.0f} rows/s)\n"
          f"  {summary.splitlines()[0]}")
    print(f"ehcp schools import, same file again: {again:.1f} s\n"
          f"  {summary_again.splitlines()[0]}")
    print(f"baseline, one upsert and commit per row (parsing excluded): {baseline:.1f} s "
          f"({n / baseline:,.0f} rows/s)")
    print(f"ratio baseline / import = {baseline / first:.1f}x")


if __name__ == "__main__":
    main()
