"""Throughput of the whole pipeline against raw RabbitMQ publishing, in the same run.

Starts the four services as processes on a private vhost and database, then submits N
requests concurrently (C client threads, keep-alive connections) through the gateway's
POST /v1/referrals with a school's token, and waits until every one of them has its
deadlines queryable (its milestones in the deadlines service's tables; a sample is then
read through GET /v1/referrals/{id}/deadlines). That path is: gateway, referrals RPC and
commit, outbox relay, broker, deadlines (history, recompute, milestones, deadline.scheduled
through its relay again).

The baseline, on the same broker in the same run: N persistent messages of the same size
as a referral.received event published to a durable queue with publisher confirms, in
batches of 500 confirms (what the outbox relay does; median of three runs): the ceiling of
any event pipeline on this broker. Goal: the pipeline at 10% of it or more. Also printed:
the deadlines service's rate alone (N referral.received queued while it is stopped, then
drained). Usage:
    .venv/bin/python bench/pipeline.py [N] [C]     (defaults 2000 requests, 16 clients)
"""

from __future__ import annotations

import http.client
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import amqp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.topology import EVENTS  # noqa: E402
from tests.support.api import Api, referral_body, token  # noqa: E402
from tests.support.bus import referral_received  # noqa: E402
from tests.support.infra import fresh_infra  # noqa: E402
from tests.support.processes import System  # noqa: E402

GOAL = 0.10
SCHOOL = "100001"
CONFIRM_BATCH = 500


def submit_all(port: int, bearer: str, n: int, clients: int) -> tuple[list[str], float]:
    """POST n requests from `clients` threads; returns the case ids and the seconds taken."""
    body = json.dumps(referral_body(school_urn=SCHOOL)).encode()
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
    ids: list[str] = []
    errors: list[str] = []
    counter = iter(range(n))
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if next(counter, None) is None:
                    break
            conn.request("POST", "/v1/referrals", body, headers)
            response = conn.getresponse()
            answer = response.read()
            if response.status != 201:
                errors.append(f"{response.status} {answer[:200]!r}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            with lock:
                ids.append(json.loads(answer)["id"])
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"{len(errors)} submissions failed, first: {errors[0]}")
    return ids, time.perf_counter() - started


def wait_for_deadlines(infra, ids: list[str], timeout: float) -> float:
    """Poll the deadlines service's tables until every case has milestones."""
    deadline = time.monotonic() + timeout
    with infra.connect("deadlines") as db:
        while True:
            done = db.execute("SELECT count(DISTINCT case_id) AS n FROM milestones "
                              "WHERE case_id = ANY(%s::uuid[])", (ids,)).fetchone()["n"]
            if done == len(ids):
                return time.perf_counter()
            if time.monotonic() > deadline:
                raise SystemExit(f"only {done} of {len(ids)} cases have deadlines")
            time.sleep(0.02)


def amqp_connection(amqp_uri: str) -> amqp.Connection:
    rest = amqp_uri.split("://", 1)[1]
    creds, hostpart = rest.split("@", 1)
    host, _, vhost = hostpart.partition("/")
    user, _, password = creds.partition(":")
    conn = amqp.Connection(host=host, userid=user, password=password,
                           virtual_host=vhost or "/")
    conn.connect()
    return conn


def confirmed_publish(channel, conn, bodies, exchange: str, routing_key: str) -> None:
    """Persistent messages with publisher confirms, waiting a batch of confirms at a time
    (what the outbox relay does)."""
    pending: set[int] = set()
    seq = [0]

    def settle(tag: int, multiple: bool) -> None:
        for t in [t for t in pending if (t <= tag if multiple else t == tag)]:
            pending.discard(t)

    channel.events["basic_ack"].add(settle)
    for first in range(0, len(bodies), CONFIRM_BATCH):
        for body in bodies[first:first + CONFIRM_BATCH]:
            seq[0] += 1
            pending.add(seq[0])
            channel.basic_publish(amqp.Message(body, delivery_mode=2,
                                               content_type="application/json",
                                               content_encoding="utf-8"),
                                  exchange=exchange, routing_key=routing_key)
        while pending:
            conn.drain_events(timeout=10)
    channel.events["basic_ack"].discard(settle)


