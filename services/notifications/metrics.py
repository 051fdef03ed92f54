"""Metrics of the notifications service. Labels: channel, outcome, kind; never personal data."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "ehcp_notification_deliveries_total",
    "Delivery attempts by channel and outcome (sent, retry, failed, cancelled)",
    ["channel", "outcome"])
DELIVERIES_QUEUED = Counter(
    "ehcp_notification_deliveries_queued_total", "Deliveries created (first time only)",
    ["channel"])
DELIVERY_LATENCY = Histogram(
    "ehcp_notification_delivery_latency_seconds",
    "From the triggering event's occurred_at to the channel accepting the message",
    ["channel"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 86400))
RETRIES = Counter("ehcp_notification_retries_total", "Deliveries rescheduled after a failure",
                  ["channel"])
DEAD_LETTERS = Counter(
    "ehcp_notification_dead_letters_total",
    "Deliveries given up (last try or permanent error), kept as status 'failed'", ["channel"])
DIGEST_RUNS = Counter("ehcp_notification_digest_runs_total",
                      "Digest decisions per recipient and day", ["outcome"])
BACKLOG = Gauge("ehcp_notification_backlog", "Deliveries waiting to be sent", ["channel"])
