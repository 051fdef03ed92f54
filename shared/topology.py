"""The whole system's RabbitMQ topology, in one place.

Every service declares all of it at start-up, before it publishes anything, so an event
never falls into an exchange with no queue, whichever service starts first.
"""

from __future__ import annotations

from kombu import Connection, Exchange, Queue

EVENTS = Exchange("ehcp.events", type="topic", durable=True)
DEAD_LETTERS = Exchange("ehcp.dlx", type="direct", durable=True)

# consumer -> event types it subscribes to
SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "deadlines": ("referral.received", "case.step_recorded"),
    "notifications": (
        "deadline.scheduled", "deadline.approaching", "deadline.due",
        "deadline.breached", "deadline.met",
    ),
    # which case events the deadlines service has taken into account (deadlines_up_to_date)
    "referrals": ("deadline.scheduled",),
}
RETRY_LEVELS = 5  # retry delay queues declared per consumer; config uses the first N


def queue_name(consumer: str) -> str:
    return f"{consumer}.events"


def retry_queue_name(consumer: str, level: int) -> str:
    return f"{consumer}.events.retry.{level}"


def dead_letter_queue_name(consumer: str) -> str:
    return f"{consumer}.events.dlq"


def consumer_queue(consumer: str, types: tuple[str, ...] | None = None) -> Queue:
    """The durable work queue of a consumer. Rejected messages go to its dead-letter queue."""
    name = queue_name(consumer)
    from kombu import binding

    return Queue(
        name,
        bindings=[binding(EVENTS, routing_key=t) for t in (types or SUBSCRIPTIONS[consumer])],
        durable=True,
        queue_arguments={
            "x-dead-letter-exchange": DEAD_LETTERS.name,
            "x-dead-letter-routing-key": name,
        },
    )


def retry_queues(consumer: str) -> list[Queue]:
    """Delay queues: a message waits out its per-message TTL, then the broker dead-letters
    it back to the work queue. One queue per attempt keeps equal delays together, so a
    long delay never holds a short one up at the head of a queue."""
    return [
        Queue(retry_queue_name(consumer, level), durable=True, queue_arguments={
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": queue_name(consumer),
        })
        for level in range(1, RETRY_LEVELS + 1)
    ]


def dead_letter_queue(consumer: str) -> Queue:
    return Queue(dead_letter_queue_name(consumer), exchange=DEAD_LETTERS,
                 routing_key=queue_name(consumer), durable=True)


def all_queues(subscriptions: dict[str, tuple[str, ...]] | None = None) -> list[Queue]:
    queues = []
    for consumer, types in (subscriptions or SUBSCRIPTIONS).items():
        queues.append(consumer_queue(consumer, types))
        queues.extend(retry_queues(consumer))
        queues.append(dead_letter_queue(consumer))
    return queues


def declare_on(channel, subscriptions: dict[str, tuple[str, ...]] | None = None) -> None:
    """Declare every exchange, queue and binding on an open channel. Idempotent: run at
    start-up and again on every reconnection, so a broker that lost its state (a reset, a
    new node) gets the retry queues, dead-letter queues and `ehcp.dlx` back before any
    message flows."""
    EVENTS.declare(channel=channel)
    DEAD_LETTERS.declare(channel=channel)
    for queue in all_queues(subscriptions):
        queue.bind(channel).declare()


def declare_topology(amqp_uri: str, subscriptions: dict[str, tuple[str, ...]] | None = None,
                     ) -> None:
    with Connection(amqp_uri, connect_timeout=5) as conn:
        declare_on(conn.channel(), subscriptions)
