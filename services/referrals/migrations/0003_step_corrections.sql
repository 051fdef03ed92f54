-- A step recorded with the wrong date can be corrected. The step shows its current date;
-- each correction is kept here with the date it replaced, and announced as a
-- case.step_recorded that `corrects` the version before it, so the deadlines service
-- recomputes the case as if the right date had been recorded in the first place.
CREATE TABLE step_corrections (
    id uuid PRIMARY KEY,            -- the step_id of the correcting event
    step_id uuid NOT NULL REFERENCES case_steps (id),
    corrects uuid NOT NULL,         -- the version replaced: the step itself or a correction
    previous_on date NOT NULL,
    on_date date NOT NULL,
    note text,                      -- why, for the audit trail; never leaves this service
    recorded_by text NOT NULL,
    recorded_role text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX step_corrections_by_step ON step_corrections (step_id, recorded_at);
