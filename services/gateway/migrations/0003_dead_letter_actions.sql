-- Who looked at, replayed or purged dead letters, when, and which events (issue 9).
CREATE TABLE dead_letter_actions (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,              -- the token's subject
    roles text[] NOT NULL,
    source text,                      -- the client's address
    action text NOT NULL CHECK (action IN ('list', 'replay', 'purge')),
    consumer text,                    -- NULL for a listing of every queue
    count int,                        -- NULL: asked, outcome not recorded (an error)
    event_ids text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX dead_letter_actions_at ON dead_letter_actions (at DESC);
