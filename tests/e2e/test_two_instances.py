"""Two instances of every service at once, under load: a few hundred requests for
assessment through both gateways, and every deadline, alert and inbox entry appears
once: nothing lost, nothing doubled, and each instance did part of the work."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
import requests

from tests.support.api import Api, referral_body, token
from tests.support.ports import free_port
from tests.support.processes import SERVICES, ServiceProcess, System, module, wait_for

pytestmark = pytest.mark.e2e

REQUESTS = 300
LA = "885"
SCHOOLS = [f"885{n:03d}" for n in range(1, 11)]
ALERT_KINDS = ("approaching", "due", "breached")


@pytest.fixture(scope="module")
def region(infra, tmp_path_factory):
    """The usual system (instance a of each service) plus instance b of each, with its own
    ports; both gateways serve requests, the others share their queues."""
    logs = tmp_path_factory.mktemp("two-instances")
    # small pools: ten processes share the test server's connections with other runs
    system = System(infra, logs, extra_env={"SWEEP_SECONDS": "1", "RPC_TIMEOUT": "15",
                                            "DB_POOL_SIZE": "4"}).start()
    system.register_schools(LA, *SCHOOLS)
    second = {}
    for s in SERVICES:
        port = free_port()
        env = {**system.env, f"{s.upper()}_METRICS_PORT": str(port)}
        if s == "gateway":
            env["GATEWAY_PORT"] = str(free_port())
        second[s] = (ServiceProcess(module(s), f"{s}-b", env, logs).start(), port,
                     env.get("GATEWAY_PORT"))
    yield system, second
    for proc, _, _ in second.values():
        proc.stop()
    system.stop()


def query(infra, schema: str, sql: str, params: tuple = ()) -> list[dict]:
    """One query on its own connection; the shared test server may be out of connections
    for a moment (other runs), so that is retried, never taken as a result."""
    def run():
        with infra.connect(schema) as db:
            return db.execute(sql, params).fetchall()
    return wait_for(lambda: (run(),), timeout=60, interval=0.5)[0]  # a tuple: [] is a result


def processed(exposition: str, metric: str) -> float:
    """Sum of a counter's samples (its _created series left out)."""
    return sum(float(m.group(1)) for m in re.finditer(
        rf"^{metric}(?:{{[^}}]*}})? ([0-9.e+]+)$", exposition, re.M))


