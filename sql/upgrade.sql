-- Upgrades: install the oldest version, count, update step by step, keep counting.
DROP EXTENSION counterfield;
CREATE EXTENSION counterfield VERSION '0.1';
CREATE TABLE up_parent (id int PRIMARY KEY, n int, tn int);
CREATE TABLE up_child (id serial PRIMARY KEY, up_parent_id int REFERENCES up_parent);
INSERT INTO up_parent VALUES (1), (2);
SELECT counterfield.add_counter('up_parent', 'n', 'up_child');
SELECT counterfield.add_counter('up_parent', 'tn', 'up_child', flush => 'transaction');
INSERT INTO up_child (up_parent_id) VALUES (1), (1), (2);
SELECT extversion FROM pg_extension WHERE extname = 'counterfield';
ALTER EXTENSION counterfield UPDATE TO '0.2';
SELECT extversion FROM pg_extension WHERE extname = 'counterfield';
SELECT parent, counter_column, flush FROM counterfield.counters;
INSERT INTO up_child (up_parent_id) VALUES (2), (2);
UPDATE up_child SET up_parent_id = 1 WHERE id = 3;
SELECT * FROM up_parent ORDER BY id;
SELECT mismatches('up_parent', 'n', 'up_child', 'up_parent_id')
     + mismatches('up_parent', 'tn', 'up_child', 'up_parent_id') AS mismatches;
DROP TABLE up_child, up_parent;
