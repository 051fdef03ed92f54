-- Cases: the request for an EHC needs assessment and everything after it.
-- Only this service stores the child's name and date of birth.
CREATE TABLE cases (
    id uuid PRIMARY KEY,
    reference text NOT NULL UNIQUE,
    la_code text NOT NULL,
    school_urn text NOT NULL,
    status text NOT NULL,
    received_on date NOT NULL,
    requested_by text NOT NULL,
    child_given_name text NOT NULL,
    child_family_name text NOT NULL,
    child_date_of_birth date NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    idempotency_key text UNIQUE
);
CREATE INDEX cases_by_la ON cases (la_code, status, id);
CREATE INDEX cases_by_school ON cases (school_urn, status, id);

-- One counter per LA and year makes references like 881-2026-00042 unique in the region.
CREATE TABLE reference_counters (
    la_code text NOT NULL,
    year int NOT NULL,
    last int NOT NULL,
    PRIMARY KEY (la_code, year)
);

-- Every step recorded on a case, in the order recorded (the case's history).
CREATE TABLE case_steps (
    id uuid PRIMARY KEY,
    case_id uuid NOT NULL REFERENCES cases (id),
    seq int NOT NULL,
    type text NOT NULL,
    on_date date NOT NULL,
    data jsonb NOT NULL DEFAULT '{}',
    recorded_by text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, seq)
);

-- Who read or changed which case, when, from where.
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    case_id uuid,
    actor_sub text NOT NULL,
    actor_role text NOT NULL,
    action text NOT NULL,
    detail jsonb NOT NULL DEFAULT '{}',
    source text,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_by_case ON audit_log (case_id, at);
