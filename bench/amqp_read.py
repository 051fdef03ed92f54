"""Consuming: py-amqp's frame reads against shared.broker's read-ahead.

py-amqp reads each frame in three exact-size recv calls (header, payload, end byte), so a
delivery (three frames) costs nine. `shared.broker.read_ahead` (what `install()` puts in
its place) reads up to 64 KB at a time and serves frames from the buffer. This publishes N
persistent messages the size of a deadline alert to a queue of its own on the local
RabbitMQ, then consumes them as the services do (kombu consumer, prefetch 200, one ack per
200), once with each reader, alternating over rounds, in green threads (eventlet, as in
the services). Prints messages per second consumed and the ratio.
    .venv/bin/python bench/amqp_read.py [N]          (default 20,000 per round)
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

import amqp.transport  # noqa: E402
from kombu import Connection, Consumer, Producer, Queue  # noqa: E402

from shared.broker import read_ahead  # noqa: E402

AMQP_URI = os.environ.get("BENCH_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
ROUNDS = 3
PREFETCH = 200
BODY = b'{"id": "' + b"0" * 36 + b'", "payload": {' + b'"x": "' + b"y" * 380 + b'"}}'
ORIGINAL = amqp.transport.TCPTransport._read


def fill(queue: Queue, n: int) -> None:
    with Connection(AMQP_URI) as conn:
        producer = Producer(conn.channel())
        for _ in range(n):
            producer.publish(BODY, routing_key=queue.name, delivery_mode=2,
                             content_type="application/json")


def consume(queue: Queue, n: int, reader) -> float:
    """Messages per second, consuming n with `reader` as TCPTransport._read."""
    amqp.transport.TCPTransport._read = reader
    try:
        with Connection(AMQP_URI) as conn:
            channel = conn.channel()
            channel.basic_qos(0, PREFETCH, False)
            got = [0]
            pending = []

            def on_message(body, message) -> None:
                got[0] += 1
                pending.append(message)
                if len(pending) == PREFETCH:
                    channel.basic_ack(pending[-1].delivery_tag, multiple=True)
                    pending.clear()

            with Consumer(channel, [queue], callbacks=[on_message], accept=["json"]):
                started = time.perf_counter()
                while got[0] < n:
                    conn.drain_events(timeout=10)
                elapsed = time.perf_counter() - started
            if pending:
                channel.basic_ack(pending[-1].delivery_tag, multiple=True)
        return n / elapsed
    finally:
        amqp.transport.TCPTransport._read = ORIGINAL


def main(n: int = 20000) -> None:
    queue = Queue(f"bench.amqp-read.{uuid.uuid4().hex[:8]}", durable=True)
    with Connection(AMQP_URI) as conn:
        queue(conn.channel()).declare()
    exact, ahead = [], []
    try:
        for _ in range(ROUNDS):
            fill(queue, n)
            exact.append(consume(queue, n, ORIGINAL))
            fill(queue, n)
            ahead.append(consume(queue, n, read_ahead))
    finally:
        with Connection(AMQP_URI) as conn:
            queue(conn.channel()).delete()
    a, b = statistics.median(exact), statistics.median(ahead)
    print(f"{ROUNDS} rounds of {n:,} messages of {len(BODY)} B each, prefetch {PREFETCH} "
          "(medians)")
    print(f"py-amqp exact reads      : {a:8.0f} messages/s")
    print(f"shared.broker.read_ahead : {b:8.0f} messages/s")
    print(f"ratio: {b / a:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
