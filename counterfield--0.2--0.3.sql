/* counterfield--0.2--0.3.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION counterfield UPDATE TO '0.3'" to load this file. \quit

-- Every counter also carries its portable definition: column names and the
-- condition as schema-qualified SQL.  A dump carries them; on restore they
-- are resolved again, since column numbers and function OIDs may change.
ALTER TABLE counterfield.counter
    ADD COLUMN counter_column   name,
    ADD COLUMN fk_columns       name[],
    ADD COLUMN parent_columns   name[],
    ADD COLUMN condition_sql    text,
    ADD COLUMN condition_system bigint;

COMMENT ON COLUMN counterfield.counter.condition IS
    'condition as a node tree, valid in the cluster of condition_system';
COMMENT ON COLUMN counterfield.counter.condition_sql IS
    'condition as schema-qualified SQL, rendered again after renames';

UPDATE counterfield.counter c
   SET counter_column = v.counter_column,
       fk_columns = v.fk_columns,
       parent_columns = v.parent_columns,
       condition_sql = v.condition,
       condition_system = (pg_catalog.pg_control_system()).system_identifier
  FROM counterfield.counters v
 WHERE v.id OPERATOR(pg_catalog.=) c.id;

ALTER TABLE counterfield.counter
    ALTER COLUMN counter_column SET NOT NULL,
    ALTER COLUMN fk_columns SET NOT NULL,
    ALTER COLUMN parent_columns SET NOT NULL,
    ALTER COLUMN condition_system SET NOT NULL;

-- Names and condition text of a new row, from add_counter or a restore,
-- are resolved into column numbers and a node tree of this database.
CREATE FUNCTION counterfield.catalog_resolve() RETURNS trigger
    AS 'MODULE_PATHNAME', 'counterfield_catalog_resolve'
    LANGUAGE C
    SET search_path = pg_catalog, pg_temp;

CREATE TRIGGER counter_resolve
    BEFORE INSERT ON counterfield.counter
    FOR EACH ROW EXECUTE FUNCTION counterfield.catalog_resolve();

-- The catalog's triggers fire even under session_replication_role = replica.
ALTER TABLE counterfield.counter ENABLE ALWAYS TRIGGER counter_resolve;
ALTER TABLE counterfield.counter ENABLE ALWAYS TRIGGER counter_changed;
ALTER TABLE counterfield.counter ENABLE ALWAYS TRIGGER counter_truncated;

-- Renames reach the portable definitions; triggers that a restore creates
-- come to depend on the extension and on what the conditions use; trees
-- that pg_upgrade brought from another cluster are rebuilt before DDL.
CREATE FUNCTION counterfield.ddl_event() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'counterfield_ddl_event'
    LANGUAGE C
    SET search_path = pg_catalog, pg_temp;

CREATE EVENT TRIGGER counterfield_ddl_command_start ON ddl_command_start
    EXECUTE FUNCTION counterfield.ddl_event();
CREATE EVENT TRIGGER counterfield_ddl_command_end ON ddl_command_end
    EXECUTE FUNCTION counterfield.ddl_event();

-- Child triggers depend on what the conditions of their counters use.
CREATE FUNCTION counterfield.upgrade_dependencies() RETURNS void
    AS 'MODULE_PATHNAME', 'counterfield_upgrade_dependencies'
    LANGUAGE C;
SELECT counterfield.upgrade_dependencies();
DROP FUNCTION counterfield.upgrade_dependencies();

-- Functions run with a fixed search_path.  Not add_counter, which reads its
-- condition under the caller's search_path (as CREATE INDEX reads a
-- predicate) and fixes it after that, nor the trigger functions on user
-- tables, which fix it in C where they run SQL that holds a condition:
-- setting it per call would cost every parent row.
ALTER FUNCTION counterfield.drop_counter(pg_catalog.regclass, name)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION counterfield.reinit(pg_catalog.regclass, name)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION counterfield.verify(pg_catalog.regclass, name)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION counterfield.tracked_states(boolean)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION counterfield.has_tracked_states()
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION counterfield.condition_text(text, pg_catalog.regclass)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION counterfield.catalog_trigger()
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION counterfield.sql_drop()
    SET search_path = pg_catalog, pg_temp;

-- The counters view shows the condition as it is stored.
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
       c.flush
  FROM counterfield.counter c
  JOIN pg_catalog.pg_attribute pa
    ON pa.attrelid OPERATOR(pg_catalog.=) c.parent
   AND pa.attnum OPERATOR(pg_catalog.=) c.counter_attnum
 ORDER BY c.id;
