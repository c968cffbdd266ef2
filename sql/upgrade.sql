-- Upgrades: install the oldest version, count, update step by step, keep counting.
DROP EXTENSION counterfield;
CREATE EXTENSION counterfield VERSION '0.1';
CREATE FUNCTION up_big(int) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT $1 > 1';
CREATE TABLE up_parent (id int PRIMARY KEY, n int, tn int, big_n int);
CREATE TABLE up_child (id serial PRIMARY KEY, up_parent_id int REFERENCES up_parent,
                       size int DEFAULT 2);
INSERT INTO up_parent VALUES (1), (2);
SELECT counterfield.add_counter('up_parent', 'n', 'up_child');
SELECT counterfield.add_counter('up_parent', 'tn', 'up_child', flush => 'transaction');
SELECT counterfield.add_counter('up_parent', 'big_n', 'up_child', condition => 'up_big(size)');
INSERT INTO up_child (up_parent_id) VALUES (1), (1), (2);
SELECT extversion FROM pg_extension WHERE extname = 'counterfield';
ALTER EXTENSION counterfield UPDATE TO '0.2';
SELECT extversion FROM pg_extension WHERE extname = 'counterfield';
SELECT parent, counter_column, flush FROM counterfield.counters;
INSERT INTO up_child (up_parent_id) VALUES (2), (2);
UPDATE up_child SET up_parent_id = 1 WHERE id = 3;
SELECT * FROM up_parent ORDER BY id;
SELECT mismatches('up_parent', 'n', 'up_child', 'up_parent_id')
     + mismatches('up_parent', 'tn', 'up_child', 'up_parent_id')
     + mismatches('up_parent', 'big_n', 'up_child', 'up_parent_id', cond => 'size > 1') AS mismatches;

-- 0.3 fills in the portable definition of the counters that exist.
ALTER EXTENSION counterfield UPDATE TO '0.3';
SELECT extversion FROM pg_extension WHERE extname = 'counterfield';
SELECT counter_column, fk_columns, parent_columns, condition_sql,
       condition_system = (pg_control_system()).system_identifier AS stamped
  FROM counterfield.counter ORDER BY id;
SELECT parent, counter_column, condition, flush FROM counterfield.counters;
INSERT INTO up_child (up_parent_id, size) VALUES (2, 1), (2, 5);
DELETE FROM up_child WHERE id = 1;
ALTER TABLE up_child RENAME COLUMN size TO weight;
UPDATE up_child SET weight = 0 WHERE id = 2;
SELECT * FROM up_parent ORDER BY id;
SELECT mismatches('up_parent', 'n', 'up_child', 'up_parent_id')
     + mismatches('up_parent', 'tn', 'up_child', 'up_parent_id')
     + mismatches('up_parent', 'big_n', 'up_child', 'up_parent_id', cond => 'weight > 1') AS mismatches;
SELECT condition FROM counterfield.counters WHERE counter_column = 'big_n';
-- The update made the child's triggers depend on the condition's function.
DROP FUNCTION up_big(int);
DROP TABLE up_child, up_parent;
DROP FUNCTION up_big(int);

-- 0.4 drops condition_text, which read a node tree from its caller, and
-- keeps the catalog's trigger functions from the public.
CREATE TABLE up4_parent (id int PRIMARY KEY, n int);
CREATE TABLE up4_child (id serial PRIMARY KEY, up4_parent_id int REFERENCES up4_parent, size int);
INSERT INTO up4_parent VALUES (1), (2);
SELECT counterfield.add_counter('up4_parent', 'n', 'up4_child', condition => 'size > 1');
INSERT INTO up4_child (up4_parent_id, size) VALUES (1, 2), (1, 0), (2, 5);
SELECT counterfield.condition_text(condition, child) FROM counterfield.counter;
SELECT counterfield.condition_text('{VAR :varno 1 :varattno 999 :vartype 23}', 'up4_child');
-- a child with an inheritance child, counted across the update
CREATE TABLE up4_base (id int, up4_parent_id int);
CREATE TABLE up4_derived (extra int) INHERITS (up4_base);
ALTER TABLE up4_parent ADD COLUMN m int;
SELECT counterfield.add_counter('up4_parent', 'm', 'up4_base', fk_columns => '{up4_parent_id}');
INSERT INTO up4_derived VALUES (1, 1, 0), (2, 2, 0);
SELECT id, m FROM up4_parent ORDER BY id;
ALTER EXTENSION counterfield UPDATE TO '0.4';
SELECT extversion FROM pg_extension WHERE extname = 'counterfield';
SELECT count(*) AS condition_text FROM pg_proc WHERE proname = 'condition_text';
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public
  FROM pg_proc p WHERE p.pronamespace = 'counterfield'::regnamespace ORDER BY 1;
