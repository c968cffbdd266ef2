-- Portable definitions: every counter carries column names and its condition
-- as schema-qualified SQL, kept current by DDL, and resolved again whenever a
-- catalog row is inserted (add_counter, or a restore loading the catalog).
CREATE SCHEMA pt_fn;
CREATE TYPE pt_state AS ENUM ('open', 'closed');
CREATE FUNCTION pt_fn.heavy(int) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT $1 > 10';
CREATE TABLE pt_parent (id int PRIMARY KEY, gone int, n int, heavy_n int, open_n int);
CREATE TABLE pt_child (id serial PRIMARY KEY, junk text, pt_parent_id int REFERENCES pt_parent,
                       weight int, state pt_state);
ALTER TABLE pt_parent DROP COLUMN gone;
ALTER TABLE pt_child DROP COLUMN junk;
INSERT INTO pt_parent (id) SELECT g FROM generate_series(1, 5) g;
INSERT INTO pt_child (pt_parent_id, weight, state)
  SELECT 1 + g % 5, g, CASE WHEN g % 2 = 0 THEN 'open'::pt_state ELSE 'closed' END
  FROM generate_series(1, 40) g;
SELECT counterfield.add_counter('pt_parent', 'n', 'pt_child');
SELECT counterfield.add_counter('pt_parent', 'heavy_n', 'pt_child', condition => 'pt_fn.heavy(weight)');
SELECT counterfield.add_counter('pt_parent', 'open_n', 'pt_child', condition => $$state = 'open'$$);
CREATE VIEW pt_truth AS
SELECT mismatches('pt_parent', 'n', 'pt_child', 'pt_parent_id')
     + mismatches('pt_parent', 'heavy_n', 'pt_child', 'pt_parent_id', cond => 'weight > 10')
     + mismatches('pt_parent', 'open_n', 'pt_child', 'pt_parent_id', cond => $$state::text = 'open'$$)
       AS mismatches;
SELECT * FROM pt_truth;

-- The catalog row spells out the definition; numbers match the names.
CREATE VIEW pt_catalog AS
SELECT counter_column, fk_columns, parent_columns, condition_sql,
       counter_attnum = (SELECT attnum FROM pg_attribute
                          WHERE attrelid = parent AND attname = counter_column) AS numbers_match
  FROM counterfield.counter WHERE parent = 'pt_parent'::regclass ORDER BY id;
SELECT * FROM pt_catalog;

-- Renames of columns, of the function's schema and function, and of an enum
-- label reach the catalog; counting goes on.
ALTER TABLE pt_parent RENAME COLUMN n TO child_count;
ALTER TABLE pt_child RENAME COLUMN pt_parent_id TO owner_id;
ALTER TABLE pt_child RENAME COLUMN weight TO kilos;
ALTER SCHEMA pt_fn RENAME TO pt_rules;
ALTER FUNCTION pt_rules.heavy(int) RENAME TO is_heavy;
ALTER TYPE pt_state RENAME VALUE 'open' TO 'active';
SELECT * FROM pt_catalog;
SELECT counter_column, fk_columns, parent_columns, condition FROM counterfield.counters
 WHERE parent = 'pt_parent'::regclass;
INSERT INTO pt_child (owner_id, kilos, state) VALUES (2, 50, 'active'), (3, 1, 'closed');
UPDATE pt_child SET kilos = 5 WHERE id = 20;
SELECT mismatches('pt_parent', 'child_count', 'pt_child', 'owner_id')
     + mismatches('pt_parent', 'heavy_n', 'pt_child', 'owner_id', cond => 'kilos > 10')
     + mismatches('pt_parent', 'open_n', 'pt_child', 'owner_id', cond => $$state::text = 'active'$$)
       AS mismatches;

-- DDL that renames nothing counterfield spells out leaves the catalog rows
-- untouched, so no backend reloads its definitions.
CREATE TEMP TABLE pt_xmin AS SELECT id, xmin::text AS x FROM counterfield.counter;
CREATE TABLE pt_unrelated (a int);
ALTER TABLE pt_unrelated RENAME COLUMN a TO b;
ALTER TABLE pt_child ADD COLUMN note text;
CREATE INDEX ON pt_child (kilos);
SELECT count(*) AS rewritten FROM counterfield.counter c JOIN pt_xmin USING (id)
 WHERE c.xmin::text <> pt_xmin.x;

