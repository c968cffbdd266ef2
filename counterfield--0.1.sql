/* counterfield--0.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION counterfield" to load this file. \quit

GRANT USAGE ON SCHEMA counterfield TO PUBLIC;

-- The catalog: one row per counter.  Columns are kept by OID and attribute
-- number, so renaming a table or column does not disturb counting.
CREATE TABLE counterfield.counter (
    id              integer NOT NULL PRIMARY KEY,
    parent          pg_catalog.regclass NOT NULL,
    counter_attnum  smallint NOT NULL,
    child           pg_catalog.regclass NOT NULL,
    fk_attnums      smallint[] NOT NULL,
    parent_attnums  smallint[] NOT NULL,
    condition       text,
    flush           text NOT NULL,
    CONSTRAINT counter_flush_check
        CHECK (flush OPERATOR(pg_catalog.=) ANY (ARRAY['statement', 'transaction'])),
    CONSTRAINT counter_parent_column_key UNIQUE (parent, counter_attnum)
);
COMMENT ON TABLE counterfield.counter IS
    'counterfield catalog; change it only through add_counter and drop_counter';

CREATE SEQUENCE counterfield.counter_id_seq AS integer OWNED BY counterfield.counter.id;
ALTER TABLE counterfield.counter
    ALTER COLUMN id SET DEFAULT pg_catalog.nextval('counterfield.counter_id_seq'::pg_catalog.regclass);

SELECT pg_catalog.pg_extension_config_dump('counterfield.counter', '');
SELECT pg_catalog.pg_extension_config_dump('counterfield.counter_id_seq', '');

REVOKE ALL ON counterfield.counter FROM PUBLIC;
GRANT SELECT ON counterfield.counter TO PUBLIC;

-- Changes to the catalog reach every backend's definition cache.
CREATE FUNCTION counterfield.catalog_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'counterfield_catalog_trigger'
    LANGUAGE C;

CREATE TRIGGER counter_changed
    AFTER INSERT OR UPDATE OR DELETE ON counterfield.counter
    FOR EACH ROW EXECUTE FUNCTION counterfield.catalog_trigger();
CREATE TRIGGER counter_truncated
    AFTER TRUNCATE ON counterfield.counter
    FOR EACH STATEMENT EXECUTE FUNCTION counterfield.catalog_trigger();

-- Trigger functions placed on child and parent tables by add_counter.
CREATE FUNCTION counterfield.child_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'counterfield_child_trigger'
    LANGUAGE C;

CREATE FUNCTION counterfield.parent_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'counterfield_parent_trigger'
    LANGUAGE C;

-- Counters whose tables or columns are dropped go with them.
CREATE FUNCTION counterfield.sql_drop() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'counterfield_sql_drop'
    LANGUAGE C;

CREATE EVENT TRIGGER counterfield_sql_drop ON sql_drop
    EXECUTE FUNCTION counterfield.sql_drop();

-- User interface.
CREATE FUNCTION counterfield.add_counter(
    parent          pg_catalog.regclass,
    counter_column  name,
    child           pg_catalog.regclass,
    fk_columns      name[]  DEFAULT NULL,
    parent_columns  name[]  DEFAULT NULL,
    condition       text    DEFAULT NULL,
    flush           text    DEFAULT 'statement',
    initialize      boolean DEFAULT true)
RETURNS void
AS 'MODULE_PATHNAME', 'counterfield_add_counter'
LANGUAGE C VOLATILE;

CREATE FUNCTION counterfield.drop_counter(parent pg_catalog.regclass, counter_column name)
RETURNS void
AS 'MODULE_PATHNAME', 'counterfield_drop_counter'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION counterfield.reinit(parent pg_catalog.regclass, counter_column name)
RETURNS bigint
AS 'MODULE_PATHNAME', 'counterfield_reinit'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION counterfield.verify(
    parent          pg_catalog.regclass DEFAULT NULL,
    counter_column  name DEFAULT NULL)
RETURNS TABLE(parent pg_catalog.regclass, counter_column name, parent_key text,
              stored bigint, actual bigint)
AS 'MODULE_PATHNAME', 'counterfield_verify'
LANGUAGE C VOLATILE ROWS 10;

CREATE FUNCTION counterfield.tracked_states(prune boolean DEFAULT true)
RETURNS TABLE(parent pg_catalog.regclass, counter_column name, parent_key text,
              delta bigint, stale boolean)
AS 'MODULE_PATHNAME', 'counterfield_tracked_states'
LANGUAGE C VOLATILE STRICT ROWS 10;

CREATE FUNCTION counterfield.has_tracked_states()
RETURNS boolean
AS 'MODULE_PATHNAME', 'counterfield_has_tracked_states'
LANGUAGE C VOLATILE;

-- Renders a stored condition with the current column names.
CREATE FUNCTION counterfield.condition_text(condition text, child pg_catalog.regclass)
RETURNS text
AS 'MODULE_PATHNAME', 'counterfield_condition_text'
LANGUAGE C STABLE;

CREATE VIEW counterfield.counters AS
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
   AND pa.attnum OPERATOR(pg_catalog.=) c.counter_attnum;

GRANT SELECT ON counterfield.counters TO PUBLIC;