# a load test: on a shared two-core machine it can take longer than the suite's 300 s
@pytest.mark.timeout(900)
def test_two_instances_share_the_work_and_nothing_is_lost_or_doubled(region, infra):
    system, second = region
    gateways = [system.url, f"http://127.0.0.1:{second['gateway'][2]}"]
    today = date.today()

    retries = []

    def submit(n: int) -> tuple[int, str]:
        urn = SCHOOLS[n % len(SCHOOLS)]
        # spread over ten weeks back, so today some milestones are approaching, due or
        # breached and both alert sweeps have work
        body = referral_body(LA, urn, (today - timedelta(days=n % 70)).isoformat())
        for attempt in range(6):
            # a client retrying after a 503 (RPC timeout) sends the same Idempotency-Key,
            # through the other gateway: it must get the same case, never a second one
            api = Api(gateways[(n + attempt) % 2],
                      token("school", school_urn=urn, sub=f"load-{urn}"))
            r = api.post("/v1/referrals", body, headers={"Idempotency-Key": f"load-{n}"})
            if r.status_code != 503:
                break
            retries.append(n)
        return r.status_code, r.json().get("id", r.text)

    started = time.perf_counter()
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(submit, range(REQUESTS)))
    posted = time.perf_counter() - started
    assert [s for s, _ in answers] == [201] * REQUESTS, [a for a in answers if a[0] != 201][:3]
    case_ids = {i for _, i in answers}
    assert len(case_ids) == REQUESTS

    # this test's cases only: other modules' cases share the run's database
    wait_for(lambda: query(infra, "notifications", "SELECT count(DISTINCT case_id) AS n "
                           "FROM alerts WHERE kind = 'scheduled' AND recipient LIKE "
                           "'school:%%' AND case_id::text = ANY(%s)",
                           (list(case_ids),))[0]["n"] == REQUESTS, timeout=180, interval=0.5)
    settled = time.perf_counter() - started

    def quiet() -> bool:  # every outbox published
        return all(query(infra, schema, "SELECT count(*) AS n FROM outbox WHERE sent_at IS "
                         "NULL")[0]["n"] == 0 for schema in ("referrals", "deadlines"))
    wait_for(quiet, timeout=60, interval=0.5)
    time.sleep(3)  # a few more sweeps by both instances: they must not add anything

    count = "SELECT count(*) AS n FROM cases WHERE la_code = %s"
    assert query(infra, "referrals", count, (LA,))[0]["n"] == REQUESTS
    assert query(infra, "deadlines", count, (LA,))[0]["n"] == REQUESTS
    emitted = query(infra, "deadlines",
                    "SELECT case_id::text AS case_id, milestone, kind, due_on "
                    "FROM alerts_emitted WHERE la_code = %s", (LA,))
    # one alert event per alert: the outbox never holds the same alert twice
    doubled_events = query(
        infra, "deadlines",
        "SELECT body->'payload'->>'case_id' AS c, body->'payload'->>'milestone' AS m, "
        "event_type, body->'payload'->>'due_on' AS d, count(*) FROM outbox "
        "WHERE event_type IN ('deadline.approaching', 'deadline.due', "
        "'deadline.breached') AND body->>'la_code' = %s GROUP BY 1, 2, 3, 4 "
        "HAVING count(*) > 1", (LA,))
    alert_events = query(
        infra, "deadlines",
        "SELECT count(*) AS n FROM outbox WHERE event_type IN ('deadline.approaching', "
        "'deadline.due', 'deadline.breached') AND body->>'la_code' = %s", (LA,))[0]["n"]
    assert doubled_events == []
    assert emitted and alert_events == len(emitted)
    inbox = query(
        infra, "notifications",
        "SELECT recipient, case_id::text AS case_id, milestone, kind, due_on, "
        "count(*) AS n FROM alerts WHERE la_code = %s GROUP BY 1, 2, 3, 4, 5", (LA,))
    assert all(r["n"] == 1 for r in inbox)  # once each per inbox
    # the LA's inbox gets every alert: exactly the ones the two sweeps emitted
    swept = {(r["case_id"], r["milestone"], r["kind"], r["due_on"]) for r in inbox
             if r["recipient"] == f"la:{LA}" and r["kind"] in ALERT_KINDS}
    assert swept == {(e["case_id"], e["milestone"], e["kind"], e["due_on"]) for e in emitted}
    assert {r["case_id"] for r in inbox if r["kind"] == "scheduled"
            and r["recipient"].startswith("school:")} == case_ids

    # the work was shared: each instance of each service handled some
    shares, duplicates = {}, 0.0
    for s in SERVICES:
        a = system.metrics(s)
        b = requests.get(f"http://127.0.0.1:{second[s][1]}/metrics", timeout=5).text
        if s == "notification_senders":
            # no recipients here, so nothing to send (tests/integration/notifications shares
            # deliveries between two senders): both ran their timers
            assert "ehcp_notification_backlog{" in a and "ehcp_notification_backlog{" in b
            continue
        metric = ("ehcp_http_requests_total" if s == "gateway"
                  else "ehcp_messages_processed_total")
        counts = (processed(a, metric), processed(b, metric))
        shares[s] = counts
        duplicates += processed(a, "ehcp_messages_duplicate_total") + processed(
            b, "ehcp_messages_duplicate_total")
        assert counts[0] > 0 and counts[1] > 0, (s, counts)
    print(f"\n{REQUESTS} requests through 2 gateways in {posted:.1f} s "
          f"({REQUESTS / posted:.0f}/s); all scheduled alerts in inboxes after "
          f"{settled:.1f} s; {len(retries)} retried after a 503 (same case back); "
          f"{len(emitted)} sweep alerts emitted once each, "
          f"all in the LA's inbox once; redeliveries ignored by inboxes: "
          f"{duplicates:.0f}")
    for s, (a, b) in shares.items():
        print(f"  {s:<13} instance a {a:>5.0f}  instance b {b:>5.0f}  "
              f"({100 * a / (a + b):.0f}% / {100 * b / (a + b):.0f}%)")
