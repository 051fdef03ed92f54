-- Retention (issue 9): the pruning timer deletes sent outbox rows and processed inbox ids
-- older than OUTBOX_RETENTION_DAYS / INBOX_RETENTION_DAYS, oldest first, in batches.
-- These indexes let each batch find its rows without scanning the tables.
CREATE INDEX IF NOT EXISTS outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS inbox_processed_at ON inbox (processed_at);
