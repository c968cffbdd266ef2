/* counterfield--0.4--0.5.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION counterfield UPDATE TO '0.5'" to load this file. \quit

-- BEFORE row triggers fire in name order, and a parent's guards count a new
-- or re-keyed row by its key as it stands when they fire: they take names
-- that sort after the parent's other triggers, so that a trigger that
-- changes a key column has fired before them.  A clone on a partition
-- follows its parent's rename where PostgreSQL renames clones (15 on), and
-- is renamed by itself where it does not.
DO $$
DECLARE
    t record;
    taken pg_catalog.oid;
BEGIN
    FOR t IN
        SELECT g.tgrelid::pg_catalog.regclass AS rel, g.tgname
          FROM pg_catalog.pg_trigger g
         WHERE g.tgname OPERATOR(pg_catalog.=) ANY (ARRAY['counterfield_guard_insert',
                                                          'counterfield_guard_update']::name[])
           AND g.tgfoid OPERATOR(pg_catalog.=)
               'counterfield.parent_trigger()'::pg_catalog.regprocedure
         ORDER BY g.tgparentid OPERATOR(pg_catalog.<>) 0, g.tgrelid
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                        WHERE g.tgrelid OPERATOR(pg_catalog.=) t.rel
                          AND g.tgname OPERATOR(pg_catalog.=) t.tgname) THEN
            CONTINUE;
        END IF;
        SELECT g.tgfoid INTO taken FROM pg_catalog.pg_trigger g
         WHERE g.tgrelid OPERATOR(pg_catalog.=) t.rel
           AND g.tgname OPERATOR(pg_catalog.=) ('zzz_' OPERATOR(pg_catalog.||) t.tgname);
        IF taken IS NULL THEN
            EXECUTE pg_catalog.format('ALTER TRIGGER %I ON %s RENAME TO %I',
                                      t.tgname, t.rel, 'zzz_' OPERATOR(pg_catalog.||) t.tgname);
        ELSIF taken OPERATOR(pg_catalog.=)
              'counterfield.parent_trigger()'::pg_catalog.regprocedure THEN
            EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
        ELSE
            RAISE EXCEPTION 'trigger "zzz_%" on table % is not counterfield''s', t.tgname, t.rel
                USING ERRCODE = 'duplicate_object',
                      DETAIL = pg_catalog.format('counterfield 0.5 renames its trigger %I on that table to zzz_%s.',
                                                 t.tgname, t.tgname),
                      HINT = 'Rename the other trigger, then update the extension.';
        END IF;
    END LOOP;
END
$$;
