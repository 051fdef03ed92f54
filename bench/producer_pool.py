"""The producer behind every RPC request and reply: nameko's get_producer against ours.

nameko's `get_producer` builds a kombu Connection and takes a producer from kombu's pool
on every publish; kombu hands the producer's connection back after each one and binds it
again on the next. `shared.broker.pooled_producer` (what `install()` puts in its place)
finds its pool once per set of options and keeps each producer bound to its own
connection. Both publish the same transient, unconfirmed message as an RPC request
(`RequestPublisher`) to a queue of this run's own on the local RabbitMQ, one at a time in
one green thread, in alternating rounds. Prints microseconds per publish and the ratio.
    .venv/bin/python bench/producer_pool.py [N]          (default 5,000 per round)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.green import patch  # noqa: E402

patch()

import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

from kombu import Connection, Queue  # noqa: E402
from nameko.amqp.publish import get_producer  # noqa: E402

from shared.broker import pooled_producer  # noqa: E402

AMQP_URI = os.environ.get("BENCH_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
ROUNDS = 5
BODY = b'{"args": ["00000000-0000-0000-0000-000000000001"], "kwargs": {}}'


def per_publish_us(acquire, queue: str, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        with acquire(AMQP_URI, confirms=False) as producer:
            producer.publish(BODY, exchange="", routing_key=queue, retry=True,
                             retry_policy={"max_retries": 1}, delivery_mode=1,
                             content_type="application/json", mandatory=False)
    return (time.perf_counter() - started) / n * 1e6


def main(n: int = 5000) -> None:
    queue = Queue(f"bench.producer-pool.{uuid.uuid4().hex[:8]}", durable=False)
    with Connection(AMQP_URI) as conn:
        queue(conn.channel()).declare()
    try:
        per_publish_us(get_producer, queue.name, 200)  # connections opened, code warm
        per_publish_us(pooled_producer, queue.name, 200)
        nameko, ours = [], []
        for _ in range(ROUNDS):
            nameko.append(per_publish_us(get_producer, queue.name, n))
            ours.append(per_publish_us(pooled_producer, queue.name, n))
    finally:
        with Connection(AMQP_URI) as conn:
            queue(conn.channel()).delete()
    a, b = statistics.median(nameko), statistics.median(ours)
    print(f"{ROUNDS} rounds of {n:,} publishes each (medians)")
    print(f"nameko get_producer (kombu pool)   : {a:6.1f} us per publish")
    print(f"shared.broker.pooled_producer      : {b:6.1f} us per publish")
    print(f"ratio: {a / b:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
