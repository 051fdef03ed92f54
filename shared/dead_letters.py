"""The dead-letter queues, inspected, replayed and purged (the gateway's /v1/dead-letters
and `ehcp dlq`).

A message is read with basic.get and left unacknowledged until its fate is settled, so a
crash half-way leaves it in its queue (it is redelivered, never lost). A replay publishes
a copy to the consumer's work queue with the retry headers cleared (a fresh retry ladder)
and acknowledges the dead letter only after the broker confirmed the copy; the consumer's
inbox makes a replay of an event already processed harmless. Messages carry no personal
data (events never do), so ids, types and errors may be shown.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import amqp
from kombu import Connection

from shared.topology import SUBSCRIPTIONS, dead_letter_queue_name, declare_on, queue_name

MAX_MESSAGES = 10_000  # per call: a DLQ larger than this is handled in several calls
SHOWN = 100  # messages described per queue in a listing
RETRY_HEADERS = ("x-attempt", "x-last-error", "x-error", "x-error-kind", "x-failed-at",
                 "x-death", "x-first-death-exchange", "x-first-death-queue",
                 "x-first-death-reason", "x-last-death-exchange", "x-last-death-queue",
                 "x-last-death-reason")


def consumers() -> list[str]:
    return sorted(SUBSCRIPTIONS)


def _describe(message) -> dict:
    headers = message.headers or {}
    try:
        body = json.loads(message.body)
    except (ValueError, TypeError):
        body = {}
    body = body if isinstance(body, dict) else {}
    return {"event_id": message.properties.get("message_id") or body.get("id"),
            "type": body.get("type") or headers.get("x-original-routing-key"),
            "error_kind": headers.get("x-error-kind", "unknown"),
            "error": str(headers.get("x-error", ""))[:500],
            "failed_at": headers.get("x-failed-at"),
            "attempt": headers.get("x-attempt", 0)}


def _take(channel, queue: str, limit: int):
    """Unacknowledged messages from the head of `queue` (they stay in it until acked)."""
    for _ in range(limit):
        message = channel.basic_get(queue, no_ack=False)
        if message is None:
            return
        yield message


def summary(amqp_uri: str) -> list[dict]:
    """Per consumer: the DLQ's size, its messages counted by error kind, the first ones."""
    out = []
    with Connection(amqp_uri, connect_timeout=5) as conn:
        for consumer in consumers():
            name = dead_letter_queue_name(consumer)
            channel = conn.channel()
            try:
                messages = [_describe(m) for m in _take(channel, name, MAX_MESSAGES)]
            finally:
                channel.close()  # nothing acked: every message stays where it was
            out.append({"consumer": consumer, "queue": name, "count": len(messages),
                        "reasons": dict(Counter(m["error_kind"] for m in messages)),
                        "messages": messages[:SHOWN]})
    return out


def _settle(amqp_uri: str, consumer: str, event_ids: set[str] | None, replay: bool) -> list:
    if consumer not in SUBSCRIPTIONS:
        raise KeyError(consumer)
    done = []
    with Connection(amqp_uri, connect_timeout=5) as conn:
        conn.connect()
        channel = conn.connection.channel()
        declare_on(channel)  # the work queue a replay goes to exists, even after a reset
        try:
            for message in _take(channel, dead_letter_queue_name(consumer), MAX_MESSAGES):
                info = _describe(message)
                if event_ids is not None and info["event_id"] not in event_ids:
                    continue  # left unacked: back in the queue when the channel closes
                if replay:
                    headers = {k: v for k, v in (message.headers or {}).items()
                               if k not in RETRY_HEADERS}
                    headers["x-replayed-at"] = datetime.now(UTC).isoformat()
                    props = message.properties
                    channel.basic_publish_confirm(amqp.Message(
                        message.body, content_type=props.get("content_type"),
                        content_encoding=props.get("content_encoding"), delivery_mode=2,
                        message_id=props.get("message_id"),
                        correlation_id=props.get("correlation_id"),
                        application_headers=headers), exchange="",
                        routing_key=queue_name(consumer), mandatory=True, confirm_timeout=10)
                channel.basic_ack(message.delivery_tag)
                done.append(info)
        finally:
            channel.close()
    return done


def replay(amqp_uri: str, consumer: str, event_ids: set[str] | None = None) -> list[dict]:
    """Send dead letters (all, or those with these event ids) back to the work queue."""
    return _settle(amqp_uri, consumer, event_ids, replay=True)


def purge(amqp_uri: str, consumer: str, event_ids: set[str] | None = None) -> list[dict]:
    """Drop dead letters for good (all, or those with these event ids)."""
    return _settle(amqp_uri, consumer, event_ids, replay=False)
