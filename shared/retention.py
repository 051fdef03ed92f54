"""Retention of the outbox and the inbox: sent outbox rows and processed inbox ids are
deleted once older than the configured age, in small batches (short transactions, no long
locks), oldest first, through the indexes of shared/migrations/0001.

Unsent outbox rows are never deleted. An inbox id must outlive any redelivery of its event:
keep INBOX_RETENTION_DAYS above the longest a dead letter may wait before a replay.
"""

from __future__ import annotations

import logging

from shared.metrics import RETENTION_PRUNED

log = logging.getLogger(__name__)

BATCH = 5000

PRUNE_SQL = {
    "outbox": "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NOT NULL "
              "AND sent_at < now() - make_interval(secs => %s) ORDER BY sent_at LIMIT %s)",
    "inbox": "DELETE FROM inbox WHERE ctid IN (SELECT ctid FROM inbox WHERE processed_at < "
             "now() - make_interval(secs => %s) ORDER BY processed_at LIMIT %s)",
}


def prune(pool, service: str, ages_days: dict[str, float], batch: int = BATCH) -> dict[str, int]:
    """Delete what is older than its table's age (days); returns rows deleted per table."""
    deleted = {}
    for table, days in ages_days.items():
        total = 0
        while True:
            with pool.connection() as conn:  # one short transaction per batch
                n = conn.execute(PRUNE_SQL[table], (days * 86400, batch)).rowcount
            total += n
            if n < batch:
                break
        deleted[table] = total
        if total:
            RETENTION_PRUNED.labels(service, table).inc(total)
            log.info("retention pruned", extra={"count": total, "queue": table})
    return deleted
