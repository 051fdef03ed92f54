"""The event consumer entrypoint every service uses instead of nameko's event_handler.

nameko acknowledges and drops an event whose handler raises. Here a message is:
- checked against the envelope and the catalogue; a bad one is dead-lettered at once
  with the reason (retrying cannot fix it), and the consumer carries on;
- handed to the service method in a batch: the valid messages that arrived together (up to
  CONSUMER_BATCH, within CONSUMER_BATCH_WAIT_MS of the first) go to one call, which handles
  them in one transaction (`handle_batch`), and are acknowledged only after it committed;
- if the batch fails, its messages are handed over again one by one, so only the message
  that fails on its own is republished to a delay queue with backoff, up to the configured
  number of tries, then dead-lettered with the error;
- acknowledged only after the retry or dead-letter copy was confirmed by the broker,
  so a crash in between means a redelivery (the inbox makes that harmless), never a loss.

The service method takes a list of events: `def handle_events(self, events)`.
"""

from __future__ import annotations

import heapq
import logging
import time
import traceback
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from nameko.amqp.publish import Publisher
from nameko.containers import ContainerBeingKilled
from nameko.messaging import Consumer, QueueConsumer

from shared.db import Database, UnitOfWork
from shared.events import InvalidEvent, parse_event
from shared.metrics import (
    BATCH_FALLBACKS,
    BATCH_SIZE,
    EVENT_LAG_SECONDS,
    HANDLER_SECONDS,
    MESSAGES_CONSUMED,
    MESSAGES_DEAD_LETTERED,
    MESSAGES_DUPLICATE,
    MESSAGES_FAILED,
    MESSAGES_PROCESSED,
    MESSAGES_RETRIED,
    QUEUE_DEPTH,
    SETTLE_FAILURES,
)
from shared.topology import (
    DEAD_LETTERS,
    RETRY_LEVELS,
    consumer_queue,
    dead_letter_queue_name,
    queue_name,
    retry_queue_name,
)

log = logging.getLogger(__name__)


class InFlight:
    """The deliveries of one channel not yet settled, so that a handled batch is acknowledged
    with one basic.ack (multiple) instead of one per message: a multiple ack of tag T settles
    every delivery up to T, so it is sent only once each of those was handled (or settled
    on its own: retried, dead-lettered, requeued). A batch finished before an earlier one
    waits for it, up to `hold` messages, then is acknowledged one by one."""

    def __init__(self, channel, hold: int):
        self.channel = channel
        self.hold = hold
        self.unsettled: list[int] = []  # a heap of delivery tags
        self.settled: set[int] = set()  # settled one by one, still in the heap
        self.handled: dict[int, object] = {}  # tag -> message, its ack still to send

    def received(self, tag: int) -> None:
        heapq.heappush(self.unsettled, tag)

    def settled_alone(self, tag: int) -> None:
        self.settled.add(tag)

    def acknowledge(self, messages: list) -> tuple[list, list]:
        """Take a handled batch: returns those one multiple ack of the last of them settles
        now (in tag order; none yet: empty), and those to ack one by one (held too long)."""
        for m in messages:
            self.handled[m.delivery_tag] = m
        covered = []
        while self.unsettled and (self.unsettled[0] in self.settled
                                  or self.unsettled[0] in self.handled):
            tag = heapq.heappop(self.unsettled)
            if tag in self.handled:
                covered.append(self.handled.pop(tag))
            else:
                self.settled.discard(tag)
        alone = []
        if len(self.handled) > self.hold:  # an earlier batch is slow: do not wait for it
            alone = list(self.handled.values())
            self.settled.update(self.handled)
            self.handled.clear()
        return covered, alone


