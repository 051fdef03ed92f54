"""How fast the outbox relay publishes, against publishing with a confirm per message.

Both run in this process against the real RabbitMQ and PostgreSQL, in a private database and
on a private queue, and print messages per second and their ratio. Run:
    .venv/bin/python bench/outbox_relay.py [N]
"""

from __future__ import annotations

import json
import sys
import time
import uuid

import psycopg
from kombu import Connection, Queue

from shared.db import SHARED_SQL, make_pool
from shared.outbox import OutboxRelay
from shared.topology import EVENTS

AMQP = "amqp://guest:guest@127.0.0.1:5672/"
PG = "postgresql://postgres@127.0.0.1:5432"


def main(n: int = 5000) -> None:
    run = uuid.uuid4().hex[:8]
    db_name, event_type = f"ehcp_bench_{run}", f"bench.outbox_{run}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db_name}"')
    queue = Queue(f"bench.{run}", exchange=EVENTS, routing_key=event_type, auto_delete=False)
    try:
        with Connection(AMQP) as conn:
            EVENTS.declare(channel=conn.default_channel)
            queue.bind(conn.default_channel).declare()
        url = f"{PG}/{db_name}"
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(SHARED_SQL)
            with db.cursor().copy("COPY outbox (event_id, event_type, body) FROM STDIN") as cp:
                for _ in range(n):
                    eid = str(uuid.uuid4())
                    cp.write_row((eid, event_type, json.dumps({"id": eid, "type": event_type})))
        pool = make_pool(url, "public", max_size=2)
        relay = OutboxRelay("bench", AMQP, pool, batch=500)
        started = time.perf_counter()
        sent = 0
        while sent < n:
            sent += relay.publish_batch()
        relay_secs = time.perf_counter() - started
        relay._close()
        pool.close()

        body = json.dumps({"id": str(uuid.uuid4()), "type": event_type})
        with Connection(AMQP, transport_options={"confirm_publish": True}) as conn:
            producer = conn.Producer()
            started = time.perf_counter()
            for _ in range(n):
                producer.publish(body, exchange=EVENTS.name, routing_key=event_type,
                                 delivery_mode=2, mandatory=True,
                                 content_type="application/json")
            baseline_secs = time.perf_counter() - started
    finally:
        with Connection(AMQP) as conn:
            queue.bind(conn.default_channel).delete()
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

    print(f"messages: {n}")
    print(f"baseline, confirm per message (kombu): {n / baseline_secs:8.0f} msg/s")
    print(f"outbox relay, batch of 500 confirms:   {n / relay_secs:8.0f} msg/s "
          f"(incl. claiming and marking rows in PostgreSQL)")
    print(f"ratio relay / baseline: {baseline_secs / relay_secs:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
