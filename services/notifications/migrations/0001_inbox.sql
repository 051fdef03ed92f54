-- In-app alerts. One row per recipient, case, milestone, alert kind and due date: the unique
-- key is what makes an alert arrive once from the user's view, whatever is redelivered.
CREATE TABLE alerts (
    id uuid PRIMARY KEY,
    recipient text NOT NULL,          -- 'school:<urn>' or 'la:<code>'
    case_id uuid NOT NULL,
    reference text NOT NULL,
    la_code text NOT NULL,
    school_urn text NOT NULL,
    milestone text NOT NULL,
    kind text NOT NULL,
    due_on date NOT NULL,
    title text NOT NULL,
    link text NOT NULL,
    source_event_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz,
    UNIQUE (recipient, case_id, milestone, kind, due_on)
);
CREATE INDEX alerts_by_recipient ON alerts (recipient, created_at DESC);
