-- Issue 9: a local token is accepted only for a listed, active user whose roles, LA and
-- school still match the token (the table is the authority, not the token).
ALTER TABLE users ADD COLUMN extra_roles text[] NOT NULL DEFAULT '{}';

-- Every token a region admin issued through the API: who, for whom, which roles, until when.
CREATE TABLE token_grants (
    id bigserial PRIMARY KEY,
    granted_by text NOT NULL,
    sub text NOT NULL,
    roles text[] NOT NULL,
    la_code text,
    school_urn text,
    source text,
    expires_at timestamptz NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX token_grants_sub ON token_grants (sub, granted_at);
