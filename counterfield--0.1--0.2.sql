/* counterfield--0.1--0.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION counterfield UPDATE TO '0.2'" to load this file. \quit

-- The counters view lists counters in the order they were added.
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
       counterfield.condition_text(c.condition, c.child) AS condition,
       c.flush
  FROM counterfield.counter c
  JOIN pg_catalog.pg_attribute pa
    ON pa.attrelid OPERATOR(pg_catalog.=) c.parent
   AND pa.attnum OPERATOR(pg_catalog.=) c.counter_attnum
 ORDER BY c.id;

