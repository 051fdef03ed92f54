-- Recipient directory: organisations and teams (never children), their channels and feeds.
CREATE TABLE recipients (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('school', 'la_team', 'la_manager', 'user')),
    la_code text NOT NULL,
    school_urn text,
    name text NOT NULL,
    emails text[] NOT NULL DEFAULT '{}',
    webhook_url text,
    webhook_secret text,              -- whsec_...; needed in clear to sign
    channels text[] NOT NULL DEFAULT '{inbox}',   -- email, digest, webhook, inbox
    muted_kinds text[] NOT NULL DEFAULT '{}',
    calendar_secret_hash text UNIQUE, -- sha256 of the feed secret; NULL = no feed (revoked)
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE INDEX recipients_by_la ON recipients (la_code) WHERE deleted_at IS NULL;
CREATE INDEX recipients_by_school ON recipients (school_urn) WHERE deleted_at IS NULL;

-- One row per message to send by email or webhook. The unique key is what makes a
-- delivery happen once from the user's view through redeliveries, restarts and two
-- instances; a digest uses case_id NULL, milestone/kind 'digest' and its date as due_on.
CREATE TABLE deliveries (
    id uuid PRIMARY KEY,
    recipient_id uuid NOT NULL REFERENCES recipients (id),
    channel text NOT NULL CHECK (channel IN ('email', 'webhook')),
    case_id uuid,
    milestone text NOT NULL,
    kind text NOT NULL,
    due_on date NOT NULL,
    content jsonb NOT NULL,           -- rendered message: no personal data by construction
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    attempts int NOT NULL DEFAULT 0,
    attempt_id uuid,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),  -- for 'sending': lease expiry
    last_error text,
    event_occurred_at timestamptz NOT NULL,
    source_event_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    UNIQUE NULLS NOT DISTINCT (recipient_id, case_id, milestone, kind, due_on, channel)
);
CREATE INDEX deliveries_due ON deliveries (channel, next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX deliveries_failed ON deliveries (created_at) WHERE status = 'failed';

-- The service's own copy of each case's milestones, from deadline.* events (it never
-- reads the deadlines service's tables): the digest and calendar feed read it.
CREATE TABLE milestones (
    case_id uuid NOT NULL,
    milestone text NOT NULL,
    reference text NOT NULL,
    la_code text NOT NULL,
    school_urn text NOT NULL,
    due_on date NOT NULL,
    status text NOT NULL,
    met_on date,
    as_of timestamptz NOT NULL,       -- occurred_at of the newest event applied
    PRIMARY KEY (case_id, milestone)
);
CREATE INDEX milestones_by_school ON milestones (school_urn, due_on);
CREATE INDEX milestones_by_la ON milestones (la_code, due_on);

-- One digest decision per recipient and local day, whether an email was sent or not.
CREATE TABLE digest_runs (
    recipient_id uuid NOT NULL REFERENCES recipients (id),
    on_date date NOT NULL,
    outcome text NOT NULL,            -- queued, empty, no_email
    items int NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (recipient_id, on_date)
);