-- A restore inserts catalog rows whose column numbers may be wrong (a plain
-- dump renumbers columns after dropped ones) and whose condition tree names
-- OIDs of another database: the names and the condition text win.
CREATE TEMP TABLE pt_saved AS SELECT * FROM counterfield.counter WHERE parent = 'pt_parent'::regclass;
UPDATE pt_saved SET counter_attnum = counter_attnum - 1, fk_attnums = '{1}', parent_attnums = '{9}',
                    condition = CASE WHEN condition IS NOT NULL THEN '{not a tree' END,
                    condition_system = 1;
DELETE FROM counterfield.counter WHERE parent = 'pt_parent'::regclass;
INSERT INTO counterfield.counter SELECT * FROM pt_saved;
SELECT * FROM pt_catalog;
SELECT count(*) AS foreign_trees FROM counterfield.counter WHERE condition_system = 1;
SELECT counterfield.reinit('pt_parent', c) FROM unnest('{child_count,heavy_n,open_n}'::name[]) c;
INSERT INTO pt_child (owner_id, kilos, state) VALUES (4, 70, 'active'), (4, 2, 'active');
DELETE FROM pt_child WHERE id % 9 = 0;
SELECT mismatches('pt_parent', 'child_count', 'pt_child', 'owner_id')
     + mismatches('pt_parent', 'heavy_n', 'pt_child', 'owner_id', cond => 'kilos > 10')
     + mismatches('pt_parent', 'open_n', 'pt_child', 'owner_id', cond => $$state::text = 'active'$$)
       AS mismatches;

-- A name that no longer resolves is refused with the usual error.
UPDATE pt_saved SET counter_column = 'no_such_column';
INSERT INTO counterfield.counter SELECT * FROM pt_saved WHERE counter_column = 'no_such_column' LIMIT 1;

-- After pg_upgrade, trees come from another cluster (another stamp): they
-- are not read; the condition is parsed from its text, and the next DDL
-- rebuilds and stamps the trees.
UPDATE counterfield.counter SET condition = '{not a tree', condition_system = 1
 WHERE condition IS NOT NULL AND parent = 'pt_parent'::regclass;
INSERT INTO pt_child (owner_id, kilos, state) VALUES (5, 99, 'active'), (1, 3, 'closed');
UPDATE pt_child SET owner_id = 2 WHERE owner_id = 1;
SELECT mismatches('pt_parent', 'child_count', 'pt_child', 'owner_id')
     + mismatches('pt_parent', 'heavy_n', 'pt_child', 'owner_id', cond => 'kilos > 10')
     + mismatches('pt_parent', 'open_n', 'pt_child', 'owner_id', cond => $$state::text = 'active'$$)
       AS mismatches;
ALTER TABLE pt_child RENAME COLUMN kilos TO weight;
SELECT count(*) AS foreign_trees FROM counterfield.counter WHERE condition_system = 1;
SELECT * FROM pt_catalog;
INSERT INTO pt_child (owner_id, weight, state) VALUES (3, 40, 'active');
SELECT mismatches('pt_parent', 'child_count', 'pt_child', 'owner_id')
     + mismatches('pt_parent', 'heavy_n', 'pt_child', 'owner_id', cond => 'weight > 10')
     + mismatches('pt_parent', 'open_n', 'pt_child', 'owner_id', cond => $$state::text = 'active'$$)
       AS mismatches;
SELECT * FROM counterfield.verify('pt_parent');

-- The child's triggers depend on what conditions use, as an index depends
-- on what its predicate uses: a function cannot be dropped from under a
-- counter, nor a condition column's type changed.
DROP FUNCTION pt_rules.is_heavy(int);
ALTER TABLE pt_child ALTER COLUMN weight TYPE bigint;

