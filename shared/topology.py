"""The whole system's RabbitMQ topology, in one place.

Every service declares all of it at start-up, before it publishes anything, so an event
never falls into an exchange with no queue, whichever service starts first.
"""

from __future__ import annotations

from kombu import Connection, Exchange, Queue

from shared.config import load_config

EVENTS = Exchange("ehcp.events", type="topic", durable=True)
DEAD_LETTERS = Exchange("ehcp.dlx", type="direct", durable=True)

# consumer -> event types it subscribes to
SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "deadlines": ("referral.received", "case.step_recorded", "case.imported"),
    "notifications": (
        "deadline.scheduled", "deadline.approaching", "deadline.due",
        "deadline.breached", "deadline.met",
    ),
    # which case events the deadlines service has taken into account (deadlines_up_to_date)
    "referrals": ("deadline.scheduled",),
}
RETRY_LEVELS = 5  # retry delay queues declared per consumer; config uses the first N
# Quorum queues only: a message delivered this many times without an ack (its consumer
# died on it each time) is dead-lettered instead of taking the consumers down forever.
DELIVERY_LIMIT = 10


def queue_arguments(role: str, queue_type: str | None = None) -> dict:
    """The type arguments of an event queue (`role`: work, retry or dlq), by QUEUE_TYPE.

    classic (default): no arguments, as before. quorum: replicated over a majority of the
    cluster's nodes; the work queue gets a delivery limit (poison messages); the work and
    retry queues dead-letter at least once (kept until the dead-letter target confirmed;
    needs reject-publish overflow). RPC queues stay nameko's classic ones: they are
    short-lived and a lost request times out as a 503 anyway."""
    if (queue_type or load_config("topology").queue_type) != "quorum":
        return {}
    args: dict = {"x-queue-type": "quorum"}
    if role in ("work", "retry"):
        args |= {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
    if role == "work":
        args["x-delivery-limit"] = DELIVERY_LIMIT
    return args


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
            **queue_arguments("work"),
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
            **queue_arguments("retry"),
        })
        for level in range(1, RETRY_LEVELS + 1)
    ]


def dead_letter_queue(consumer: str) -> Queue:
    return Queue(dead_letter_queue_name(consumer), exchange=DEAD_LETTERS,
                 routing_key=queue_name(consumer), durable=True,
                 queue_arguments=queue_arguments("dlq") or None)


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
