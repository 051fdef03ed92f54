-- Issue 10: reference numbers from a sequence per LA and year instead of a counter row.
-- The row (updated by every request of the LA and year, locked until its transaction
-- ended) made concurrent submissions wait for each other; nextval() locks nothing.
-- A number taken by a transaction that then rolls back is not reused: references may
-- have gaps (docs/decisions.md), never duplicates (and cases.reference stays UNIQUE).
CREATE FUNCTION next_reference_number(p_la_code text, p_year int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    seq text := format('reference_%s_%s', p_la_code, p_year);
    first bigint;
BEGIN
    IF p_la_code !~ '^[0-9]{3}$' OR p_year NOT BETWEEN 2000 AND 9999 THEN
        RAISE EXCEPTION 'no reference sequence for % %', p_la_code, p_year;
    END IF;
    IF to_regclass(seq) IS NULL THEN
        -- First request of this LA and year: start after any reference already given.
        SELECT coalesce(max(split_part(reference, '-', 3)::bigint), 0) + 1 INTO first
        FROM cases WHERE la_code = p_la_code
          AND reference ~ ('^' || p_la_code || '-' || p_year || '-[0-9]+$');
        BEGIN
            EXECUTE format('CREATE SEQUENCE %I START %s', seq, first);
        EXCEPTION WHEN duplicate_table OR unique_violation THEN
            NULL;  -- a concurrent first request created it (it waited for that one's commit)
        END;
    END IF;
    RETURN nextval(seq::regclass);
END $$;

-- The counters so far become sequences starting after their last number.
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT la_code, year, last FROM reference_counters LOOP
        EXECUTE format('CREATE SEQUENCE %I START %s',
                       format('reference_%s_%s', r.la_code, r.year), r.last + 1);
    END LOOP;
END $$;
DROP TABLE reference_counters;
