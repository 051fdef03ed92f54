-- Issue 9: what a request with an Idempotency-Key said (sha256 of its validated body), so
-- a replay of the key with a different body is refused (422) instead of answered with the
-- first case. NULL for rows written before: those keys match any body, as before.
ALTER TABLE cases ADD COLUMN idempotency_fingerprint text;
ALTER TABLE case_steps ADD COLUMN idempotency_fingerprint text;
