"""The outbox relay: publishes committed outbox rows with publisher confirms.

Rows are claimed with FOR UPDATE SKIP LOCKED (two relays never send the same batch at
once), published as persistent, mandatory messages, and marked sent only after the
broker confirmed them. A crash before the mark means the batch is sent again; consumers
are idempotent, so a resend is harmless and nothing is lost. The relay waits for a whole
batch's confirms at once: waiting per message caps publishing near 1,000/s.
"""

from __future__ import annotations

import logging
import threading
import time

import amqp
from kombu import Connection

from shared.broker import close_quietly
from shared.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PUBLISH_ERRORS,
    OUTBOX_PUBLISHED,
)
from shared.topology import EVENTS, declare_on

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT = 10.0
# Longest wait between attempts while the broker or database is down: short, so events flow
# again within seconds of a restart.
RELAY_BACKOFF_CAP = 5.0


class OutboxRelay:
    def __init__(self, service: str, amqp_uri: str, pool, batch: int = 500,
                 poll_seconds: float = 0.2, linger_seconds: float = 0.0):
        self.service = service
        self.linger_seconds = linger_seconds
        self.amqp_uri = amqp_uri
        self.pool = pool
        self.batch = batch
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self._channel = None
        self._last_gauges = 0.0

    # lifecycle -------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=15)
        self._close()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                sent = self.publish_batch()
                failures = 0
            except Exception as exc:  # broker or database down: back off, keep the rows
                failures += 1
                OUTBOX_PUBLISH_ERRORS.labels(self.service, type(exc).__name__).inc()
                log.warning("outbox relay failed, will retry", extra={"error": repr(exc)})
                self._close()
                time.sleep(min(RELAY_BACKOFF_CAP, 0.25 * 2 ** min(failures, 6)))
                continue
            if sent < self.batch:
                if sent and self.linger_seconds:
                    # Busy (rows were just sent): let the commits of the next moment join
                    # the next batch instead of claiming them one per round trip. Idle, the
                    # first commit is sent as soon as its wake-up arrives.
                    time.sleep(self.linger_seconds)
                    continue
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    # publishing ------------------------------------------------------------
    def _open(self):
        if self._channel is None:
            self._conn = Connection(self.amqp_uri, connect_timeout=5, heartbeat=0)
            self._conn.connect()
            channel = self._conn.connection.channel()
            # Every (re)connection declares the whole topology: after a broker reset the
            # events would otherwise be unroutable until some consumer came back.
            declare_on(channel)
            channel.confirm_select()
            self._acks: dict[int, bool] = {}
            self._returned: set[str] = set()
            self._seq = 0
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            channel.events["basic_return"].add(self._on_return)
            self._channel = channel
        return self._channel

    def _close(self) -> None:
        close_quietly(self._conn)
        self._conn = None
        self._channel = None

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._settle(tag, multiple, True)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._settle(tag, multiple, False)

    def _settle(self, tag: int, multiple: bool, ok: bool) -> None:
        # Tags are consecutive within a batch: a "multiple" ack settles the range up to it,
        # so a batch costs O(n) however the broker groups its acks.
        for pending in (range(self._low, tag + 1) if multiple else (tag,)):
            if pending in self._pending:
                self._acks[pending] = ok
                self._pending.discard(pending)
        if multiple:
            self._low = max(self._low, tag + 1)

    def _on_return(self, exc, exchange, routing_key, message) -> None:
        self._returned.add(message.properties.get("message_id"))

    def publish_batch(self) -> int:
        """Publish one batch of unsent rows; returns how many were confirmed."""
        with self.pool.connection() as db, db.transaction():
            rows = db.execute(
                # The body as PostgreSQL's text of the jsonb: published as it is, never
                # parsed and encoded again here (about a quarter of the relay's CPU).
                "SELECT id, event_id, event_type, body::text AS body, "
                "body->>'correlation_id' AS correlation_id FROM outbox WHERE sent_at IS NULL "
                "AND (next_attempt_at IS NULL OR next_attempt_at <= now()) "
                "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED", (self.batch,)).fetchall()
            self._update_gauges(db)
            if not rows:
                return 0
            channel = self._open()
            self._acks, self._returned, self._pending = {}, set(), set()
            self._low = self._seq + 1
            tags = {}
            for row in rows:
                self._seq += 1
                tags[self._seq] = row
                self._pending.add(self._seq)
                channel.basic_publish(
                    amqp.Message(
                        row["body"],
                        content_type="application/json",
                        content_encoding="utf-8",
                        delivery_mode=2,
                        message_id=str(row["event_id"]),
                        correlation_id=row["correlation_id"],
                        application_headers={"x-event-type": row["event_type"]},
                    ),
                    exchange=EVENTS.name,
                    routing_key=row["event_type"],
                    mandatory=True,
                )
            deadline = time.monotonic() + CONFIRM_TIMEOUT
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self._pending)} publisher confirms missing")
                try:
                    self._conn.connection.drain_events(timeout=min(remaining, 1.0))
                except TimeoutError:
                    pass
            confirmed = [row["id"] for tag, row in tags.items()
                         if self._acks.get(tag) and str(row["event_id"]) not in self._returned]
            failed = [row["id"] for tag, row in tags.items() if row["id"] not in confirmed]
            if confirmed:
                db.execute("UPDATE outbox SET sent_at = now(), attempts = attempts + 1 "
                           "WHERE id = ANY(%b)", (confirmed,))
                OUTBOX_PUBLISHED.labels(self.service).inc(len(confirmed))
            if failed:
                # Unroutable (no queue bound) or nacked: keep the row, retry later with
                # backoff, and say so loudly; the backlog gauge and alert rule show it.
                reason = "unroutable" if self._returned else "nacked"
                db.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = %s, "
                    "next_attempt_at = now() + least(interval '5 minutes', "
                    "interval '1 second' * power(2, attempts)) WHERE id = ANY(%b)",
                    (reason, failed))
                OUTBOX_PUBLISH_ERRORS.labels(self.service, reason).inc(len(failed))
                log.error("outbox rows not accepted by the broker",
                          extra={"count": len(failed), "error": reason})
            return len(confirmed)

    def _update_gauges(self, db) -> None:
        if time.monotonic() - self._last_gauges < 1.0:
            return
        self._last_gauges = time.monotonic()
        row = db.execute(
            "SELECT count(*) AS backlog, "
            "coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age "
            "FROM outbox WHERE sent_at IS NULL").fetchone()
        OUTBOX_BACKLOG.labels(self.service).set(row["backlog"])
        OUTBOX_OLDEST_AGE.labels(self.service).set(float(row["age"]))
