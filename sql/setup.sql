-- Helpers shared by the regression tests: truth is always count(*).
-- Runs first (REGRESS in the Makefile); every later file may rely on what
-- it leaves in the database: the extension installed (by pg_regress's
-- --load-extension), the function mismatches(), and the table
-- parent_updates with the trigger function note_update().

-- Number of parent rows whose counter differs from count(*) of its children.
CREATE FUNCTION mismatches(parent regclass, counter text, child regclass, fk text,
                           pk text DEFAULT 'id', cond text DEFAULT 'true')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %s p WHERE p.%I IS DISTINCT FROM '
                   '(SELECT count(*) FROM %s c WHERE c.%I = p.%I AND (%s))',
                   parent, counter, child, fk, pk, cond) INTO n;
    RETURN n;
END
$$;

-- Counts UPDATEs of a parent table, to prove which writes touch parents.
CREATE TABLE parent_updates (tbl text, n bigint);
CREATE FUNCTION note_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE parent_updates SET n = n + 1 WHERE tbl = TG_TABLE_NAME;
    IF NOT FOUND THEN
        INSERT INTO parent_updates VALUES (TG_TABLE_NAME, 1);
    END IF;
    RETURN NULL;
END
$$;

SELECT extname, extversion FROM pg_extension WHERE extname = 'counterfield';
