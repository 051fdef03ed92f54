-- Issue 8: the case list pages in SQL. Each case keeps its next open deadline (from the
-- deadlines service's deadline.scheduled events) and its assigned caseworker, indexed for
-- "sorted by next due date" within an LA, a school or a caseworker's tray.
ALTER TABLE cases
    ADD COLUMN next_due_on date,
    ADD COLUMN next_milestone text,
    ADD COLUMN next_status text,
    ADD COLUMN next_as_of timestamptz,
    ADD COLUMN assigned_to text;
CREATE INDEX cases_la_next_due ON cases (la_code, (coalesce(next_due_on, '9999-12-31'::date)), reference, id);
CREATE INDEX cases_school_next_due ON cases (school_urn, (coalesce(next_due_on, '9999-12-31'::date)), reference, id);
CREATE INDEX cases_assignee_next_due ON cases (assigned_to, (coalesce(next_due_on, '9999-12-31'::date)), reference, id)
    WHERE assigned_to IS NOT NULL;
