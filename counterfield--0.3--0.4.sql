/* counterfield--0.3--0.4.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION counterfield UPDATE TO '0.4'" to load this file. \quit

-- No function reads a node tree from its caller: the counters view of 0.3
-- no longer needs condition_text, so it goes.
DROP FUNCTION counterfield.condition_text(text, pg_catalog.regclass);

-- Functions that only counterfield's own triggers on its catalog and its
-- event triggers run are not for anyone to call or to place as triggers.
-- child_trigger and parent_trigger stay executable: add_counter places them
-- as the tables' owner, and a restore places them as whoever restores; they
-- refuse to run as any trigger but the one add_counter names for the event.
REVOKE ALL ON FUNCTION counterfield.catalog_trigger() FROM PUBLIC;
REVOKE ALL ON FUNCTION counterfield.catalog_resolve() FROM PUBLIC;
REVOKE ALL ON FUNCTION counterfield.sql_drop() FROM PUBLIC;
REVOKE ALL ON FUNCTION counterfield.ddl_event() FROM PUBLIC;

-- Counters on temporary tables are refused from 0.4 on; the catalog rows
-- that such counters left when their session ended go.
DELETE FROM counterfield.counter c
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class r WHERE r.oid OPERATOR(pg_catalog.=) c.parent)
    OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class r WHERE r.oid OPERATOR(pg_catalog.=) c.child);

-- reinit and verify read a counter's true counts through counts(), which
-- counts the child as its owner; it answers counterfield's own calls only.
CREATE FUNCTION counterfield.counts(counter integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'counterfield_counts'
LANGUAGE C VOLATILE STRICT ROWS 1000;

-- reinit updates parents under the caller's search_path, as counted writes
-- do, so that the parent's triggers find the names they use unqualified;
-- the SQL it builds is schema-qualified, and counts() pins its own.
ALTER FUNCTION counterfield.reinit(pg_catalog.regclass, name) RESET search_path;

-- The DDL event trigger finds the tables that a command names as the
-- command found them, under the session's search_path; SQL it builds is
-- schema-qualified, and conditions are parsed with a search_path of their own.
ALTER FUNCTION counterfield.ddl_event() RESET search_path;

-- The rows of a child's partitions and inheritance children are counted
-- also when a statement names them: they get the child triggers (and every
-- child a BEFORE TRUNCATE trigger).  Counters whose child has inheritance
-- children did not count those children's rows before: they are
-- recomputed.
CREATE FUNCTION counterfield.upgrade_dependencies() RETURNS void
    AS 'MODULE_PATHNAME', 'counterfield_upgrade_dependencies'
    LANGUAGE C;
SELECT counterfield.upgrade_dependencies();
DROP FUNCTION counterfield.upgrade_dependencies();
SELECT counterfield.reinit(c.parent, c.counter_column)
  FROM counterfield.counters c
 WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i
                WHERE i.inhparent OPERATOR(pg_catalog.=) c.child);
