"""Publish to and read from the real broker from a test (plain kombu, confirmed)."""

from __future__ import annotations

import json
import uuid
from datetime import date

from kombu import Connection

from shared.events import new_event
from shared.topology import (
    EVENTS,
    RETRY_LEVELS,
    dead_letter_queue_name,
    queue_name,
    retry_queue_name,
)


def publish(amqp_uri: str, event: dict | bytes, routing_key: str | None = None,
            content_type: str = "application/json") -> None:
    body = event if isinstance(event, bytes) else json.dumps(event)
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        conn.Producer().publish(
            body, exchange=EVENTS.name, routing_key=routing_key or event["type"],
            content_type=content_type, content_encoding="utf-8", delivery_mode=2,
            mandatory=True)


def drain(amqp_uri: str, queue: str) -> list:
    """Take every message now in a queue (acked), as (body bytes, headers)."""
    out = []
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        while True:
            message = channel.basic_get(queue, no_ack=True)
            if message is None:
                return out
            out.append((message.body, message.headers or {}))


def delete_consumer_queues(amqp_uri: str, consumer: str) -> None:
    """Delete a test-only consumer's work, retry and dead-letter queues. Its durable queue
    outlives its process and keeps collecting every event it is bound to, for the rest of
    the run: the next test to start it would first dead-letter other tests' bad events."""
    names = [queue_name(consumer), dead_letter_queue_name(consumer),
             *(retry_queue_name(consumer, level) for level in range(1, RETRY_LEVELS + 1))]
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        for name in names:
            channel.queue_delete(name)


def referral_received(reference: str, school_urn: str = "100001", la_code: str = "881",
                      received_on: date = date(2026, 1, 5)) -> dict:
    return new_event("referral.received", {
        "case_id": uuid.uuid4(), "reference": reference, "school_urn": school_urn,
        "received_on": received_on, "requested_by": "school"}, la_code=la_code)
