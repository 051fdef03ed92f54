"""The delivery worker: sends queued email and webhook deliveries, at least once to the
channel and once from the user's view.

A batch is claimed and marked 'sending' with a fresh attempt id in its own short
transaction, before any network call; each result is then recorded only if the attempt
id still matches. A worker that dies mid-send leaves rows 'sending' until their lease
runs out, then another worker sends them again with the same id (email Message-ID,
webhook-id), which the receiving system can use to drop the rare duplicate.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import eventlet

from services.notifications import render, store, webhooks
from services.notifications.config import NotifyConfig
from services.notifications.email import DeliveryFailed, send_email
from services.notifications.metrics import (
    BACKLOG,
    DEAD_LETTERS,
    DELIVERIES,
    DELIVERY_LATENCY,
    RETRIES,
)
from shared.db import Database

log = logging.getLogger(__name__)


def content_for(channel: str, alert: dict) -> dict:
    """The message of an alert's delivery: rendered by the sender, from the alert stored with
    the delivery (render.py is deterministic, so a retry sends the same bytes)."""
    if channel == "email":
        rendered = render.render_email(alert)
        return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}
    return {"body": render.webhook_body(alert).decode()}


def send(row: dict, cfg: NotifyConfig) -> None:
    """One network attempt; raises DeliveryFailed."""
    delivery_id = str(row["id"])
    content = row["content"]
    if "alert" in content:  # an alert's delivery; a digest is stored rendered (digest.py)
        try:
            content = content_for(row["channel"], content["alert"])
        except render.InvalidAlert as exc:  # never renders: no retry can help
            raise DeliveryFailed(f"alert cannot be rendered: {exc}", retryable=False) from None
    if row["channel"] == "email":
        if cfg.email is None:
            raise DeliveryFailed("SMTP is not configured", retryable=True)
        send_email(cfg.email, list(row["emails"]), content["subject"], content["text"],
                   content["html"], message_id=delivery_id)
    else:
        if not row["webhook_url"] or not row["webhook_secret"]:
            raise DeliveryFailed("recipient has no webhook URL or secret", retryable=False)
        webhooks.deliver(row["webhook_url"], row["webhook_secret"], f"msg_{delivery_id}",
                         content["body"].encode(), cfg.webhook_timeout,
                         policy=cfg.webhook_policy)


def attempt(db: Database, row: dict, cfg: NotifyConfig) -> str:
    """Send one claimed delivery and record the outcome; returns it."""
    channel = row["channel"]
    if row["recipient_removed"]:
        outcome, error = "cancelled", "recipient removed"
    elif channel == "email" and not row["emails"]:
        outcome, error = "failed", "recipient has no email address"
    else:
        try:
            send(row, cfg)
            outcome, error = "sent", None
        except DeliveryFailed as exc:
            error = str(exc)
            last = row["attempts"] >= cfg.max_attempts
            outcome = "retry" if exc.retryable and not last else "failed"
            delay = webhooks.backoff_delay(row["attempts"] - 1, cfg.retry_base_seconds,
                                           cfg.retry_cap_seconds)
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, cfg.retry_cap_seconds))
        except Exception as exc:  # a bug must not wedge the row in 'sending' until lease end
            log.exception("unexpected delivery error", extra={"queue": channel})
            outcome, error, delay = "retry", f"{type(exc).__name__}: {exc}", cfg.retry_cap_seconds
    with db.unit_of_work() as uow:
        if outcome == "sent":
            recorded = store.mark_sent(uow.conn, row["id"], row["attempt_id"])
        elif outcome == "retry":
            recorded = store.mark_retry(uow.conn, row["id"], row["attempt_id"], delay, error)
        else:
            recorded = store.mark_failed(uow.conn, row["id"], row["attempt_id"], error,
                                         status="cancelled" if outcome == "cancelled"
                                         else "failed")
    if not recorded:  # the lease ran out and another worker took it over
        outcome = "superseded"
    DELIVERIES.labels(channel, outcome).inc()
    extra = {"queue": channel, "attempt": row["attempts"], "event_id": str(row["id"])}
    if outcome == "sent":
        DELIVERY_LATENCY.labels(channel).observe(max(0.0, (
            datetime.now(UTC) - row["event_occurred_at"]).total_seconds()))
    elif outcome == "retry":
        RETRIES.labels(channel).inc()
        log.warning("delivery failed, will retry", extra={**extra, "error": error})
    elif outcome == "failed":
        DEAD_LETTERS.labels(channel).inc()
        log.error("delivery failed for good", extra={**extra, "error": error})
    return outcome


def run_once(db: Database, channel: str, cfg: NotifyConfig) -> int:
    """Claim one batch of due deliveries of a channel and send them concurrently (a slow
    receiver holds up only its own green thread); returns how many were claimed."""
    with db.unit_of_work() as uow:
        rows = store.claim_deliveries(uow.conn, channel, cfg.batch, cfg.lease_seconds)
    if rows:
        pool = eventlet.GreenPool(min(len(rows), 20))
        for row in rows:
            pool.spawn_n(attempt, db, row, cfg)
        pool.waitall()
    return len(rows)


# A sender's tick sends batch after batch while they come full, for this long at most: a
# graceful stop waits for the tick in progress, so a tick must not last a whole backlog.
TICK_SECONDS = 5.0


def run_for_a_while(db: Database, channel: str, cfg: NotifyConfig,
                    seconds: float = TICK_SECONDS) -> None:
    """Full batches one after another, until the backlog is sent or `seconds` are up."""
    ends = time.monotonic() + seconds
    while run_once(db, channel, cfg) >= cfg.batch and time.monotonic() < ends:
        pass


def update_backlog(db: Database) -> None:
    with db.read() as conn:
        counts = store.backlog(conn)
    for channel in ("email", "webhook"):
        BACKLOG.labels(channel).set(counts.get(channel, 0))