-- Dropping a column that a condition uses removes that counter alone; the
-- others keep counting.
ALTER TABLE pt_child DROP COLUMN weight;
SELECT counter_column FROM pt_catalog;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'pt_child'::regclass AND NOT tgisinternal ORDER BY 1;
INSERT INTO pt_child (owner_id, state) VALUES (1, 'active'), (2, 'closed');
UPDATE pt_child SET owner_id = 5 WHERE id % 4 = 0;
SELECT mismatches('pt_parent', 'child_count', 'pt_child', 'owner_id')
     + mismatches('pt_parent', 'open_n', 'pt_child', 'owner_id', cond => $$state::text = 'active'$$)
       AS mismatches;

-- With CASCADE, dropping a function a condition calls removes that counter
-- alone.
CREATE FUNCTION pt_rules.is_open(pt_state) RETURNS boolean IMMUTABLE LANGUAGE sql AS $$SELECT $1 = 'active'$$;
SELECT counterfield.add_counter('pt_parent', 'heavy_n', 'pt_child', condition => 'pt_rules.is_open(state)');
SELECT counterfield.drop_counter('pt_parent', 'open_n');
SELECT counterfield.add_counter('pt_parent', 'open_n', 'pt_child', condition => $$state = 'active'$$);
DROP FUNCTION pt_rules.is_open(pt_state) CASCADE;
SELECT counter_column, condition_sql FROM pt_catalog;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'pt_child'::regclass AND NOT tgisinternal ORDER BY 1;
INSERT INTO pt_child (owner_id, state) VALUES (3, 'active'), (3, 'closed');
DELETE FROM pt_child WHERE id % 5 = 0;
SELECT mismatches('pt_parent', 'child_count', 'pt_child', 'owner_id')
     + mismatches('pt_parent', 'open_n', 'pt_child', 'owner_id', cond => $$state::text = 'active'$$)
       AS mismatches;

-- Once no counter uses a function, it drops without CASCADE.
CREATE FUNCTION pt_rules.is_closed(pt_state) RETURNS boolean IMMUTABLE LANGUAGE sql AS $$SELECT $1 = 'closed'$$;
SELECT counterfield.add_counter('pt_parent', 'heavy_n', 'pt_child', condition => 'pt_rules.is_closed(state)');
SELECT counterfield.drop_counter('pt_parent', 'heavy_n');
DROP FUNCTION pt_rules.is_closed(pt_state);

DROP VIEW pt_truth, pt_catalog;
DROP TABLE pt_child, pt_parent, pt_unrelated;
DROP FUNCTION pt_rules.is_heavy(int);
DROP SCHEMA pt_rules;
DROP TYPE pt_state;

-- On a partitioned child too, dropping a condition column removes that
-- counter alone and the others keep counting.
CREATE TABLE ptp (id int PRIMARY KEY, n int, m int);
CREATE TABLE ptc (id int, ptp_id int REFERENCES ptp, flag boolean, w int) PARTITION BY RANGE (id);
CREATE TABLE ptc1 PARTITION OF ptc FOR VALUES FROM (0) TO (100);
CREATE TABLE ptc2 PARTITION OF ptc FOR VALUES FROM (100) TO (200);
INSERT INTO ptp VALUES (1), (2);
SELECT counterfield.add_counter('ptp', 'n', 'ptc', condition => 'flag');
SELECT counterfield.add_counter('ptp', 'm', 'ptc');
INSERT INTO ptc VALUES (1, 1, true, 1), (150, 2, false, 2), (151, 1, true, 3);
ALTER TABLE ptc ALTER COLUMN flag TYPE int USING flag::int;
ALTER TABLE ptc DROP COLUMN flag;
SELECT counter_column FROM counterfield.counters WHERE parent = 'ptp'::regclass;
INSERT INTO ptc VALUES (2, 2, 5), (152, 2, 6);
UPDATE ptc SET id = id + 100, ptp_id = 1 WHERE id = 2;
SELECT mismatches('ptp', 'm', 'ptc', 'ptp_id') AS mismatches;
SELECT * FROM counterfield.verify('ptp');
DROP TABLE ptc, ptp;
