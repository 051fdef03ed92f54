-- The school register, loaded from GIAS (ehcp schools import): phase, establishment status
-- and open/close dates. A request for assessment names a school in the register that is
-- not closed. Schools added by hand (ehcp school add, POST /v1/schools) are open.
ALTER TABLE schools
    ADD COLUMN phase text,
    ADD COLUMN status text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'closed', 'proposed_to_open', 'proposed_to_close')),
    ADD COLUMN opened_on date,
    ADD COLUMN closed_on date,
    ADD COLUMN source text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'gias')),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX schools_la_code ON schools (la_code);
