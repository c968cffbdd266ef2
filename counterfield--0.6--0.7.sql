/* counterfield--0.6--0.7.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION counterfield UPDATE TO '0.7'" to load this file. \quit

-- Sums: a counter may keep the sum of a child column instead of counting
-- rows.  The column is kept by name (portable, resolved again on restore)
-- and by number, as the other columns are.
-- Chains: a counter may count the rows of a child through intermediate
-- tables, each hop by its foreign key.  The hops' constraints are kept by
-- name (on the child, then on each intermediate in turn) and by OID.
ALTER TABLE counterfield.counter
    ADD COLUMN sum_column name,
    ADD COLUMN sum_attnum smallint,
    ADD COLUMN through pg_catalog.regclass[],
    ADD COLUMN through_fks name[],
    ADD COLUMN through_fk_oids pg_catalog.oid[];
COMMENT ON COLUMN counterfield.counter.sum_column IS
    'child column whose values the counter sums; NULL: it counts rows';
COMMENT ON COLUMN counterfield.counter.through IS
    'intermediate tables from the child up to the parent; NULL: the child points at the parent';
COMMENT ON COLUMN counterfield.counter.through_fks IS
    'foreign key constraint of each hop: on the child, then on each intermediate';

DROP FUNCTION counterfield.add_counter(pg_catalog.regclass, name, pg_catalog.regclass,
                                       name[], name[], text, text, boolean);
CREATE FUNCTION counterfield.add_counter(
    parent          pg_catalog.regclass,
    counter_column  name,
    child           pg_catalog.regclass,
    fk_columns      name[]  DEFAULT NULL,
    parent_columns  name[]  DEFAULT NULL,
    condition       text    DEFAULT NULL,
    flush           text    DEFAULT 'statement',
    initialize      boolean DEFAULT true,
    sum_column      name    DEFAULT NULL,
    through         pg_catalog.regclass[] DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'counterfield_add_counter'
LANGUAGE C VOLATILE;

-- verify() reports sums as well as counts: stored and actual are numeric.
DROP FUNCTION counterfield.verify(pg_catalog.regclass, name);
CREATE FUNCTION counterfield.verify(
    parent          pg_catalog.regclass DEFAULT NULL,
    counter_column  name DEFAULT NULL)
RETURNS TABLE(parent pg_catalog.regclass, counter_column name, parent_key text,
              stored numeric, actual numeric)
AS 'MODULE_PATHNAME', 'counterfield_verify'
LANGUAGE C VOLATILE ROWS 10
SET search_path = pg_catalog, pg_temp;

-- The counters view shows the sum column and the intermediate tables.
CREATE OR REPLACE VIEW counterfield.counters AS
SELECT c.id,
       c.parent,
       pa.attname AS counter_column,
       c.child,
       ARRAY(SELECT a.attname
               FROM pg_catalog.unnest(c.fk_attnums) WITH ORDINALITY AS k(attnum, n)
               JOIN pg_catalog.pg_attribute a
                 ON a.attrelid OPERATOR(pg_catalog.=) c.child
                AND a.attnum OPERATOR(pg_catalog.=) k.attnum
              ORDER BY k.n) AS fk_columns,
       ARRAY(SELECT a.attname
               FROM pg_catalog.unnest(c.parent_attnums) WITH ORDINALITY AS k(attnum, n)
               JOIN pg_catalog.pg_attribute a
                 ON a.attrelid OPERATOR(pg_catalog.=) c.parent
                AND a.attnum OPERATOR(pg_catalog.=) k.attnum
              ORDER BY k.n) AS parent_columns,
       c.condition_sql AS condition,
       c.flush,
       sa.attname AS sum_column,
       c.through
  FROM counterfield.counter c
  JOIN pg_catalog.pg_attribute pa
    ON pa.attrelid OPERATOR(pg_catalog.=) c.parent
   AND pa.attnum OPERATOR(pg_catalog.=) c.counter_attnum
  LEFT JOIN pg_catalog.pg_attribute sa
    ON sa.attrelid OPERATOR(pg_catalog.=) c.child
   AND sa.attnum OPERATOR(pg_catalog.=) c.sum_attnum
 ORDER BY c.id;
