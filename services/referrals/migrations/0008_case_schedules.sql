-- Issue 10: each case's copy of its schedule, kept from deadline.scheduled in the same
-- transaction that takes the events it covers off `deadlines_pending`, so a case's
-- deadlines read with their case row in one statement (one RPC, not two) and "up to date"
-- is exact. Which schedule is the newest is the case row's `next_as_of`: an older one
-- never replaces it.
CREATE TABLE case_schedules (
    case_id uuid PRIMARY KEY REFERENCES cases (id) ON DELETE CASCADE,
    milestones jsonb NOT NULL
);
