"""End-to-end latency of the foundation slice on real processes: a school's POST
/v1/referrals until the school's alert is readable at GET /v1/alerts (through referrals,
its outbox relay, the broker, deadlines, its relay, the broker again and notifications).

The baseline, measured in the same run, is the POST alone (gateway -> referrals RPC ->
commit). Runs the four services in a private vhost and database. Usage:
    .venv/bin/python bench/slice_latency.py [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.api import Api, referral_body, token  # noqa: E402
from tests.support.infra import fresh_infra  # noqa: E402
from tests.support.processes import System  # noqa: E402


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main(n: int = 50) -> None:
    with fresh_infra() as infra, tempfile.TemporaryDirectory() as logs:
        system = System(infra, Path(logs), {"NOTIFY_POLL_SECONDS": "0.1"}).start()
        try:
            school = Api(system.url, token("school", school_urn="100001"))
            posts, slices = [], []
            for _ in range(n):
                started = time.perf_counter()
                case = school.post("/v1/referrals", referral_body()).json()
                posted = time.perf_counter()
                while not any(a["case_id"] == case["id"] for a in
                              school.get("/v1/alerts", params={"unread": "true"})
                              .json()["alerts"]):
                    time.sleep(0.005)
                done = time.perf_counter()
                posts.append((posted - started) * 1000)
                slices.append((done - started) * 1000)
        finally:
            system.stop()
    print(f"requests: {n}")
    print(f"POST /v1/referrals alone (baseline): median {statistics.median(posts):6.1f} ms, "
          f"p95 {pct(posts, 0.95):6.1f} ms")
    print(f"POST until the school's alert reads: median {statistics.median(slices):6.1f} ms, "
          f"p95 {pct(slices, 0.95):6.1f} ms")
    ratio = statistics.median(slices) / statistics.median(posts)
    print(f"ratio slice / POST (medians): {ratio:.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