def raw_publish(amqp_uri: str, n: int, size: int) -> float:
    """Seconds to publish n persistent messages of `size` bytes to a durable queue, waiting
    for the broker's confirms a batch at a time."""
    conn = amqp_connection(amqp_uri)
    channel = conn.channel()
    queue = f"bench.pipeline.{uuid.uuid4().hex[:8]}"
    channel.queue_declare(queue, durable=True, auto_delete=False)
    channel.confirm_select()
    started = time.perf_counter()
    confirmed_publish(channel, conn, [b"x" * size] * n, "", queue)
    elapsed = time.perf_counter() - started
    channel.queue_delete(queue)
    conn.close()
    return elapsed


def deadlines_alone(system, infra, n: int) -> float:
    """Events per second of the deadlines service alone: n referral.received queued while
    it is stopped, drained after it started (from its start to the last case's milestones)."""
    events = [referral_received(f"881-2026-{90000 + k % 9999:05d}", school_urn=SCHOOL)
              for k in range(n)]
    deadlines = system.services["deadlines"]
    deadlines.stop()
    conn = amqp_connection(infra.amqp_uri)
    channel = conn.channel()
    channel.confirm_select()
    confirmed_publish(channel, conn, [json.dumps(e).encode() for e in events],
                      EVENTS.name, "referral.received")
    conn.close()
    deadlines.start()
    started = time.perf_counter()
    done = wait_for_deadlines(infra, [str(e["payload"]["case_id"]) for e in events],
                              60 + n / 10)
    return n / (done - started)


def event_size(infra) -> int:
    with infra.connect("referrals") as db:
        row = db.execute("SELECT body::text AS b FROM outbox "
                         "WHERE event_type = 'referral.received' LIMIT 1").fetchone()
    return len(row["b"].encode())


def main(n: int = 2000, clients: int = 16) -> None:
    with fresh_infra() as infra, tempfile.TemporaryDirectory() as logs:
        system = System(infra, Path(logs)).start()
        try:
            system.register_schools("881", SCHOOL)
            bearer = token("school", school_urn=SCHOOL)
            # warm-up: connections, caches, the LA's reference sequence
            warm, _ = submit_all(system.gateway_port, bearer, 20, 4)
            wait_for_deadlines(infra, warm, 60)

            started = time.perf_counter()
            ids, post_secs = submit_all(system.gateway_port, bearer, n, clients)
            done = wait_for_deadlines(infra, ids, 60 + n / 10)
            pipeline_secs = done - started

            school = Api(system.url, bearer)
            for case_id in ids[:: max(1, n // 5)]:
                got = school.get(f"/v1/referrals/{case_id}/deadlines").json()["deadlines"]
                assert {d["milestone"] for d in got} >= {"decision_to_assess", "final_plan"}
            with infra.connect("referrals") as db:
                refs = db.execute("SELECT count(DISTINCT reference) AS n FROM cases "
                                  "WHERE id = ANY(%s::uuid[])", (ids,)).fetchone()["n"]
            assert refs == n, f"{refs} distinct references for {n} requests"

            size = event_size(infra)
            # the median of three: a run of a few thousand messages takes tenths of a second
            raw_secs = sorted(raw_publish(infra.amqp_uri, n, size) for _ in range(3))[1]
            deadlines_rate = deadlines_alone(system, infra, n)
        finally:
            system.stop()

    pipeline_rate, raw_rate = n / pipeline_secs, n / raw_secs
    ratio = pipeline_rate / raw_rate
    print(f"requests: {n} from {clients} concurrent clients, event size {size} bytes")
    print(f"POSTs answered:                          {n / post_secs:8.0f} req/s "
          f"({post_secs:.1f} s)")
    print(f"pipeline, POST until deadlines queryable: {pipeline_rate:8.0f} req/s "
          f"({pipeline_secs:.1f} s)")
    print(f"baseline, raw durable publish + confirms: {raw_rate:8.0f} msg/s "
          f"({raw_secs:.2f} s, batches of {CONFIRM_BATCH})")
    print(f"deadlines service alone, {n} queued events:  {deadlines_rate:6.0f} events/s")
    print(f"ratio pipeline / raw publish: {ratio:.1%} (goal >= {GOAL:.0%}: "
          f"{'met' if ratio >= GOAL else 'NOT met'})")
    if ratio < GOAL:
        sys.exit(1)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000,
         int(sys.argv[2]) if len(sys.argv) > 2 else 16)