SELECT parent, counter_column, condition FROM counterfield.counters;
INSERT INTO up4_child (up4_parent_id, size) VALUES (2, 3), (1, 1);
UPDATE up4_child SET size = 9 WHERE size = 0;
SELECT * FROM counterfield.verify('up4_parent', 'n');
SELECT mismatches('up4_parent', 'n', 'up4_child', 'up4_parent_id', cond => 'size > 1') AS mismatches;
-- its counts stay exact, and the inheriting table has the child triggers
SELECT id, m FROM up4_parent ORDER BY id;
INSERT INTO up4_derived VALUES (3, 1, 0);
SELECT mismatches('up4_parent', 'm', 'up4_base', 'up4_parent_id') AS mismatches;
SELECT tgrelid::regclass, count(*) FROM pg_trigger
 WHERE tgname LIKE '%counterfield%' AND tgrelid::regclass::text LIKE 'up4%' GROUP BY 1 ORDER BY 1;
DROP TABLE up4_child, up4_derived, up4_base, up4_parent;

-- 0.5 gives the parent's guards names that sort after the parent's other
-- triggers: a trigger that changes a key column fires before them.  The
-- guards get the names 0.4 gave them, as its library placed them.
CREATE TABLE up5_tag (code text PRIMARY KEY, n int);
CREATE TABLE up5_tagging (id serial, code text);
CREATE INDEX ON up5_tagging (code);
CREATE TABLE up5_part (id int PRIMARY KEY, n int) PARTITION BY RANGE (id);
CREATE TABLE up5_part_1 PARTITION OF up5_part FOR VALUES FROM (0) TO (100);
CREATE TABLE up5_item (id serial, up5_part_id int REFERENCES up5_part);
CREATE INDEX ON up5_item (up5_part_id);
SELECT counterfield.add_counter('up5_tag', 'n', 'up5_tagging',
                                fk_columns => '{code}', parent_columns => '{code}');
SELECT counterfield.add_counter('up5_part', 'n', 'up5_item');
ALTER TRIGGER zzz_counterfield_guard_insert ON up5_tag RENAME TO counterfield_guard_insert;
ALTER TRIGGER zzz_counterfield_guard_update ON up5_tag RENAME TO counterfield_guard_update;
ALTER TRIGGER zzz_counterfield_guard_insert ON up5_part RENAME TO counterfield_guard_insert;
ALTER TRIGGER zzz_counterfield_guard_update ON up5_part RENAME TO counterfield_guard_update;
SELECT tgrelid::regclass, tgname FROM pg_trigger
 WHERE tgname LIKE '%guard%' AND tgrelid::regclass::text LIKE 'up5%' ORDER BY 1, 2;
CREATE FUNCTION up5_lower() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.code := lower(NEW.code); RETURN NEW; END $$;
CREATE TRIGGER normalize_code BEFORE INSERT OR UPDATE ON up5_tag
  FOR EACH ROW EXECUTE FUNCTION up5_lower();
INSERT INTO up5_tagging (code) VALUES ('red'), ('red'), ('blue');
-- a trigger of the user's that has a guard's new name stops the update
CREATE TRIGGER zzz_counterfield_guard_update BEFORE UPDATE ON up5_tag
  FOR EACH ROW EXECUTE FUNCTION up5_lower();
ALTER EXTENSION counterfield UPDATE TO '0.5';
ALTER TRIGGER zzz_counterfield_guard_update ON up5_tag RENAME TO lower_code_update;
ALTER EXTENSION counterfield UPDATE TO '0.5';
SELECT extversion FROM pg_extension WHERE extname = 'counterfield';
SELECT tgrelid::regclass, tgname FROM pg_trigger
 WHERE tgname LIKE '%guard%' AND tgrelid::regclass::text LIKE 'up5%' ORDER BY 1, 2;
INSERT INTO up5_tag VALUES ('RED', 7), ('Green', 7);
UPDATE up5_tag SET code = 'BLUE' WHERE code = 'green';
INSERT INTO up5_part VALUES (1, 7);
INSERT INTO up5_item (up5_part_id) VALUES (1), (1);
SELECT * FROM up5_tag ORDER BY code;
SELECT * FROM up5_part ORDER BY id;
SELECT mismatches('up5_tag', 'n', 'up5_tagging', 'code', 'code')
     + mismatches('up5_part', 'n', 'up5_item', 'up5_part_id') AS mismatches;
-- a guard that a dump of 0.4 restores under its former name is renamed
DROP TRIGGER zzz_counterfield_guard_insert ON up5_tag;
CREATE TRIGGER counterfield_guard_insert BEFORE INSERT ON up5_tag
  FOR EACH ROW EXECUTE FUNCTION counterfield.parent_trigger();
SELECT tgname FROM pg_trigger WHERE tgrelid = 'up5_tag'::regclass AND tgname LIKE '%guard%'
 ORDER BY 1;
INSERT INTO up5_tagging (code) VALUES ('yellow');
INSERT INTO up5_tag VALUES ('YELLOW', 7);
SELECT * FROM up5_tag ORDER BY code;
DROP TABLE up5_tagging, up5_tag, up5_item, up5_part;
DROP FUNCTION up5_lower();

