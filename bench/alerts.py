"""Alert burst: N open milestones falling due on one day reach the school's in-app inbox.

Starts the four services on a private vhost and database (tests/support/processes.py),
loads N cases of one school, each with an open final-plan milestone due on DAY (its
next alert on DAY), set-wise into the deadlines schema, and a school recipient with email
into the notifications directory, its SMTP server answering slowly (SMTP_DELAY_S per
message), so email sending competes with the inbox. Then restarts deadlines with NOW=DAY
and a short SWEEP_SECONDS.

Measured, all on the PostgreSQL clock:
- the sweep's start: the earliest alerts_emitted.emitted_at (now() of the first sweep
  batch's transaction, which starts with the claim);
- the sweep's end: the latest emitted_at (the last batch's start) plus its commit, as the
  moment its last outbox row is visible (outbox.created_at max);
- each alert readable in the school's inbox: notifications alerts.created_at (now() of the
  consumer batch's transaction: it commits a few ms later, so this is slightly early).
Baseline, same run, same broker: publishing N messages of an alert's size with publisher
confirms, batched (kombu, one channel), i.e. the transport's floor.

    .venv/bin/python bench/alerts.py [N] [--no-smtp]    # default 5000

--no-smtp leaves SMTP unconfigured (emails are queued, none sent): the same figures with
and without the slow SMTP server show whether sending delays the inbox.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import psycopg
from kombu import Connection, Exchange, Producer, Queue

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu import CpuMeter  # noqa: E402
from tests.support.channels import SmtpServer  # noqa: E402
from tests.support.infra import fresh_infra  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.processes import System, wait_for  # noqa: E402

DAY = date(2027, 3, 1)
URN, LA = "100001", "800"
GOAL_P99_S = 2.0
SMTP_DELAY_S = 0.05

LOAD_CASES = """
INSERT INTO cases (case_id, reference, la_code, school_urn, first_seen_on)
SELECT md5('alerts' || g)::uuid, 'BENCH-' || g, %(la)s, %(urn)s, %(day)s::date - 30
FROM generate_series(1, %(n)s::int) g
"""
# One open final plan per case, due on DAY and first known that day, so exactly one
# alert (due) is pending on DAY for each.
LOAD_MILESTONES = """
INSERT INTO milestones (case_id, milestone, rule, regulation, due_on, status, la_code,
                        school_urn, known_since, next_alert_on)
SELECT md5('alerts' || g)::uuid, 'final_plan', 'A6', 'Reg 13(2)', %(day)s::date, 'pending',
       %(la)s, %(urn)s, %(day)s::date, %(day)s::date
FROM generate_series(1, %(n)s::int) g
"""


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def connect(url: str, schema: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, options=f"-c search_path={schema}")


def raw_publish(amqp_uri: str, n: int, size: int) -> float:
    """Seconds to publish n persistent messages of `size` bytes with confirms."""
    body = json.dumps({"pad": "x" * max(0, size - 12)})
    exchange = Exchange("bench.alerts", type="direct", durable=True)
    queue = Queue("bench.alerts", exchange, routing_key="bench", durable=True)
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.channel(), exchange)
        queue(producer.channel).declare()
        started = time.perf_counter()
        for _ in range(n):
            producer.publish(body, routing_key="bench", delivery_mode=2,
                             content_type="application/json")
        took = time.perf_counter() - started
        queue(producer.channel).delete()
    return took


def _serve_smtp(port: int) -> None:
    os.nice(19)  # a stand-in for a mail server elsewhere: it must not take this box's CPU
    SmtpServer(port, delay=SMTP_DELAY_S).start()
    while True:
        time.sleep(60)


class SmtpSink:
    """The slow SMTP server in a process of its own, at the lowest CPU priority: in the
    benchmark's own process it took as much CPU as the services it measures."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = multiprocessing.get_context("fork").Process(
            target=_serve_smtp, args=(self.port,), daemon=True)

    def start(self) -> SmtpSink:
        self.proc.start()
        wait_for(lambda: socket.create_connection(("127.0.0.1", self.port), 1).close() or True)
        return self

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join(10)