class SafeQueueConsumer(QueueConsumer):
    """nameko's queue consumer, but a body that cannot be decoded is dead-lettered
    instead of crashing the consumer loop, the prefetch is sized for batches (nameko
    takes max_workers, which would cap a batch at ten messages), and a handled batch is
    acknowledged at once (InFlight): one ack per message was ~12% of the notifications
    consumer's CPU in a burst (py-spy)."""

    @property
    def prefetch_count(self):
        cfg = self.container.config["EHCP"]
        return cfg.consumer_batch * (cfg.consumer_concurrency + 1)

    def _in_flight(self, message) -> InFlight | None:
        flight = getattr(self, "_flight", None)
        return flight if flight is not None and flight.channel is message.channel else None

    def _receive(self, message) -> None:
        """Every delivery, in the consumer thread, in order (before any worker can ack a
        later one); a new channel (after a reconnection) starts afresh."""
        flight = self._in_flight(message)
        if flight is None:
            flight = self._flight = InFlight(message.channel, self.prefetch_count // 2)
        flight.received(message.delivery_tag)

    def handle_message(self, provider, body, message):
        # In the consumer thread, not a green thread per message (nameko's way): checking
        # an event and queueing it for a batch never blocks, and a thread each was ~8% of
        # a busy consumer's CPU (py-spy). What may block (dead-lettering) gets a thread of its own.
        self._receive(message)
        provider.handle_message(body, message)

    def _undecodable(self, provider, message, exc):
        self._receive(message)
        provider.handle_undecodable(message, exc)

    def get_consumers(self, consumer_cls, channel):
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_decode_error = partial(self._undecodable, provider)
        return consumers

    def ack_message(self, message):
        if (flight := self._in_flight(message)) is not None:
            flight.settled_alone(message.delivery_tag)
        super().ack_message(message)

    def requeue_message(self, message):
        if (flight := self._in_flight(message)) is not None:
            flight.settled_alone(message.delivery_tag)
        super().requeue_message(message)

    def ack_batch(self, messages: list) -> None:
        """Acknowledge a handled batch, with one multiple ack where the channel allows."""
        flight = self._in_flight(messages[0])
        if flight is None or any(m.channel is not flight.channel for m in messages):
            for m in messages:  # an old channel's: each fails alone, the broker redelivers
                super().ack_message(m)
            return
        covered, alone = flight.acknowledge(messages)
        if covered:
            try:
                covered[-1].ack(multiple=True)
            except Exception as exc:  # the channel died: the broker redelivers them all
                SETTLE_FAILURES.labels(self.container.service_name, "ack").inc()
                log.warning("could not ack a batch; the broker will redeliver it",
                            extra={"error": repr(exc), "count": len(covered)})
            else:
                for m in covered:
                    m._state = "ACK"  # kombu's mark, so nothing acks them again
        for m in alone:
            super().ack_message(m)


class EventConsumer(Consumer):
    queue_consumer = SafeQueueConsumer()

    def __init__(self, consumer: str, **kwargs):
        self.consumer = consumer
        super().__init__(queue=consumer_queue(consumer), **kwargs)

    def setup(self):
        import eventlet.queue
        import eventlet.semaphore

        cfg = self.container.config["EHCP"]
        self.service = cfg.service
        self.delays_ms = cfg.retry_delays_ms[:RETRY_LEVELS]
        self.publisher = Publisher(self.container.config["AMQP_URI"], use_confirms=True)
        self.batch_max = cfg.consumer_batch
        self.batch_wait = max(0.0, cfg.consumer_batch_wait_ms / 1000)
        # Valid messages waiting for a batch, as (message, event); unacked until handled,
        # so a crash while they wait here means a redelivery.
        self._waiting = eventlet.queue.LightQueue()
        self._slots = eventlet.semaphore.Semaphore(cfg.consumer_concurrency)
        super().setup()

    def start(self):
        super().start()
        self.container.spawn_managed_thread(self._watch_depth, identifier="queue-depth")
        self.container.spawn_managed_thread(self._form_batches, identifier="event-batches")

    def _watch_depth(self, interval: float = 5.0) -> None:
        """Queue depths for the lag gauges, read with passive declares on a connection of
        its own (never the consumer's), so a broken check cannot disturb consumption."""
        import eventlet
        from kombu import Connection

        names = [queue_name(self.consumer), dead_letter_queue_name(self.consumer)] + [
            retry_queue_name(self.consumer, n) for n in range(1, len(self.delays_ms) + 1)]
        conn = channel = None
        while True:
            try:
                if channel is None:  # one connection, kept between checks
                    conn = Connection(self.container.config["AMQP_URI"], connect_timeout=5)
                    channel = conn.channel()
                for name in names:
                    depth = channel.queue_declare(name, passive=True).message_count
                    QUEUE_DEPTH.labels(self.service, name).set(depth)
            except Exception as exc:  # broker down: the outbox/up alerts say so
                log.warning("queue depth check failed", extra={"error": repr(exc)})
                if conn is not None:
                    conn.release()
                conn = channel = None
            eventlet.sleep(interval)

    # incoming --------------------------------------------------------------
    def handle_message(self, body, message):
        event_type = message.headers.get("x-event-type") or message.delivery_info.get(
            "routing_key", "?")
        MESSAGES_CONSUMED.labels(self.service, self.consumer, event_type).inc()
        try:
            event = parse_event(body)
        except InvalidEvent as exc:
            self.container.spawn_managed_thread(partial(
                self.safe_dead_letter, message, f"invalid event: {exc}", "invalid"),
                identifier="dead-letter")
            return
        EVENT_LAG_SECONDS.labels(self.service, self.consumer).observe(
            max(0.0, (datetime.now(UTC) - event["occurred_at"]).total_seconds()))
        self._waiting.put((message, event))

    def _form_batches(self) -> None:
        """Take a free slot, then the messages waiting (at least one; up to batch_max, those
        arriving within batch_wait of the first): while every slot is busy, messages pile up
        here, so the busier the consumer, the larger its batches."""
        import queue

        while True:
            self._slots.acquire()
            batch = [self._waiting.get()]
            deadline = time.monotonic() + self.batch_wait
            while len(batch) < self.batch_max:
                try:
                    batch.append(self._waiting.get_nowait())
                    continue
                except queue.Empty:
                    pass
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(self._waiting.get(timeout=remaining))
                except queue.Empty:
                    break
            self._spawn_batch(batch)

    def _spawn_batch(self, batch: list) -> None:
        BATCH_SIZE.labels(self.service, self.consumer).observe(len(batch))
        started = time.perf_counter()
        try:
            self.container.spawn_worker(
                self, ([event for _, event in batch],), {}, context_data={},
                handle_result=partial(self.handle_batch_result, batch, started))
        except ContainerBeingKilled:
            self._slots.release()
            for message, _ in batch:
                self.queue_consumer.requeue_message(message)
        except Exception:  # never lose the slot: the messages are redelivered
            self._slots.release()
            log.exception("could not start a batch; requeueing", extra={"queue": self.consumer})
            for message, _ in batch:
                self.queue_consumer.requeue_message(message)

    def handle_batch_result(self, batch, started, worker_ctx, result=None, exc_info=None):
        try:
            if exc_info is None:
                elapsed = time.perf_counter() - started
                for event_type, count in Counter(e["type"] for _, e in batch).items():
                    seconds = HANDLER_SECONDS.labels(self.service, self.consumer, event_type)
                    for _ in range(count):
                        seconds.observe(elapsed)
                    MESSAGES_PROCESSED.labels(self.service, self.consumer, event_type).inc(count)
                self.queue_consumer.ack_batch([message for message, _ in batch])
                return result, exc_info
            if len(batch) == 1:
                message, event = batch[0]
                return self.handle_result(message, event, started, worker_ctx, result,
                                          exc_info)
            # Nothing of the batch committed: each message again on its own, so only one
            # that fails by itself takes the retry ladder (from a thread of its own: this
            # worker must not wait for a free worker).
            BATCH_FALLBACKS.labels(self.service, self.consumer).inc()
            error = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()
            log.warning("batch failed, handling its messages one by one", extra={
                "queue": self.consumer, "count": len(batch), "error": error[:500]})
            self.container.spawn_managed_thread(partial(self._one_by_one, batch),
                                                identifier="batch-fallback")
            return result, exc_info
        finally:
            self._slots.release()

    def _one_by_one(self, batch: list) -> None:
        """Each message of a failed batch in its own worker, in order, one after another
        (as if the batch had never been formed: no two of them race each other)."""
        import eventlet.event

        for n, (message, event) in enumerate(batch):
            started = time.perf_counter()
            done = eventlet.event.Event()

            def finished(worker_ctx, result=None, exc_info=None, message=message, event=event,
                         started=started, done=done):
                try:
                    return self.handle_result(message, event, started, worker_ctx, result,
                                              exc_info)
                finally:
                    done.send()
            try:
                self.container.spawn_worker(self, ([event],), {}, context_data={},
                                            handle_result=finished)
            except ContainerBeingKilled:
                for rest, _ in batch[n:]:
                    self.queue_consumer.requeue_message(rest)
                return
            done.wait()

    def handle_undecodable(self, message, exc):
        self.safe_dead_letter(message, f"undecodable body: {exc}", "undecodable")

    def safe_dead_letter(self, message, reason: str, kind: str) -> None:
        try:
            self.dead_letter(message, reason, kind)
        except Exception:  # broker trouble: leave it to be redelivered, never drop it
            log.exception("could not dead-letter; requeueing", extra={"queue": self.consumer})
            self.queue_consumer.requeue_message(message)

    def handle_result(self, message, event, started, worker_ctx, result=None, exc_info=None):
        """The outcome of one message handled on its own."""
        HANDLER_SECONDS.labels(self.service, self.consumer, event["type"]).observe(
            time.perf_counter() - started)
        extra = {"event_id": event["id"], "event_type": event["type"],
                 "correlation_id": event["correlation_id"], "queue": self.consumer}
        if exc_info is None:
            MESSAGES_PROCESSED.labels(self.service, self.consumer, event["type"]).inc()
            self.queue_consumer.ack_message(message)
            return result, exc_info
        MESSAGES_FAILED.labels(self.service, self.consumer, event["type"]).inc()
        error = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()
        attempt = int(message.headers.get("x-attempt", 0)) + 1
        try:
            if attempt <= len(self.delays_ms):
                self.retry(message, attempt, error)
                log.warning("handler failed, retrying", extra={**extra, "attempt": attempt,
                                                               "error": error})
            else:
                self.dead_letter(message, error, "handler_failed", ack=False)
        except Exception:  # could not park the copy: requeue, never drop
            log.exception("could not retry or dead-letter; requeueing", extra=extra)
            self.queue_consumer.requeue_message(message)
            return result, exc_info
        self.queue_consumer.ack_message(message)
        return result, exc_info

    # outgoing --------------------------------------------------------------
    def _republish(self, message, exchange, routing_key, headers, expiration=None):
        props = message.properties
        self.publisher.publish(
            message.body,
            exchange=exchange,
            routing_key=routing_key,
            headers={**message.headers, **headers},
            content_type=props.get("content_type") or "application/octet-stream",
            content_encoding=props.get("content_encoding") or "binary",
            message_id=props.get("message_id"),
            correlation_id=props.get("correlation_id"),
            delivery_mode=2,
            expiration=expiration,
            mandatory=True,
            retry=True,
        )

    def retry(self, message, attempt: int, error: str) -> None:
        delay_ms = self.delays_ms[attempt - 1]
        self._republish(message, "", retry_queue_name(self.consumer, attempt),
                        {"x-attempt": attempt, "x-last-error": error[:1000]},
                        expiration=delay_ms / 1000)
        MESSAGES_RETRIED.labels(self.service, self.consumer).inc()

    def dead_letter(self, message, reason: str, kind: str, ack: bool = True) -> None:
        self._republish(message, DEAD_LETTERS.name, queue_name(self.consumer), {
            "x-error": reason[:2000],
            "x-error-kind": kind,
            "x-failed-at": datetime.now(UTC).isoformat(),
            "x-consumer": self.consumer,
            "x-original-routing-key": message.delivery_info.get("routing_key"),
        })
        MESSAGES_DEAD_LETTERED.labels(self.service, self.consumer, kind).inc()
        log.error("message dead-lettered", extra={
            "queue": self.consumer, "error": reason[:500],
            "event_id": message.properties.get("message_id")})
        if ack:
            self.queue_consumer.ack_message(message)


event_consumer = EventConsumer.decorator

Effect = Callable[[UnitOfWork, dict], None]
EffectMany = Callable[[UnitOfWork, list[dict]], None]


def handle_batch(db: Database, consumer: str, events: list[dict], effect_many: EffectMany,
                 ) -> list[dict]:
    """Run `effect_many(uow, fresh)` on the events this consumer has not processed yet, all
    in one transaction; returns them. A redelivered batch finds every mark and changes
    nothing; an event twice in one batch is handled once.

    The inbox marks (one statement for the batch) commit with the effect, so a crash leaves
    all of it or none. If the effect raises, nothing commits and the entrypoint hands each
    event over again on its own."""
    with db.unit_of_work() as uow:
        first = uow.first_deliveries(consumer, [e["id"] for e in events])
        fresh, seen = [], set()
        for e in events:
            if e["id"] in first and e["id"] not in seen:
                seen.add(e["id"])
                fresh.append(e)
            else:
                MESSAGES_DUPLICATE.labels(db.service or "", consumer).inc()
                log.info("duplicate event ignored", extra={"event_id": e["id"],
                                                           "queue": consumer})
        if fresh:
            effect_many(uow, fresh)
    return fresh


def one_by_one(effect: Effect) -> EffectMany:
    """The batch effect of a service with no set-based one: its per-event effect, in order,
    in the batch's transaction."""
    def effect_many(uow: UnitOfWork, events: list[dict]) -> None:
        for event in events:
            effect(uow, event)
    return effect_many


def handle_once(db: Database, consumer: str, event: dict, effect: Effect) -> bool:
    """Run `effect(uow, event)` unless this consumer already processed the event.

    The inbox mark commits in the same transaction as the effect: a redelivery after a
    crash either finds the mark (and changes nothing) or finds neither."""
    with db.unit_of_work() as uow:
        if not uow.first_delivery(consumer, event["id"]):
            MESSAGES_DUPLICATE.labels(db.service or "", consumer).inc()
            log.info("duplicate event ignored", extra={"event_id": event["id"], "queue": consumer})
            return False
        effect(uow, event)
    return True
