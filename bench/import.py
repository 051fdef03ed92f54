"""`ehcp import` at a real LA's size against the same requests through the API, one by one.

Generates a synthetic caseload CSV (default 25,000 cases, 6 steps each: 150,000 steps),
starts the four services on a private vhost and database, runs the real `ehcp import` and
times until every case's deadlines are computed (the referrals service has heard back from
the deadlines service for every event: `deadlines_up_to_date` in the API). The baseline in
the same run: SAMPLE cases of the same shape through the API (POST /v1/referrals, then a
POST per step), timed until their deadlines are computed, extrapolated to N. Run:
    .venv/bin/python bench/import.py [N] [SAMPLE]        (e.g. bench/import.py 500 50)
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cpu import CpuMeter  # noqa: E402
from tests.support.api import token  # noqa: E402
from tests.support.infra import fresh_infra  # noqa: E402
from tests.support.processes import System, wait_for  # noqa: E402

TODAY = date(2026, 11, 16)
LA = "881"
SCHOOLS = [f"881{n:03d}" for n in range(120)]
GOAL_SECONDS = 120
# Six steps every case can take in this order (each a few days after the one before).
STEPS = [("decision_to_assess", {"outcome": "assess"}),
         ("advice_requested", {"adviser": "educational_psychologist"}),
         ("advice_requested", {"adviser": "health"}),
         ("advice_received", {"adviser": "educational_psychologist"}),
         ("advice_received", {"adviser": "health"}),
         ("draft_plan_issued", {})]
HEADER = ("record,case_ref,given_name,family_name,date_of_birth,school_urn,requested_by,"
          "received_on,type,on,outcome,adviser\n")


def synthetic_cases(n: int, seed: int, prefix: str) -> list[dict]:
    """Synthetic children only: invented names, dates and the LA's own references."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        received = TODAY - timedelta(days=rng.randint(60, 700))
        on, steps = received, []
        for step_type, data in STEPS:
            on = on + timedelta(days=rng.randint(1, 8))
            steps.append((step_type, on, data))
        out.append({"case_ref": f"{prefix}{i:06d}", "given_name": f"Child{i}",
                    "family_name": "Synthetic", "dob": date(2012, 1, 1) + timedelta(
                        days=rng.randint(0, 3000)), "school_urn": rng.choice(SCHOOLS),
                    "received_on": received, "steps": steps})
    return out


def write_csv(path: Path, cases: list[dict]) -> int:
    steps = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        for c in cases:
            f.write(f"case,{c['case_ref']},{c['given_name']},{c['family_name']},{c['dob']},"
                    f"{c['school_urn']},school,{c['received_on']},,,,\n")
            for step_type, on, data in c["steps"]:
                f.write(f"step,{c['case_ref']},,,,,,,{step_type},{on},"
                        f"{data.get('outcome', '')},{data.get('adviser', '')}\n")
                steps += 1
    return steps


def pending(infra) -> int:
    """Cases of the LA whose deadlines are not yet computed for every event."""
    with infra.connect("referrals") as conn:
        return conn.execute("SELECT count(*) AS n FROM cases WHERE la_code = %s AND "
                            "cardinality(deadlines_pending) > 0", (LA,)).fetchone()["n"]


def through_api(system, infra, cases: list[dict]) -> float:
    """The baseline: each case and step posted one by one, then until deadlines are done."""
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token("la_manager", la_code=LA,
                                                         sub="bench-api")
    started = time.perf_counter()
    for c in cases:
        r = session.post(f"{system.url}/v1/referrals", timeout=30, json={
            "child": {"given_name": c["given_name"], "family_name": c["family_name"],
                      "date_of_birth": str(c["dob"])},
            "la_code": LA, "school_urn": c["school_urn"], "requested_by": "school",
            "received_on": str(c["received_on"])})
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]
        for step_type, on, data in c["steps"]:
            s = session.post(f"{system.url}/v1/referrals/{case_id}/events", timeout=30,
                             json={"type": step_type, "on": str(on), **data})
            assert s.status_code in (200, 201), s.text
    wait_for(lambda: pending(infra) == 0, timeout=600, interval=0.2)
    return time.perf_counter() - started


def main(n: int = 25_000, sample: int = 200) -> None:
    with fresh_infra() as infra, tempfile.TemporaryDirectory() as tmp:
        system = System(infra, Path(tmp), extra_env={"NOW": f"{TODAY}T09:00:00"}).start()
        try:
            system.register_schools(LA, *SCHOOLS)
            api_seconds = through_api(system, infra, synthetic_cases(sample, 1, "API"))
            api_rate = sample / api_seconds
            csv = Path(tmp) / "caseload.csv"
            steps = write_csv(csv, synthetic_cases(n, 2, "LA"))
            print(f"caseload.csv: {n:,} cases, {steps:,} steps, "
                  f"{csv.stat().st_size / 1e6:.1f} MB")
            meter = CpuMeter(system.services).start()
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "services.gateway.cli", "import",
                                   str(csv), "--la", LA, "--as", "bench-import"],
                                  env={**system.env, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
                                  capture_output=True, text=True, timeout=3600)
            imported = time.perf_counter() - started
            if done.returncode != 0:
                sys.exit(f"import failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
            print(done.stdout.strip())
            wait_for(lambda: pending(infra) == 0, timeout=3600, interval=0.5)
            total = time.perf_counter() - started
            cpu = meter.stop()
        finally:
            system.stop()
    import_rate = n / total
    print(f"API one by one ({sample} cases x {len(STEPS)} steps): {api_seconds:.1f} s, "
          f"{api_rate:.1f} cases/s -> {n:,} cases in ~{n / api_rate:.0f} s (extrapolated)")
    print(f"ehcp import ({n:,} cases, {steps:,} steps): command {imported:.1f} s, deadlines "
          f"computed for every case after {total:.1f} s: {import_rate:.0f} cases/s")
    print("CPU seconds from the command's start until every case has its deadlines (the "
          "command's own process not counted): " + meter.report(cpu))
    print(f"ratio: import {import_rate / api_rate:.1f}x the API's rate")
    goal = GOAL_SECONDS * n / 25_000
    print(f"goal: 25,000 cases + 150,000 steps with deadlines in < {GOAL_SECONDS} s "
          f"(scaled to N: < {goal:.0f} s): {'met' if total < goal else 'NOT met'} "
          f"({total:.1f} s)")


if __name__ == "__main__":
    os.chdir(ROOT)
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
