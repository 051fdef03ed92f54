-- The request's own receipt date can be corrected too (it starts the 6- and 20-week clocks).
-- Its corrections live beside the steps' with no step; the case remembers the id of the
-- referral.received event, which a correction `corrects`.
ALTER TABLE cases ADD COLUMN received_event_id uuid;
UPDATE cases c SET received_event_id = o.event_id
FROM outbox o
WHERE o.event_type = 'referral.received' AND (o.body -> 'payload' ->> 'case_id')::uuid = c.id;

ALTER TABLE step_corrections ALTER COLUMN step_id DROP NOT NULL;
ALTER TABLE step_corrections ADD COLUMN case_id uuid REFERENCES cases (id);
UPDATE step_corrections sc SET case_id = s.case_id FROM case_steps s WHERE s.id = sc.step_id;
CREATE INDEX step_corrections_of_receipt ON step_corrections (case_id, recorded_at)
    WHERE step_id IS NULL;
