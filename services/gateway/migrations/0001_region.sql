-- The region's directory: local authorities (by three-digit LA code) and schools (by URN).
CREATE TABLE local_authorities (
    la_code text PRIMARY KEY CHECK (la_code ~ '^\d{3}$'),
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE schools (
    urn text PRIMARY KEY CHECK (urn ~ '^\d{6}$'),
    name text NOT NULL,
    la_code text NOT NULL REFERENCES local_authorities (la_code),
    created_at timestamptz NOT NULL DEFAULT now()
);
