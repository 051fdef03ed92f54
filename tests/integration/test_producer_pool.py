"""shared.broker's producer pool, on the real broker: a producer stays bound between
publishes, and one whose publish was interrupted or failed is closed, never reused (its
socket may hold half a frame)."""

from __future__ import annotations

import threading
import uuid

import pytest
from kombu import Connection, Queue

from shared.broker import ProducerPool

pytestmark = pytest.mark.integration


@pytest.fixture
def queue(infra):
    q = Queue(f"test.producer-pool.{uuid.uuid4().hex[:8]}", durable=False)
    with Connection(infra.amqp_uri) as conn:
        q(conn.channel()).declare()
    yield q.name
    with Connection(infra.amqp_uri) as conn:
        q(conn.channel()).delete()


def publish(producer, queue: str, body: bytes) -> None:
    producer.publish(body, exchange="", routing_key=queue, retry=True,
                     retry_policy={"max_retries": 1}, delivery_mode=1,
                     content_type="application/octet-stream")


def received(infra, queue: str) -> list[bytes]:
    out = []
    with Connection(infra.amqp_uri) as conn:
        channel = conn.channel()
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            out.append(message.body)
    return out


def test_a_producer_stays_bound_and_is_reused(infra, queue):
    pool = ProducerPool(Connection(infra.amqp_uri), limit=2)
    with pool.acquire() as first:
        publish(first, queue, b"1")
        channel = first.channel
    with pool.acquire() as second:
        publish(second, queue, b"2")
    assert second is first and second.channel is channel  # not rebound
    assert received(infra, queue) == [b"1", b"2"]


def test_a_producer_whose_publish_raised_is_closed_and_replaced(infra, queue):
    pool = ProducerPool(Connection(infra.amqp_uri), limit=2)
    with pytest.raises(RuntimeError), pool.acquire() as broken:
        publish(broken, queue, b"1")
        raise RuntimeError("interrupted between two frames")
    assert not broken.connection.connected
    with pool.acquire() as fresh:
        publish(fresh, queue, b"2")
    assert fresh is not broken
    assert received(infra, queue) == [b"1", b"2"]


def test_no_more_producers_than_the_limit(infra, queue):
    pool = ProducerPool(Connection(infra.amqp_uri), limit=1)
    inside, release, second_in = threading.Event(), threading.Event(), threading.Event()

    def hold() -> None:
        with pool.acquire():
            inside.set()
            release.wait(5)

    def wait_for_slot() -> None:
        with pool.acquire():
            second_in.set()

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait(5)
    waiter = threading.Thread(target=wait_for_slot)
    waiter.start()
    assert not second_in.wait(0.3)  # the only producer is taken
    release.set()
    assert second_in.wait(5)
    holder.join(5)
    waiter.join(5)
