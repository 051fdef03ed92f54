-- Staff of the region known to the deployment. A token is accepted whether or not its
-- subject is listed here; a listed subject that is disabled is refused (401) at once.
CREATE TABLE users (
    sub text PRIMARY KEY,
    role text NOT NULL,
    la_code text CHECK (la_code ~ '^\d{3}$'),
    school_urn text CHECK (school_urn ~ '^\d{6}$'),
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
