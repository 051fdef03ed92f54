"""Authenticated reads of one case through the gateway against a bare WSGI app doing the same
SQL, in the same run (issue 10).

Starts the four services on a private vhost and database, submits CASES requests through
the API and waits until the deadlines service has scheduled each, then drives CLIENTS
concurrent keep-alive clients for SECONDS each (in four alternating slices, gateway then
bare, so the load of other jobs on the machine falls on both) against:
  gateway  GET /v1/referrals/{id}            (token, users row, RPC, case row, audit, JSON)
  gateway  GET /v1/referrals/{id}/deadlines  (the same, plus the case's milestones)
  bare     the same two reads as a plain eventlet.wsgi app (the gateway's server kind) in
           its own process, on a pooled connection per schema (shared.db.make_pool, as the
           services): the referrals service's statement (case row by id and LA with its
           audit row, store.read_case), the deadlines service's milestones query
           (schedule.deadlines_of_cases), JSON. No token, no RPC, no schema.
Prints req/s of each, the ratios and whether the goal (each >= 0.40 of bare) is met; exit
code 1 if not. Run:
    .venv/bin/python bench/reads.py [SECONDS] [CLIENTS]        (default 10 s, 8 clients)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TODAY = date(2026, 11, 16)
LA, URN = "881", "881001"
CASES = 40
GOAL = 0.40
ROUNDS = 4  # each measurement in this many alternating slices


def bare_app(database_url: str, port: int) -> None:
    """The baseline: the same SQL as the services run for these reads, nothing else."""
    from shared import green

    green.patch()
    import eventlet
    from eventlet import wsgi

    from services.deadlines import schedule
    from services.referrals import store
    from shared.db import make_pool

    cases = make_pool(database_url, "referrals", name="bare-referrals")
    deadlines = make_pool(database_url, "deadlines", name="bare-deadlines")

    actor = {"sub": "bench-bare", "role": "la_caseworker", "la_code": LA,
             "source": "127.0.0.1"}

    def case_and_audit(case_id: str) -> dict | None:
        # the statement the referrals service runs (its row and audit row, autocommit)
        with cases.connection() as conn:
            conn.autocommit = True
            try:
                return store.read_case(conn, actor, case_id, "read")
            finally:
                conn.autocommit = False

    def app(environ, start_response):
        parts = environ["PATH_INFO"].strip("/").split("/")
        row = case_and_audit(parts[1])
        if row is None:
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        body: dict = {"case": row}
        if len(parts) == 3:
            with deadlines.connection() as conn:
                body["deadlines"] = schedule.deadlines_of_cases(conn, [parts[1]], TODAY)
        data = json.dumps(body, default=str).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(data)))])
        return [data]

    sock = eventlet.listen(("127.0.0.1", port))
    print("ready", flush=True)
    wsgi.server(sock, app, log_output=False)


def drive(urls: list[str], headers: dict, seconds: float, clients: int) -> tuple[int, float]:
    """(requests, seconds) of `clients` keep-alive clients, each cycling through `urls`."""
    import requests

    counts = [0] * clients
    stop = time.monotonic() + seconds
    errors: list[str] = []

    def client(k: int) -> None:
        session = requests.Session()
        session.headers.update(headers)
        i = k
        while time.monotonic() < stop:
            r = session.get(urls[i % len(urls)], timeout=30)
            if r.status_code != 200:
                errors.append(f"{r.status_code} {r.text[:200]}")
                return
            counts[k] += 1
            i += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(errors[0])
    return sum(counts), time.monotonic() - started


def main(seconds: float = 10.0, clients: int = 8) -> int:
    from bench.cpu import CpuMeter
    from tests.support.api import Api, referral_body, token
    from tests.support.infra import fresh_infra
    from tests.support.ports import free_port
    from tests.support.processes import System, wait_for

    with fresh_infra() as infra, tempfile.TemporaryDirectory() as logs:
        system = System(infra, Path(logs), extra_env={"NOW": f"{TODAY}T09:00:00"}).start()
        bare = None
        try:
            system.register_schools(LA, URN)
            bearer = token("la_caseworker", la_code=LA, sub="bench-reader")
            api = Api(system.url, bearer)
            ids = []
            for _ in range(CASES):
                r = api.post("/v1/referrals", referral_body(LA, URN, "2026-10-05"))
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            wait_for(lambda: all(api.get(f"/v1/referrals/{i}").json()["deadlines_up_to_date"]
                                 for i in ids), timeout=60)
            sample = api.get(f"/v1/referrals/{ids[0]}/deadlines").json()
            assert sample["deadlines"], sample
            port = free_port()
            bare = subprocess.Popen([sys.executable, __file__, "--bare", infra.database_url,
                                     str(port)], stdout=subprocess.PIPE, text=True,
                                    env={**os.environ, "PYTHONPATH": str(ROOT)})
            assert bare.stdout.readline().strip() == "ready"
            base = f"http://127.0.0.1:{port}"
            auth = {"Authorization": f"Bearer {bearer}"}
            results = {}
            for name, suffix in (("read", ""), ("deadlines", "/deadlines")):
                gateway_urls = [f"{system.url}/v1/referrals/{i}{suffix}" for i in ids]
                bare_urls = [f"{base}/case/{i}{suffix}" for i in ids]
                drive(gateway_urls, auth, 1.0, clients)  # warm up pools and connections
                drive(bare_urls, {}, 1.0, clients)
                # interleaved rounds, so a change in the machine's load (other jobs on it)
                # falls on both sides alike
                rates: tuple[list[float], list[float]] = ([], [])
                cpu: dict[str, float] = {}  # of the processes, during the gateway's rounds
                reads = 0
                for _ in range(ROUNDS):
                    meter = CpuMeter(system.services).start()
                    n, secs = drive(gateway_urls, auth, seconds / ROUNDS, clients)
                    for process, used in meter.stop().items():
                        cpu[process] = cpu.get(process, 0.0) + used
                    reads += n
                    rates[0].append(n / secs)
                    n, secs = drive(bare_urls, {}, seconds / ROUNDS, clients)
                    rates[1].append(n / secs)
                results[name] = (sum(rates[0]) / ROUNDS, sum(rates[1]) / ROUNDS,
                                 {p: 1000 * used / reads for p, used in cpu.items()})
        finally:
            if bare is not None:
                bare.terminate()
                bare.wait(timeout=10)
            system.stop()
    met = True
    print(f"{CASES} cases, {clients} concurrent clients, {seconds:g} s per measurement")
    for name, route in (("read", "GET /v1/referrals/{id}          "),
                        ("deadlines", "GET /v1/referrals/{id}/deadlines")):
        gateway, baseline, per_read = results[name]
        ratio = gateway / baseline
        met = met and ratio >= GOAL
        print(f"{route}: gateway {gateway:7.1f} req/s, bare WSGI + same SQL {baseline:7.1f} "
              f"req/s, ratio {ratio:.2f} (goal >= {GOAL:.2f}: "
              f"{'met' if ratio >= GOAL else 'NOT met'})")
        print("    CPU ms per read through the gateway: " + ", ".join(
            f"{p} {ms:.2f}" for p, ms in sorted(per_read.items(), key=lambda kv: -kv[1])
            if ms >= 0.01))
    return 0 if met else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--bare":
        bare_app(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0,
                      int(sys.argv[2]) if len(sys.argv) > 2 else 8))
