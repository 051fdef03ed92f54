-- The full case lifecycle: the lifecycle's state of each case, what the lists filter on,
-- and which of the case's events the deadlines service has not yet taken into account.

-- The pure lifecycle's CaseState (services/referrals/lifecycle.py) as JSON; the columns
-- beside it are copies kept for filtering and indexing.
ALTER TABLE cases ADD COLUMN state jsonb NOT NULL DEFAULT '{}';
ALTER TABLE cases ADD COLUMN advice_outstanding text[] NOT NULL DEFAULT '{}';
ALTER TABLE cases ADD COLUMN last_step_on date;
-- Ids of events this service emitted for the case that no deadline.scheduled has answered
-- yet: empty means the case's deadlines are up to date with its latest event.
ALTER TABLE cases ADD COLUMN deadlines_pending uuid[] NOT NULL DEFAULT '{}';

-- Cases created before this migration were all still at request_received.
UPDATE cases SET state = jsonb_build_object(
    'status', status, 'received_on', received_on, 'last_step_on', received_on,
    'la_code', la_code, 'school_urn', school_urn, 'responsible_since', received_on),
    last_step_on = received_on
WHERE state = '{}';

CREATE INDEX cases_by_adviser ON cases USING gin (advice_outstanding);
CREATE INDEX cases_by_received ON cases (received_on, id);

ALTER TABLE case_steps ADD COLUMN event_id uuid;
ALTER TABLE case_steps ADD COLUMN recorded_role text;
ALTER TABLE case_steps ADD COLUMN status_after text;
ALTER TABLE case_steps ADD COLUMN idempotency_key text UNIQUE;
CREATE INDEX case_steps_by_type ON case_steps (type, on_date);

ALTER TABLE audit_log ADD COLUMN la_code text;
