"""Prometheus metrics shared by every service, served by prometheus-client's own server.

The server runs in its own (green) thread, not in a nameko worker, so a busy worker
pool cannot stall a scrape. Labels never carry personal data: service, queue, event
type, LA code, route and status only.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

MESSAGES_CONSUMED = Counter(
    "ehcp_messages_consumed_total", "Messages taken from a queue", ["service", "queue", "type"])
MESSAGES_PROCESSED = Counter(
    "ehcp_messages_processed_total", "Messages handled successfully", ["service", "queue", "type"])
MESSAGES_DUPLICATE = Counter(
    "ehcp_messages_duplicate_total", "Redelivered messages the inbox ignored", ["service", "queue"])
MESSAGES_FAILED = Counter(
    "ehcp_messages_failed_total", "Handler failures (each scheduled for retry or dead-lettered)",
    ["service", "queue", "type"])
MESSAGES_RETRIED = Counter(
    "ehcp_messages_retried_total", "Messages sent to a retry delay queue", ["service", "queue"])
MESSAGES_DEAD_LETTERED = Counter(
    "ehcp_messages_dead_lettered_total", "Messages moved to a dead-letter queue",
    ["service", "queue", "reason"])
HANDLER_SECONDS = Histogram(
    "ehcp_handler_seconds", "Event handler latency", ["service", "queue", "type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
BATCH_SIZE = Histogram(
    "ehcp_consumer_batch_size", "Messages handled together in one transaction",
    ["service", "queue"], buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500))
BATCH_FALLBACKS = Counter(
    "ehcp_consumer_batch_fallbacks_total",
    "Batches whose transaction failed, then handled message by message", ["service", "queue"])
EVENT_LAG_SECONDS = Histogram(
    "ehcp_event_lag_seconds", "Time from an event's occurred_at to its handling",
    ["service", "queue"], buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
QUEUE_DEPTH = Gauge(
    "ehcp_queue_depth", "Messages waiting in a queue (work, retry and dead-letter)",
    ["service", "queue"])
OUTBOX_PUBLISHED = Counter(
    "ehcp_outbox_published_total", "Outbox rows confirmed by the broker", ["service"])
OUTBOX_PUBLISH_ERRORS = Counter(
    "ehcp_outbox_publish_errors_total", "Outbox publish attempts that failed or were returned",
    ["service", "reason"])
OUTBOX_BACKLOG = Gauge("ehcp_outbox_backlog", "Outbox rows not yet confirmed", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "ehcp_outbox_oldest_age_seconds", "Age of the oldest unsent outbox row", ["service"])
BROKER_RECOVERIES = Counter(
    "ehcp_broker_recoveries_total", "Consumer connections re-established after a broker loss",
    ["service"])
SETTLE_FAILURES = Counter(
    "ehcp_settle_failures_total", "Acks, requeues or RPC replies lost with a dead connection",
    ["service", "action"])
RPC_DROPPED_REDELIVERIES = Counter(
    "ehcp_rpc_dropped_redeliveries_total", "Redelivered RPC requests dropped (may have run)",
    ["service"])
DEPENDENCY_UP = Gauge(
    "ehcp_dependency_up", "1 while this service reaches its broker / database, else 0",
    ["service", "dependency"])
RETENTION_PRUNED = Counter(
    "ehcp_retention_pruned_total", "Sent outbox rows and processed inbox ids deleted by age",
    ["service", "table"])
RPC_SECONDS = Histogram(
    "ehcp_rpc_seconds", "RPC call latency seen by the caller", ["service", "target", "method"])
RPC_ERRORS = Counter(
    "ehcp_rpc_errors_total", "RPC calls that timed out or failed", ["service", "target", "reason"])
HTTP_REQUESTS = Counter(
    "ehcp_http_requests_total", "HTTP requests", ["route", "method", "status"])
HTTP_SECONDS = Histogram(
    "ehcp_http_request_seconds", "HTTP request latency", ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def serve_metrics(port: int, addr: str = "127.0.0.1") -> None:
    """Loopback by default (METRICS_BIND): the figures are for the local Prometheus, not the
    internet; compose and Kubernetes set 0.0.0.0 so their scraper can reach them."""
    if port:
        start_http_server(port, addr=addr)