def main(n: int = 5000, send_email: bool = True) -> int:
    smtp = SmtpSink().start()
    with fresh_infra() as infra, tempfile.TemporaryDirectory() as logs:
        env = {"NOTIFY_POLL_SECONDS": "0.2", "SWEEP_SECONDS": "3600"}
        if send_email:
            env.update({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port)})
        system = System(infra, Path(logs), env).start()
        try:
            deadlines = system.services["deadlines"]
            deadlines.stop()
            params = {"n": n, "la": LA, "urn": URN, "day": DAY}
            with connect(infra.database_url, "deadlines") as db:
                db.execute(LOAD_CASES, params)
                db.execute(LOAD_MILESTONES, params)
                db.execute("ANALYZE milestones")
            with connect(infra.database_url, "notifications") as db:
                db.execute(
                    "INSERT INTO recipients (id, kind, la_code, school_urn, name, emails, "
                    "channels, muted_kinds) VALUES (%s, 'school', %s, %s, 'Bench School', "
                    "ARRAY['senco@school.example'], ARRAY['inbox', 'email'], '{}')",
                    (uuid.uuid4(), LA, URN))
            meter = CpuMeter(system.services).start()
            deadlines.start({"NOW": DAY.isoformat(), "SWEEP_SECONDS": "1"})
            meter.restarted("deadlines")  # its start-up left out

            with connect(infra.database_url, "notifications") as note:
                def inbox_count() -> int:
                    return note.execute("SELECT count(*) FROM alerts WHERE recipient = %s",
                                        (f"school:{URN}",)).fetchone()[0]
                wait_for(lambda: inbox_count() >= n, timeout=600, interval=0.2)
                cpu = meter.stop()
                created = [r[0] for r in note.execute(
                    "SELECT created_at FROM alerts WHERE recipient = %s",
                    (f"school:{URN}",)).fetchall()]
                emails_queued = note.execute(
                    "SELECT count(*) FROM deliveries WHERE channel = 'email'").fetchone()[0]
                emails_sent = note.execute(
                    "SELECT count(*) FROM deliveries WHERE channel = 'email' "
                    "AND status = 'sent'").fetchone()[0]
            with connect(infra.database_url, "deadlines") as db:
                start, last, emitted = db.execute(
                    "SELECT min(emitted_at), max(emitted_at), count(*) FROM alerts_emitted "
                    "WHERE send_on = %s", (DAY,)).fetchone()
                outbox_end = db.execute(
                    "SELECT max(created_at) FROM outbox WHERE event_type = 'deadline.due'"
                ).fetchone()[0]
                published = [r[0] for r in db.execute(
                    "SELECT sent_at FROM outbox WHERE event_type = 'deadline.due' "
                    "AND sent_at IS NOT NULL").fetchall()]
                size = db.execute(
                    "SELECT avg(length(body::text))::int FROM outbox "
                    "WHERE event_type = 'deadline.due'").fetchone()[0] or 600
            sweep_s = max(last, outbox_end or last) - start
            lat = [(c - start).total_seconds() for c in created]
            pub = [(c - start).total_seconds() for c in published]
            baseline = raw_publish(infra.amqp_uri, n, size)
        finally:
            system.stop()
            smtp.stop()
    p50, p95, p99 = (pct(lat, q) for q in (0.50, 0.95, 0.99))
    print(f"alerts due at once: {n}; emitted {emitted}; in the school's inbox {len(lat)}")
    print("sweep start = min(alerts_emitted.emitted_at); inbox = alerts.created_at")
    print(f"sweep start -> school's inbox: p50 {p50:.2f} s, p95 {p95:.2f} s, p99 {p99:.2f} s "
          f"(mean {statistics.mean(lat):.2f} s)")
    print("the sweep alone (first batch start -> last outbox row): "
          f"{sweep_s.total_seconds():.2f} s")
    if pub:
        print(f"sweep start -> published by the relay: p50 {pct(pub, 0.5):.2f} s, "
              f"p99 {pct(pub, 0.99):.2f} s, last {max(pub):.2f} s")
    print(f"emails queued {emails_queued}, sent by then {emails_sent} " + (
        f"(SMTP sink answers in {SMTP_DELAY_S * 1000:.0f} ms a message)" if send_email
        else "(--no-smtp: none sent)"))
    print("CPU seconds from the sweep's start to the last inbox alert: " + meter.report(cpu))
    print(f"baseline, raw confirmed publish of {n} x {size} B on the same broker: "
          f"{baseline:.2f} s")
    print(f"ratio p99 / raw publish: {p99 / baseline:.1f}x")
    met = p99 < GOAL_P99_S
    print(f"goal p99 < {GOAL_P99_S:.0f} s: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    sys.exit(main(int(args[0]) if args else 5000, "--no-smtp" not in sys.argv))
