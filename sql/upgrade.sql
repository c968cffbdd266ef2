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
