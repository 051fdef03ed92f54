-- Issue 10: an LA's existing caseload imported from CSV (`ehcp import`). Each imported
-- case keeps the LA's own reference from its previous system, unique within the LA, so a
-- re-import of the same file is refused line by line instead of duplicating cases.
ALTER TABLE cases ADD COLUMN la_case_ref text;
CREATE UNIQUE INDEX cases_la_case_ref ON cases (la_code, la_case_ref)
    WHERE la_case_ref IS NOT NULL;
