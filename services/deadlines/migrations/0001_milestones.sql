-- What the deadlines service knows of each case: no personal data, only codes and dates.
CREATE TABLE cases (
    case_id uuid PRIMARY KEY,
    reference text NOT NULL,
    la_code text NOT NULL,
    school_urn text NOT NULL,
    last_event_id uuid,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The case's history as received (late, twice or out of order): milestones are recomputed
-- from it, never patched in place.
CREATE TABLE case_events (
    event_id uuid PRIMARY KEY,
    case_id uuid NOT NULL,
    type text NOT NULL,
    on_date date NOT NULL,
    data jsonb NOT NULL DEFAULT '{}',
    received_at timestamptz,
    corrects uuid,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_events_by_case ON case_events (case_id);

CREATE TABLE milestones (
    case_id uuid NOT NULL,
    milestone text NOT NULL,
    rule text NOT NULL,
    regulation text NOT NULL,
    due_on date NOT NULL,
    adjusted_due_on date,
    status text NOT NULL,
    met_on date,
    exception_days int NOT NULL DEFAULT 0,
    la_code text NOT NULL,
    school_urn text NOT NULL,
    PRIMARY KEY (case_id, milestone)
);
CREATE INDEX milestones_by_la_due ON milestones (la_code, due_on);
CREATE INDEX milestones_by_school_due ON milestones (school_urn, due_on);