-- 0.6 adds deferred counters; before the update they are refused.
CREATE TABLE up6_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, dn int);
CREATE TABLE up6_child (id serial PRIMARY KEY, up6_parent_id int REFERENCES up6_parent);
INSERT INTO up6_parent VALUES (1), (2);
SELECT counterfield.add_counter('up6_parent', 'n', 'up6_child');
SELECT counterfield.add_counter('up6_parent', 'dn', 'up6_child', flush => 'deferred');
INSERT INTO up6_child (up6_parent_id) VALUES (1), (2), (2);
ALTER EXTENSION counterfield UPDATE TO '0.6';
SELECT extversion FROM pg_extension WHERE extname = 'counterfield';
SELECT counterfield.add_counter('up6_parent', 'dn', 'up6_child', flush => 'deferred');
INSERT INTO up6_child (up6_parent_id) VALUES (1);
SELECT * FROM up6_parent ORDER BY id;
SELECT counterfield.fold('up6_parent');
SELECT * FROM up6_parent ORDER BY id;
SELECT mismatches('up6_parent', 'n', 'up6_child', 'up6_parent_id')
     + mismatches('up6_parent', 'dn', 'up6_child', 'up6_parent_id') AS mismatches;
DROP TABLE up6_child, up6_parent;

-- 0.7 adds sums; before the update they are refused, and verify() reports
-- bigint values.  The update keeps every counter, makes verify() report
-- numeric values and shows the sum column in the counters view.
CREATE TABLE up7_parent (id int PRIMARY KEY, n int DEFAULT 0,
                         total numeric(12,2) NOT NULL DEFAULT 0);
CREATE TABLE up7_child (id serial PRIMARY KEY, up7_parent_id int REFERENCES up7_parent,
                        price numeric(8,2));
INSERT INTO up7_parent VALUES (1), (2);
SELECT counterfield.add_counter('up7_parent', 'n', 'up7_child');
SELECT counterfield.add_counter('up7_parent', 'total', 'up7_child', sum_column => 'price');
INSERT INTO up7_child (up7_parent_id, price) VALUES (1, 1.50), (2, 2.25), (2, NULL);
SET counterfield.enabled = off;
INSERT INTO up7_child (up7_parent_id) VALUES (1);
RESET counterfield.enabled;
SELECT *, pg_typeof(stored) FROM counterfield.verify('up7_parent');
SELECT counterfield.reinit('up7_parent', 'n');
ALTER EXTENSION counterfield UPDATE TO '0.7';
SELECT extversion FROM pg_extension WHERE extname = 'counterfield';
SELECT counter_column, sum_column FROM counterfield.counters
 WHERE parent = 'up7_parent'::regclass ORDER BY id;
SELECT counterfield.add_counter('up7_parent', 'total', 'up7_child', sum_column => 'price');
-- and counters through intermediate tables
CREATE TABLE up7_top (id int PRIMARY KEY, n int);
ALTER TABLE up7_parent ADD COLUMN up7_top_id int REFERENCES up7_top;
INSERT INTO up7_top VALUES (1), (2);
UPDATE up7_parent SET up7_top_id = id;
SELECT counterfield.add_counter('up7_top', 'n', 'up7_child', through => '{up7_parent}');
UPDATE up7_parent SET up7_top_id = 1;
SELECT id, n, (SELECT count(*) FROM up7_child c JOIN up7_parent p ON p.id = c.up7_parent_id
                WHERE p.up7_top_id = t.id) AS truth FROM up7_top t ORDER BY id;
INSERT INTO up7_child (up7_parent_id, price) VALUES (1, 0.25);
UPDATE up7_child SET price = price * 2;
SELECT * FROM up7_parent ORDER BY id;
SET counterfield.enabled = off;
INSERT INTO up7_child (up7_parent_id, price) VALUES (1, 10.00);
RESET counterfield.enabled;
SELECT * FROM counterfield.verify('up7_parent') ORDER BY counter_column;
SELECT counterfield.reinit('up7_parent', 'n'), counterfield.reinit('up7_parent', 'total');
SELECT * FROM counterfield.verify('up7_parent');
SELECT mismatches('up7_parent', 'n', 'up7_child', 'up7_parent_id') AS mismatches,
       (SELECT count(*) FROM up7_parent p
         WHERE p.total <> (SELECT COALESCE(sum(price), 0) FROM up7_child c
                            WHERE c.up7_parent_id = p.id)) AS sum_mismatches;
-- the row written while counting was off is counted by reinit
SELECT counterfield.reinit('up7_top', 'n');
SELECT id, n, (SELECT count(*) FROM up7_child c JOIN up7_parent p ON p.id = c.up7_parent_id
                WHERE p.up7_top_id = t.id) AS truth FROM up7_top t ORDER BY id;
DROP TABLE up7_child, up7_parent, up7_top;
