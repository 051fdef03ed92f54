-- The pages (issue 8): local sign-in for schools and the demo, and browser sessions.
-- A user signs in locally only once a password is set (argon2id hash, never the password).
ALTER TABLE users ADD COLUMN password_hash text;
-- One row per signed-in browser. The cookie holds a random token; only its SHA-256 is
-- stored, so a copy of this table signs no one in. Idle sessions expire (SESSION_IDLE_SECONDS).
CREATE TABLE sessions (
    token_hash text PRIMARY KEY,
    sub text NOT NULL,
    role text NOT NULL,
    roles text[] NOT NULL,
    la_code text,
    school_urn text,
    csrf_token text NOT NULL,
    via text NOT NULL CHECK (via IN ('password', 'oidc')),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_sub ON sessions (sub);
CREATE INDEX sessions_last_seen ON sessions (last_seen);
-- OIDC sign-ins under way: state -> PKCE verifier and nonce (a few minutes at most).
CREATE TABLE oidc_logins (
    state text PRIMARY KEY,
    code_verifier text NOT NULL,
    nonce text NOT NULL,
    next_path text NOT NULL DEFAULT '/',
    created_at timestamptz NOT NULL DEFAULT now()
);
