/* counterfield--0.5--0.6.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION counterfield UPDATE TO '0.6'" to load this file. \quit

-- Deferred counters: writers record their deltas instead of updating the
-- parent row, and fold() applies them later.
ALTER TABLE counterfield.counter DROP CONSTRAINT counter_flush_check;
ALTER TABLE counterfield.counter ADD CONSTRAINT counter_flush_check
    CHECK (flush OPERATOR(pg_catalog.=) ANY (ARRAY['statement', 'transaction', 'deferred']));

-- The deltas of deferred counters not yet folded into their parents, one
-- row per counter, parent key and writing statement.  The key is kept as
-- the text of each key column, written and read with fixed output settings,
-- so that one table holds keys of every type; key_hash is the key's hash
-- by its type's own hash functions, to find the rows of one key (0 for key
-- types whose hashes hash OIDs, which a restore changes).  The rows
-- are part of the writing transaction: crash-safe, and rolled back with
-- it.  Only counterfield writes and reads it, as the extension's owner.
CREATE TABLE counterfield.ledger (
    counter_id  integer NOT NULL,
    key_hash    integer NOT NULL,
    key         text[] NOT NULL,
    delta       bigint NOT NULL
);
CREATE INDEX ledger_key ON counterfield.ledger (counter_id, key_hash);
COMMENT ON TABLE counterfield.ledger IS
    'counterfield''s deltas of deferred counters not yet folded; read them with counterfield.unfolded()';
REVOKE ALL ON counterfield.ledger FROM PUBLIC;
-- Folding deletes rows, which a publication FOR ALL TABLES refuses on a
-- table without a replica identity.  Only with wal_level = logical does
-- this write more.
ALTER TABLE counterfield.ledger REPLICA IDENTITY FULL;

-- A dump keeps the unfolded deltas, and a restore brings them back unfolded.
SELECT pg_catalog.pg_extension_config_dump('counterfield.ledger', '');

CREATE FUNCTION counterfield.fold(
    parent          pg_catalog.regclass DEFAULT NULL,
    counter_column  name DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'counterfield_fold'
LANGUAGE C VOLATILE;

CREATE FUNCTION counterfield.unfolded(
    parent          pg_catalog.regclass DEFAULT NULL,
    counter_column  name DEFAULT NULL)
RETURNS TABLE(parent pg_catalog.regclass, counter_column name, parent_key text,
              delta numeric)
AS 'MODULE_PATHNAME', 'counterfield_unfolded'
LANGUAGE C VOLATILE ROWS 100;
