-- Issue 3: the statutory clock's alerts, LA settings, school closures and figures.

-- The day the service first heard of the case (deadline.met is not announced for work
-- done before that), and a durable "recompute me" mark set when LA settings or closures
-- change; the sweep timer works the marks off in batches.
ALTER TABLE cases ADD COLUMN first_seen_on date NOT NULL DEFAULT current_date;
ALTER TABLE cases ADD COLUMN needs_recompute boolean NOT NULL DEFAULT false;
CREATE INDEX cases_by_la ON cases (la_code);
CREATE INDEX cases_needing_recompute ON cases (case_id) WHERE needs_recompute;

-- Milestones repeat by name (annual_review every year, two tribunal orders), so a
-- milestone is identified by (case, name, rule, statutory due date) plus an ordinal that
-- only separates otherwise identical rows (almost always 0).
ALTER TABLE milestones DROP CONSTRAINT milestones_pkey;
ALTER TABLE milestones
    ADD COLUMN occurrence int NOT NULL DEFAULT 0,
    -- the day this milestone was first computed: alerts whose send date had already
    -- passed then are never sent (no burst of stale alerts for back-dated records)
    ADD COLUMN known_since date NOT NULL DEFAULT current_date,
    -- the earliest alert not yet emitted; NULL when none is left
    ADD COLUMN next_alert_on date,
    -- the working target: statutory date, or the adjusted one when an exception applies
    ADD COLUMN target_on date GENERATED ALWAYS AS (coalesce(adjusted_due_on, due_on)) STORED,
    ADD COLUMN is_open boolean
        GENERATED ALWAYS AS (met_on IS NULL AND status <> 'not_applicable') STORED;
ALTER TABLE milestones ADD PRIMARY KEY (case_id, milestone, rule, due_on, occurrence);

-- The sweep reads only this index: its cost grows with what is due, not with the cases.
CREATE INDEX milestones_next_alert ON milestones (next_alert_on) WHERE next_alert_on IS NOT NULL;
CREATE INDEX milestones_by_la_target ON milestones (la_code, target_on);
CREATE INDEX milestones_by_school_target ON milestones (school_urn, target_on);
CREATE INDEX milestones_open_by_la ON milestones (la_code, rule, status) WHERE is_open;
CREATE INDEX milestones_met_by_la ON milestones (la_code, met_on) WHERE met_on IS NOT NULL;
DROP INDEX milestones_by_la_due;
DROP INDEX milestones_by_school_due;

-- Every alert emitted, written in the same transaction as its outbox row: the unique key
-- is what makes each alert exactly-once across crashes and concurrent instances.
CREATE TABLE alerts_emitted (
    case_id uuid NOT NULL,
    milestone text NOT NULL,
    rule text NOT NULL,
    due_on date NOT NULL,
    kind text NOT NULL CHECK (kind IN ('approaching', 'due', 'breached', 'met')),
    send_on date NOT NULL,
    event_id uuid NOT NULL,
    la_code text NOT NULL,
    emitted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, milestone, rule, due_on, kind, send_on)
);
-- "met" is announced once per milestone, even if the date it was met on is corrected.
CREATE UNIQUE INDEX alerts_emitted_met_once ON alerts_emitted (case_id, milestone, rule, due_on)
    WHERE kind = 'met';

CREATE TABLE la_settings (
    la_code text PRIMARY KEY,
    settings jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- School closure periods (term dates): per school, or for all the LA's schools (NULL urn).
CREATE TABLE closures (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    la_code text NOT NULL,
    school_urn text,
    starts_on date NOT NULL,
    ends_on date NOT NULL CHECK (ends_on >= starts_on),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX closures_by_la ON closures (la_code, starts_on);
